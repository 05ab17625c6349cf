"""Check a bundle: its signature against a trusted key, and every file against SHA256SUMS.

Only a key the reader already trusts (--pubkey, --allowed-signers) makes a
bundle authentic. The key inside the signature and the one manifest.json
names are information: anyone can re-sign a changed bundle with their own key,
so without a trusted key the result is at best "intact, signer unknown".
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

from callproof.reports import layout, manifest, sign
from callproof.reports.errors import ReportInputError
from callproof.reports.keys import TrustedKey


@dataclasses.dataclass(frozen=True)
class FileProblem:
    path: str
    problem: str  # "changed" | "missing" | "added" | "not a regular file" | "outside the bundle"


@dataclasses.dataclass(frozen=True)
class BundleCheck:
    signature_problem: str | None  # None when the signature verifies over SHA256SUMS
    signer_fingerprint: str | None  # from the signature, when it parses
    trusted_as: str | None  # the trusted key's principal when the signer is trusted
    trusted_key_given: bool
    sums_problem: str | None  # SHA256SUMS missing or malformed
    files: tuple[FileProblem, ...]
    files_checked: int

    @property
    def intact(self) -> bool:
        return self.signature_problem is None and self.sums_problem is None and not self.files

    @property
    def ok(self) -> bool:
        """Intact, and signed by a key the reader trusts: the only result that passes."""
        return self.intact and self.trusted_as is not None


def check_bundle(folder: Path, trusted: Sequence[TrustedKey] | None) -> BundleCheck:
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportInputError(f"{folder} is not a folder")
    sums_path, sig_path = folder / layout.SHA256SUMS, folder / layout.SIGNATURE
    sums_bytes = sums_path.read_bytes() if sums_path.is_file() and not sums_path.is_symlink() else None

    signature_problem, fingerprint, trusted_as = _check_signature(sums_bytes, sig_path, trusted)
    sums_problem = None
    listed: dict[str, str] = {}
    if sums_bytes is None:
        sums_problem = f"{layout.SHA256SUMS} is missing: nothing to check the files against"
    else:
        try:
            listed = manifest.parse_sums(sums_bytes)
        except manifest.SumsError as exc:
            sums_problem = f"{layout.SHA256SUMS} is malformed: {exc}"

    present, others = manifest.walk(folder)
    others += [name for name in manifest.UNLISTED if (folder / name).is_symlink()]
    problems = [FileProblem(p, "not a regular file") for p in others]
    root = folder.resolve()
    for path, expected in listed.items():
        target = folder / path
        if not target.resolve().is_relative_to(root) or Path(path).is_absolute():
            problems.append(FileProblem(path, "outside the bundle"))
        elif not target.is_file() or target.is_symlink():
            if path not in others:
                problems.append(FileProblem(path, "missing"))
        elif manifest.digest(target)[0] != expected:
            problems.append(FileProblem(path, "changed"))
    if sums_problem is None:
        problems += [FileProblem(p, "added") for p in present if p not in listed]
    return BundleCheck(
        signature_problem=signature_problem,
        signer_fingerprint=fingerprint,
        trusted_as=trusted_as,
        trusted_key_given=trusted is not None,
        sums_problem=sums_problem,
        files=tuple(sorted(problems, key=lambda p: p.path)),
        files_checked=len(listed),
    )


def _check_signature(
    sums_bytes: bytes | None, sig_path: Path, trusted: Sequence[TrustedKey] | None
) -> tuple[str | None, str | None, str | None]:
    """(problem, signer fingerprint, trusted principal) for SHA256SUMS.sig."""
    if not sig_path.is_file() or sig_path.is_symlink():
        return f"the bundle is unsigned: {layout.SIGNATURE} is missing", None, None
    armored = sig_path.read_bytes()
    try:
        parsed = sign.parse(armored)
    except sign.SignatureError as exc:
        return f"{layout.SIGNATURE} is not a valid signature: {exc}", None, None
    fingerprint = sign.fingerprint(parsed.public_key)
    if armored != parsed.canonical.encode("ascii"):
        # Same signature, other bytes (line breaks, padding bits): the file was still changed.
        return f"{layout.SIGNATURE} was altered: it is not the signature as written", fingerprint, None
    if sums_bytes is None:
        return f"{layout.SIGNATURE} signs {layout.SHA256SUMS}, which is missing", fingerprint, None
    try:
        sign.verify(sums_bytes, armored, layout.SIGNATURE_NAMESPACE)
    except sign.SignatureError as exc:
        return (
            (f"{layout.SIGNATURE} does not verify {layout.SHA256SUMS} ({exc}): one of them changed after signing"),
            fingerprint,
            None,
        )
    if trusted is None:
        return None, fingerprint, None
    signer_blob = sign.public_key_blob(parsed.public_key)
    for candidate in trusted:
        if sign.public_key_blob(candidate.key) == signer_blob:
            return None, fingerprint, candidate.principal
    return f"signed by another key ({fingerprint}), not by the trusted key", fingerprint, None


def describe(result: BundleCheck, folder: Path) -> list[str]:
    """The lines `callproof verify` prints: every problem, then one verdict line."""
    lines = [f"{p.problem}: {p.path}" for p in result.files]
    if result.sums_problem:
        lines.append(result.sums_problem)
    if result.signature_problem:
        lines.append(result.signature_problem)
    elif result.trusted_as is not None:
        lines.append(f"signature: good, by {result.signer_fingerprint} (trusted as {result.trusted_as})")
    else:
        lines.append(
            f"signature: made by {result.signer_fingerprint}, but the signer is not authenticated: "
            f"pass --pubkey FILE or --allowed-signers FILE with a key you trust"
        )
    if result.ok:
        lines.append(f"OK: {folder} is intact ({result.files_checked} files) and signed by a trusted key")
    elif result.files:
        count = len(result.files)
        lines.append(f"FAIL: {folder}: {count} file{'s' if count != 1 else ''} differ from {layout.SHA256SUMS}")
    elif result.intact:
        lines.append(
            f"FAIL: {folder}: intact ({result.files_checked} files match {layout.SHA256SUMS}), "
            "but the signer is not authenticated"
        )
    else:
        lines.append(f"FAIL: {folder}: the signature does not hold")
    return lines
