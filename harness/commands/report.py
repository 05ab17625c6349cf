"""`callproof report BUNDLE [--key PATH] [--lang en|zh]`.

Rebuilds summary.json from the records (after a killed run, or on another
machine), then the report files, manifest, SHA256SUMS and signature.
Exit 0 when the bundle is written; the run's verdict is in the report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from callproof.harness.errors import ExitCode


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, metavar="BUNDLE", help="a run's output folder")
    parser.add_argument(
        "--key", type=Path, metavar="PATH", help="signing key (default: the per-user key, made on first use)"
    )
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="report language (default en)")


def main(args: argparse.Namespace) -> int:
    from callproof.harness.verdict.summary import summarize, write_summary
    from callproof.reports import layout
    from callproof.reports.bundle import finalize
    from callproof.reports.errors import ReportInputError
    from callproof.reports.model import read_calls

    if not args.bundle.is_dir():
        raise ReportInputError(f"{args.bundle} is not a folder")
    if not (args.bundle / layout.CALLS).is_file():
        raise ReportInputError(f"{args.bundle} has no {layout.CALLS}; it is not a callproof output folder")
    read_calls(args.bundle)  # a damaged calls.jsonl is named in one sentence before anything is rewritten
    summary = summarize(args.bundle)
    write_summary(args.bundle, summary)
    result = finalize(args.bundle, key_path=args.key, lang=args.lang)
    print(
        f"callproof report: wrote {layout.REPORT_HTML}, {layout.REPORT_PDF}, {layout.JUNIT} and "
        f"{layout.MANIFEST} in {args.bundle}; {result.files} files signed by {result.signer_fingerprint}"
    )
    return ExitCode.PASS
