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
import sys
from pathlib import Path
from typing import Callable

from callproof.reports import bundle_files, layout

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


def signing_key(folder: Path, key_path: Path | None, notify: Notify = notify_stderr) -> Path:
    """The key that will sign `folder`, checked now: readable, Ed25519, outside the folder.

    `callproof run` calls this before its first call, so a key that cannot sign
    never wastes a run; the per-user default key is made here on first use.
    """
    from callproof.reports import keys
    from callproof.reports.errors import ReportInputError

    key_path = Path(key_path) if key_path is not None else keys.ensure_default_key(notify)
    if key_path.resolve().is_relative_to(Path(folder).resolve()):
        raise ReportInputError(f"the signing key {key_path} is inside the bundle; keep keys outside it")
    keys.load_private(key_path)
    return key_path


def finalize(
    folder: Path, key_path: Path | None = None, lang: str = "en", notify: Notify = notify_stderr
) -> BundleResult:
    """Render the reports of `folder`, then write manifest, SHA256SUMS and signature."""
    # Imported here: `callproof run` imports this module at start; matplotlib and
    # fpdf load only when a report is built.
    from callproof.reports import html, i18n, junit, keys, manifest, model, pdf, plots, sign
    from callproof.reports.errors import ReportInputError

    folder = Path(folder)
    if not folder.is_dir():
        raise ReportInputError(f"{folder} is not a folder")
    if lang not in i18n.LANGUAGES:
        raise ReportInputError(f"language {lang!r} is not one of {', '.join(i18n.LANGUAGES)}")
    key_path = signing_key(folder, key_path, notify)
    private_key = keys.load_private(key_path)
    public_key = private_key.public_key()
    fingerprint = sign.fingerprint(public_key)
    bundle_files.check_folder(folder)  # regular files only: no link, FIFO or device to read or write through

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
    files = manifest.entries(folder, [p for p in listed if p != layout.MANIFEST])
    facts = manifest.build(
        data,
        files,
        tool_version=TOOL_VERSION,
        lang=lang,
        signer_public_key=sign.public_key_line(public_key),
        signer_fingerprint=fingerprint,
    )
    text = json.dumps(facts, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_file(folder, layout.MANIFEST, text.encode("utf-8"))

    listed, _ = manifest.walk(folder)
    sums = manifest.format_sums(manifest.entries(folder, listed))
    write_file(folder, layout.SHA256SUMS, sums)
    write_file(folder, layout.SIGNATURE, sign.sign(sums, private_key, layout.SIGNATURE_NAMESPACE).encode("ascii"))
    return BundleResult(folder, len(listed), fingerprint, key_path, lang, plot_tr.lang)


def write_file(folder: Path, name: str, content: bytes) -> None:
    """A new file `name` in `folder`, renamed into place (callproof.reports.bundle_files.write_new)."""
    bundle_files.write_new(folder, name, content)
