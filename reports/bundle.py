"""Turn a run's output folder into a signed, self-describing evidence bundle.

`finalize` is the one entry point (`callproof run` calls it at the end of a
run, `callproof report` after rebuilding the summary):

    1. read the documented files (callproof.reports.model.load)
    2. write report.html, report.pdf, junit.xml
    3. write manifest.json: every file's SHA-256 and size, tool, engine, Python, host, run
    4. write SHA256SUMS over every file (manifest.json included)
    5. write SHA256SUMS.sig: SSHSIG over SHA256SUMS, namespace "callproof-bundle"

Keys never enter the bundle: the signing key must live outside the folder,
and only the signer's public key is recorded, as information. Nothing here
reads the environment or the scenario's credentials into the bundle: the
report shows the summary and the call records, with any password removed
from SIP URIs.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from callproof.reports import bundle_files, layout

if TYPE_CHECKING:
    from callproof.reports.keys import SigningKey

Notify = Callable[[str], None]
TOOL_VERSION = importlib.metadata.version("callproof")  # one source: pyproject.toml


def notify_stderr(message: str) -> None:
    print(f"callproof: {message}", file=sys.stderr)


@dataclasses.dataclass(frozen=True)
class BundleResult:
    folder: Path
    files: int  # files listed in SHA256SUMS
    signer_fingerprint: str
    key_path: Path
    lang: str  # the report's language
    plot_lang: str  # the plots' and PDF's language ("en" when Chinese had no font)


def signing_key(folder: Path, key_path: Path | None, notify: Notify = notify_stderr) -> SigningKey:
    """The key that will sign `folder`, read once now: readable, Ed25519, outside the folder.

    `callproof run` calls this before its first call and before it starts any child
    process, so a key that cannot sign never wastes a run, and the run signs with what
    it read then whatever becomes of the file; the per-user default key is made here
    on first use.
    """
    from callproof.reports import keys
    from callproof.reports.errors import ReportInputError

    key = keys.open_signing_key(key_path, notify)
    if key.path.resolve().is_relative_to(Path(folder).resolve()):
        raise ReportInputError(f"the signing key {key.path} is inside the bundle; keep keys outside it")
    return key


def finalize(
    folder: Path, key_path: Path | None = None, lang: str = "en", notify: Notify = notify_stderr, *,
    key: SigningKey | None = None,
) -> BundleResult:
    """Render the reports of `folder`, then write manifest, SHA256SUMS and signature.

    `key`: a key read already (`callproof run` reads it before it starts any child);
    otherwise the key at `key_path`, or the per-user key. A folder holding the key's secret
    (a program of the run copied it there) is refused before anything is written.
    """
    # Imported here: `callproof run` imports this module at start; matplotlib and
    # fpdf load only when a report is built.
    from callproof.reports import html, i18n, junit, manifest, model, pdf, plots, sign
    from callproof.reports.errors import ReportInputError

    folder = Path(folder)
    if not folder.is_dir():
        raise ReportInputError(f"{folder} is not a folder")
    if lang not in i18n.LANGUAGES:
        raise ReportInputError(f"language {lang!r} is not one of {', '.join(i18n.LANGUAGES)}")
    if key is None:
        key = signing_key(folder, key_path, notify)
    elif key.path.resolve().is_relative_to(folder.resolve()):
        raise ReportInputError(f"the signing key {key.path} is inside the bundle; keep keys outside it")
    key_path = key.path
    private_key = key.private
    public_key = private_key.public_key()
    fingerprint = sign.fingerprint(public_key)
    files = bundle_files.check_folder(folder)  # regular files only: no link, FIFO or device to read or write through
    refuse_leaked_key(folder, files, key)
    refuse_files_being_written(folder, files)

    data = model.load(folder)  # bad input fails here, before anything is touched
    # A new signature is coming: the old one must not outlive a half-rewritten folder.
    for stale in (layout.SIGNATURE, layout.SHA256SUMS, layout.MANIFEST):
        bundle_files.remove(folder, stale)

    tr = i18n.Translator(lang)
    cjk = i18n.find_cjk_font()
    plot_tr = tr
    if lang == "zh" and cjk is None:
        notify(i18n.NO_CJK_FONT)
        plot_tr = i18n.Translator("en")
    families = [cjk.family, "DejaVu Sans"] if cjk and plot_tr.lang == "zh" else ["DejaVu Sans"]
    figures = plots.render_all(data, plot_tr, families)
    write_file(
        folder, layout.REPORT_HTML,
        html.render(data, figures, tr, version=TOOL_VERSION, signer_fingerprint=fingerprint).encode("utf-8"),
    )
    write_file(
        folder, layout.REPORT_PDF,
        pdf.render(
            data,
            figures,
            plot_tr,
            version=TOOL_VERSION,
            signer_fingerprint=fingerprint,
            cjk=cjk,
            cjk_bold=i18n.find_cjk_font(bold=True),
        ),
    )
    write_file(folder, layout.JUNIT, junit.render(data.summary))

    listed, _ = manifest.walk(folder)
    entries = manifest.entries(folder, [p for p in listed if p != layout.MANIFEST])
    facts = manifest.build(
        data,
        entries,
        tool_version=TOOL_VERSION,
        lang=lang,
        signer_public_key=sign.public_key_line(public_key),
        signer_fingerprint=fingerprint,
    )
    text = json.dumps(facts, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_file(folder, layout.MANIFEST, text.encode("utf-8"))

    listed, _ = manifest.walk(folder)
    before = _file_states(folder, listed)
    sums = manifest.format_sums(manifest.entries(folder, listed))
    changed = [name for name, state in _file_states(folder, listed).items() if before.get(name) != state]
    if changed:  # what was hashed is not what is there: sign nothing
        raise ReportInputError(f"{bundle_files.shown(folder, changed[0])} changed while callproof read it to sign "
                               "it; whatever writes it must stop first, then run `callproof report` again")
    refuse_files_being_written(folder, listed)
    write_file(folder, layout.SHA256SUMS, sums)
    write_file(folder, layout.SIGNATURE, sign.sign(sums, private_key, layout.SIGNATURE_NAMESPACE).encode("ascii"))
    return BundleResult(folder, len(listed), fingerprint, key_path, lang, plot_tr.lang)


def refuse_files_being_written(folder: Path, files: list[str]) -> None:
    """One sentence, and nothing signed, while a program still writes a file of the bundle (a dumpcap that
    outlived a killed run kept growing its capture after the bundle was signed: issue 14, section 4)."""
    from callproof.reports.errors import ReportInputError

    found = bundle_files.being_written(folder, files)
    if found is not None:
        name, pid = found
        raise ReportInputError(f"{bundle_files.shown(folder, name)} is still being written by process {pid}, so "
                               "callproof signs nothing yet: stop that process (a capture left running by an "
                               "interrupted run), then run `callproof report` again")


def _file_states(folder: Path, names: list[str]) -> dict[str, tuple[int, int]]:
    states = {}
    for name in names:
        facts = os.stat(folder / name, follow_symlinks=False)
        states[name] = (facts.st_size, facts.st_mtime_ns)
    return states


def refuse_leaked_key(folder: Path, files: list[str], key: SigningKey) -> None:
    """One sentence, and nothing signed, when a file of the bundle holds the signing key's secret."""
    from callproof.reports.errors import ReportInputError
    from callproof.reports.terminal import escape

    for name in files:
        if bundle_files.contains_any(folder, name, key.secret_forms):
            raise ReportInputError(
                f"{bundle_files.shown(folder, name)} holds the private signing key {escape(str(key.path))}, "
                "so callproof signs nothing with it: that key is no longer secret; make a new one "
                "(callproof keygen) and tell whoever trusts the old one to stop"
            )


def write_file(folder: Path, name: str, content: bytes) -> None:
    """A new file `name` in `folder`, renamed into place (callproof.reports.bundle_files.write_new)."""
    bundle_files.write_new(folder, name, content)
