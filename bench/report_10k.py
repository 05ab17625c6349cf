"""Benchmark: build the signed report bundle of a synthetic 10,000-call run (goal: under 10 s).

    .venv/bin/python bench/report_10k.py [--calls 10000] [--repeat 3]

Builds the run folder once (tests/reports/synthetic_run.py: real CallRecords,
probes, events, summary), then times `callproof.reports.bundle.finalize` in English and
in Chinese, each a fresh copy of the folder, and prints the figures with the
time of each stage. Wall-clock on a shared 2-core machine: read as a ceiling.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' synthetic run builder, tests.reports.synthetic_run

from callproof.reports import bundle, html, i18n, junit, keys, model, pdf, plots  # noqa: E402
from tests.reports.synthetic_run import make_run  # noqa: E402


def stages(folder: Path, lang: str) -> dict[str, float]:
    """Seconds per stage of one report build (no signing: finalize's total includes it)."""
    out: dict[str, float] = {}
    start = time.perf_counter()
    data = model.load(folder)
    out["read records"] = time.perf_counter() - start
    tr = i18n.Translator(lang)
    cjk = i18n.find_cjk_font()
    families = [cjk.family, "DejaVu Sans"] if (cjk and lang == "zh") else ["DejaVu Sans"]
    start = time.perf_counter()
    figures = plots.render_all(data, tr, families)
    out["plots"] = time.perf_counter() - start
    start = time.perf_counter()
    html.render(data, figures, tr, version="bench", signer_fingerprint="SHA256:bench")
    out["html"] = time.perf_counter() - start
    start = time.perf_counter()
    pdf.render(
        data,
        figures,
        tr,
        version="bench",
        signer_fingerprint="SHA256:bench",
        cjk=cjk,
        cjk_bold=i18n.find_cjk_font(bold=True),
    )
    out["pdf"] = time.perf_counter() - start
    start = time.perf_counter()
    junit.render(data.summary)
    out["junit"] = time.perf_counter() - start
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callproof-bench-") as tmp:
        work = Path(tmp)
        source = work / "run"
        start = time.perf_counter()
        make_run(source, calls=args.calls)
        print(
            f"synthetic run: {args.calls} calls, built in {time.perf_counter() - start:.1f} s "
            f"(calls.jsonl {(source / 'calls.jsonl').stat().st_size / 1e6:.1f} MB)"
        )
        key = work / "key"
        keys.generate(key)
        i18n.find_cjk_font()  # matplotlib's font cache is built once per machine, not per report
        for lang in ("en", "zh"):
            totals = []
            for attempt in range(args.repeat):
                folder = Path(shutil.copytree(source, work / f"{lang}-{attempt}"))
                start = time.perf_counter()
                result = bundle.finalize(folder, key_path=key, lang=lang, notify=lambda m: None)
                totals.append(time.perf_counter() - start)
            detail = stages(work / f"{lang}-0", lang)
            parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in detail.items())
            print(
                f"finalize --lang {lang}: median {statistics.median(totals):.2f} s, max {max(totals):.2f} s "
                f"over {args.repeat} runs ({result.files} files signed); stages: {parts}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
