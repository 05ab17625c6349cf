"""`callproof report BUNDLE [--key PATH] [--lang en|zh]`.

Rebuilds summary.json from the records (after a killed run, or on another
machine), then the report files, manifest, SHA256SUMS and signature.
Exit 0 when the bundle is written; the run's verdict is in the report.

The bundle may come from another party: before anything is read or written, every
entry must be a regular file or a folder (no link, FIFO or device), and everything
is read and written through callproof.reports.bundle_files (no link followed, reads
capped, new files renamed into place). A refusal is one sentence, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from callproof.harness.errors import ExitCode


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, metavar="BUNDLE", help="a run's output folder")
    parser.add_argument(
        "--key", type=Path, metavar="PATH", help="signing key (default: the per-user key, made on first use)"
    )
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="report language (default en)")


def main(args: argparse.Namespace) -> int:
    from callproof.harness.verdict.summary import summarize, thresholds, write_summary
    from callproof.reports import bundle_files, layout
    from callproof.reports.bundle import finalize
    from callproof.reports.errors import ReportInputError
    from callproof.reports.model import read_calls
    from callproof.reports.terminal import escape

    if not args.bundle.is_dir():
        raise ReportInputError(f"{escape(str(args.bundle))} is not a folder")
    files = bundle_files.check_folder(args.bundle)  # before anything is read or written
    if layout.CALLS not in files:
        raise ReportInputError(f"{escape(str(args.bundle))} has no {layout.CALLS}; it is not a callproof output folder")
    read_calls(args.bundle)  # a damaged calls.jsonl is named in one sentence before anything is rewritten
    scenario, no_thresholds = thresholds(args.bundle)
    if scenario is None:
        print(f"callproof report: nothing judged, INCONCLUSIVE: {escape(no_thresholds, backslash=False)}",
              file=sys.stderr)
    summary = summarize(args.bundle, scenario)
    write_summary(args.bundle, summary)
    result = finalize(args.bundle, key_path=args.key, lang=args.lang)
    print(
        f"callproof report: wrote {layout.REPORT_HTML}, {layout.REPORT_PDF}, {layout.JUNIT} and "
        f"{layout.MANIFEST} in {escape(str(args.bundle))}; {result.files} files signed by {result.signer_fingerprint}"
    )
    return ExitCode.PASS
