"""Check a bundle: its signature against a trusted key, every file against SHA256SUMS, and
manifest.json against both.

Only a key the reader already trusts (--pubkey, or --allowed-signers with --signer)
makes a bundle authentic. The key inside the signature and the one manifest.json
names are information: anyone can re-sign a changed bundle with their own key, so
without a trusted key the result is at best "intact, signer unknown".

A signature proves who signed the bytes, not that the bytes agree with each other, so
the manifest is checked too: it lists exactly the files SHA256SUMS lists, with the
same digests and their real sizes; it names the key that made the signature; its run
facts are summary.json's and its engine is engine.json's. (That summary.json is what
the records give is checked by `callproof verify`, which recomputes it with the
verifier: callproof.harness.verdict.summary.disagreement.)

Every file is read through callproof.reports.bundle_files: regular files only, no
link followed, bounded. Names are kept as the bytes say; `describe` escapes them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

from callproof.reports import bundle_files, layout, manifest, sign, summary_file
from callproof.reports.errors import ReportInputError
from callproof.reports.keys import TrustedKey
from callproof.reports.terminal import escape


@dataclasses.dataclass(frozen=True)
class FileProblem:
    path: str
    problem: str  # "changed" | "missing" | "added" | "not a regular file" | "outside the bundle"


@dataclasses.dataclass(frozen=True)
class BundleCheck:
    signature_problem: str | None  # None when the signature verifies over SHA256SUMS
    signer_fingerprint: str | None  # from the signature, when it parses
    trusted_as: str | None  # the trusted key's principal when the signer is trusted
    trusted_where: str  # where that trust comes from (an allowed_signers line), or ""
    trusted_key_given: bool
    sums_problem: str | None  # SHA256SUMS missing or malformed
    files: tuple[FileProblem, ...]
    files_checked: int
    facts: tuple[str, ...] = ()  # manifest.json or summary.json disagreeing with the files, one sentence each

    @property
    def intact(self) -> bool:
        return self.signature_problem is None and self.sums_problem is None and not self.files and not self.facts

    @property
    def ok(self) -> bool:
        """Intact and consistent, and signed by a key the reader trusts: the only result that passes."""
        return self.intact and self.trusted_as is not None


def check_bundle(folder: Path, trusted: Sequence[TrustedKey] | None) -> BundleCheck:
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportInputError(f"{escape(str(folder))} is not a folder")
    present, others = manifest.walk(folder)
    sums_bytes, sums_problem = _read(folder, layout.SHA256SUMS)
    signature, signature_problem = _read(folder, layout.SIGNATURE)
    signer_key = None
    fingerprint = trusted_as = None
    where = ""
    if signature is not None:
        signature_problem, signer_key, fingerprint, trusted_key = _check_signature(sums_bytes, signature, trusted)
        if trusted_key is not None:
            trusted_as, where = trusted_key.principal, trusted_key.where
    listed: dict[str, str] = {}
    if sums_bytes is not None:  # else sums_problem says why
        try:
            listed = manifest.parse_sums(sums_bytes)
        except manifest.SumsError as exc:
            sums_problem = f"{layout.SHA256SUMS} is malformed: {exc}"

    problems = [FileProblem(p, "not a regular file") for p in others]
    sizes: dict[str, int] = {}
    for path, expected in listed.items():
        try:
            actual, sizes[path] = bundle_files.digest(folder, path)
        except FileNotFoundError:
            problems.append(FileProblem(path, "missing"))
            continue
        except ReportInputError:
            if path not in others:
                problems.append(FileProblem(path, "outside the bundle" if _outside(path) else "not a regular file"))
            continue
        if actual != expected:
            problems.append(FileProblem(path, "changed"))
    if sums_problem is None:
        problems += [FileProblem(p, "added") for p in present if p not in listed]
    facts: list[str] = []
    if sums_problem is None:
        facts = manifest_problems(folder, listed, sizes, signer_key)
    return BundleCheck(
        signature_problem=signature_problem,
        signer_fingerprint=fingerprint,
        trusted_as=trusted_as,
        trusted_where=where,
        trusted_key_given=trusted is not None,
        sums_problem=sums_problem,
        files=tuple(sorted(problems, key=lambda p: p.path)),
        files_checked=len(listed),
        facts=tuple(facts),
    )


def _outside(path: str) -> bool:
    return path.startswith("/") or ".." in path.split("/")


def _read(folder: Path, name: str) -> tuple[bytes | None, str | None]:
    """SHA256SUMS or its signature, or None and why not."""
    try:
        data = bundle_files.read_bytes(folder, name, layout.MAX_FILE_BYTES[name], missing_ok=True)
    except ReportInputError as exc:
        return None, str(exc)
    if data is None:
        if name == layout.SIGNATURE:
            return None, f"the bundle is unsigned: {layout.SIGNATURE} is missing"
        return None, f"{layout.SHA256SUMS} is missing: nothing to check the files against"
    return data, None


def _check_signature(
    sums_bytes: bytes | None, armored: bytes, trusted: Sequence[TrustedKey] | None
) -> tuple[str | None, Any, str | None, TrustedKey | None]:
    """(problem, signer's key, its fingerprint, the trusted key it matched) for SHA256SUMS.sig."""
    try:
        parsed = sign.parse(armored)
    except sign.SignatureError as exc:
        return f"{layout.SIGNATURE} is not a valid signature: {exc}", None, None, None
    fingerprint = sign.fingerprint(parsed.public_key)
    if armored != parsed.canonical.encode("ascii"):
        # Same signature, other bytes (line breaks, padding bits): the file was still changed.
        return f"{layout.SIGNATURE} was altered: it is not the signature as written", None, fingerprint, None
    if sums_bytes is None:
        return f"{layout.SIGNATURE} signs {layout.SHA256SUMS}, which is missing", None, fingerprint, None
    try:
        sign.verify(sums_bytes, armored, layout.SIGNATURE_NAMESPACE)
    except sign.SignatureError as exc:
        problem = f"{layout.SIGNATURE} does not verify {layout.SHA256SUMS} ({exc}): one of them changed after signing"
        return problem, None, fingerprint, None
    if trusted is None:
        return None, parsed.public_key, fingerprint, None
    signer_blob = sign.public_key_blob(parsed.public_key)
    for candidate in trusted:
        if sign.public_key_blob(candidate.key) == signer_blob:
            return None, parsed.public_key, fingerprint, candidate
    return f"signed by another key ({fingerprint}), not by the trusted key", parsed.public_key, fingerprint, None


def manifest_problems(folder: Path, listed: dict[str, str], sizes: dict[str, int], signer_key: Any) -> list[str]:
    """Where manifest.json disagrees with SHA256SUMS, the files, the signature, summary.json or engine.json."""
    if layout.MANIFEST not in listed:
        return [f"{layout.MANIFEST} is not listed in {layout.SHA256SUMS}: a callproof bundle always has one"]
    try:
        facts = _json_object(folder, layout.MANIFEST)
    except ReportInputError as exc:
        return [str(exc)]
    if facts is None:
        return []  # missing: named as a missing file already
    problems: list[str] = []

    def wrong(key: str, sentence: str) -> None:
        problems.append(f"{layout.MANIFEST}: {key} {sentence}")

    if facts.get("format") != manifest.FORMAT:
        wrong("format", f"is {_shown(facts.get('format'))}, not {manifest.FORMAT!r}")
        return problems
    files = facts.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        wrong("files", "is not a list of files")
        return problems
    expected = {p: sha for p, sha in listed.items() if p != layout.MANIFEST}
    named: set[str] = set()
    for index, entry in enumerate(files):
        path = entry.get("path")
        if not isinstance(path, str) or path not in expected:
            wrong(f"files[{index}].path", f"is {_shown(path)}, which {layout.SHA256SUMS} does not list")
            continue
        if path in named:
            wrong(f"files[{index}].path", f"lists {_shown(path)} a second time")
        named.add(path)
        if entry.get("sha256") != expected[path]:
            wrong(f"files[{index}].sha256", f"of {_shown(path)} is not the digest {layout.SHA256SUMS} lists")
        if path in sizes and entry.get("size") != sizes[path]:
            wrong(f"files[{index}].size", f"of {_shown(path)} says {_shown(entry.get('size'))} bytes; "
                                          f"the file holds {sizes[path]}")
    for path in sorted(set(expected) - named):
        wrong("files", f"does not list {_shown(path)}, which {layout.SHA256SUMS} lists")

    signer = _object(facts, "signer")
    if signer_key is not None:
        if signer.get("fingerprint") != sign.fingerprint(signer_key):
            wrong("signer.fingerprint", f"is {_shown(signer.get('fingerprint'))}, but {layout.SIGNATURE} was made by "
                                        f"{sign.fingerprint(signer_key)}")
        line = signer.get("public_key")
        if not isinstance(line, str) or line.split()[1:2] != sign.public_key_line(signer_key).split()[1:2]:
            wrong("signer.public_key", f"is not the key that made {layout.SIGNATURE}")
    problems += _agrees_with(folder, facts)
    return problems


def _agrees_with(folder: Path, facts: dict[str, Any]) -> list[str]:
    """manifest.json's run facts against summary.json's, and its engine against engine.json."""
    problems = []
    run = _object(facts, "run")
    try:
        summary = _json_object(folder, layout.SUMMARY)
        engine = _json_object(folder, layout.ENGINE)
    except ReportInputError as exc:
        return [str(exc)]
    if summary is not None:
        written = _object(summary, "run")
        says = {"scenario_name": written.get("scenario_name"), "start_utc": written.get("start_utc"),
                "end_utc": written.get("end_utc"), "interrupted": written.get("interrupted"),
                "seed": written.get("seed"), "verdict": summary.get("verdict")}
        for key, value in says.items():
            if run.get(key) != value or key not in run:
                problems.append(f"{layout.MANIFEST}: run.{key} says {_shown(run.get(key))}, "
                                f"{layout.SUMMARY} says {_shown(value)}")
    if facts.get("engine") != engine:
        problems.append(f"{layout.MANIFEST}: engine is not what {layout.ENGINE} holds")
    return problems


def _object(facts: dict[str, Any], key: str) -> dict[str, Any]:
    """facts[key] when it is an object, else an empty one (every comparison then names the key)."""
    value = facts.get(key)
    return value if isinstance(value, dict) else {}


def _json_object(folder: Path, name: str) -> dict[str, Any] | None:
    raw = bundle_files.read_bytes(folder, name, layout.MAX_FILE_BYTES[name], missing_ok=True)
    if raw is None:
        return None

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    try:
        data = json.loads(raw, parse_constant=refuse)
    except (ValueError, RecursionError):
        raise ReportInputError(f"{name} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{name} does not hold a JSON object")
    unfit = summary_file.json_problem(data)
    if unfit is not None:
        raise ReportInputError(f"{name}: {unfit}")
    return data


def _shown(value: Any, limit: int = 80) -> str:
    """A value from a file, as JSON (control characters escaped), shortened."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(result: BundleCheck, folder: Path) -> list[str]:
    """The lines `callproof verify` prints: every problem, then one verdict line; nothing unescaped."""
    lines = [f"{p.problem}: {escape(p.path)}" for p in result.files]
    if result.sums_problem:
        lines.append(result.sums_problem)
    lines += result.facts
    if result.signature_problem:
        lines.append(result.signature_problem)
    elif result.trusted_as is not None:
        source = f", {result.trusted_where}" if result.trusted_where else ""
        lines.append(f"signature: good, by {result.signer_fingerprint} (trusted as {result.trusted_as}{source})")
    else:
        lines.append(
            f"signature: made by {result.signer_fingerprint}, but the signer is not authenticated: "
            f"pass --pubkey FILE, or --allowed-signers FILE --signer NAME, with a key you trust"
        )
    shown_folder = escape(str(folder))
    if result.ok:
        lines.append(f"OK: {shown_folder} is intact ({result.files_checked} files) and signed by a trusted key")
    elif result.files:
        count = len(result.files)
        lines.append(f"FAIL: {shown_folder}: {count} file{'s differ' if count != 1 else ' differs'} from "
                     f"{layout.SHA256SUMS}")
    elif result.facts and result.signature_problem is None and result.sums_problem is None:
        count = len(result.facts)
        lines.append(f"FAIL: {shown_folder}: its files match {layout.SHA256SUMS}, but {count} "
                     f"fact{'s' if count != 1 else ''} in them disagree")
    elif result.intact:
        lines.append(
            f"FAIL: {shown_folder}: intact ({result.files_checked} files match {layout.SHA256SUMS}), "
            "but the signer is not authenticated"
        )
    else:
        lines.append(f"FAIL: {shown_folder}: the signature does not hold")
    # Problems quote names and values from the bundle: nothing reaches the terminal raw.
    return [escape(line, backslash=False) for line in lines]
