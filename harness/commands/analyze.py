"""`callproof analyze`: measure the RTP streams of a pcap/pcapng capture.

Prints one row per stream, or with --json a list of objects whose first keys are
src, src_port, dst, dst_port, ssrc, payload_type, packets, lost, lost_rfc3550,
duplicates, reordered, max_delta_ms, mean_jitter_ms, max_jitter_ms, mos_cqe
(docs/analyzing-captures.md defines each). A bad capture exits 2 in one sentence.
"""

from __future__ import annotations

import argparse

from callproof.harness.errors import ExitCode

JSON_SLICE = 2048  # reports turned into JSON text at a time


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per stream")
    parser.add_argument(
        "--no-concealment",
        dest="concealment",
        action="store_false",
        help="rate MOS-CQE for a receiver without packet-loss concealment (G.113 Bpl without PLC)",
    )


def main(args: argparse.Namespace) -> int:
    import itertools
    import os
    import sys

    if "numpy" not in sys.modules:
        # Nothing here multiplies matrices: OpenBLAS's thread pool would only cost its start (60 ms of CPU).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    from callproof.rtp_analysis.capture import analyze_capture, iter_capture

    if args.json:
        # A slice of streams at a time: 100,000 reports and their JSON objects never all live at once.
        streamed = iter_capture(args.capture, concealment=args.concealment)
        opened = False
        while batch := list(itertools.islice(streamed, JSON_SLICE)):
            text = json_text([r.to_json() for r in batch])
            sys.stdout.write(("[\n" if not opened else ",\n") + text[2:-2])
            opened = True
        print("\n]" if opened else "[]")
        return ExitCode.PASS
    reports = analyze_capture(args.capture, concealment=args.concealment)
    print(_table(reports, args.concealment))
    return ExitCode.PASS


def json_text(objects: list[dict]) -> str:
    """json.dumps(objects, indent=2, allow_nan=False) for a list of flat objects (scalar values), byte for byte.

    With an indent, json runs its pure-Python encoder: 13 s for 100,000 streams. Its C
    encoder writes the same text given the indented separators, except around each
    object's braces; a literal newline never occurs inside a JSON string, so the object
    boundaries are found by text and reshaped.
    """
    import json

    if not objects:
        return "[]"
    flat = json.JSONEncoder(separators=(",\n    ", ": "), allow_nan=False).encode(objects)  # JSON has no NaN
    inner = flat[2:-2].replace("},\n    {", "\n  },\n  {\n    ")
    return "[\n  {\n    " + inner + "\n  }\n]"


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _table(reports: list, concealment: bool) -> str:
    from callproof.reports.terminal import escape

    if not reports:
        return "No RTP streams found."
    header = (
        "SOURCE", "DESTINATION", "SSRC", "PAYLOAD", "PACKETS", "LOST",
        "MAX DELTA ms", "MEAN JITTER ms", "MAX JITTER ms", "MOS-CQE",
    )  # fmt: skip
    rows = [header]
    notes = []
    for number, r in enumerate(reports, start=1):
        mos = f"{r.mos_cqe:.2f}" if r.mos_cqe is not None else f"- ({number})"
        if r.mos_cqe is None:
            notes.append(escape(f"({number}) no MOS-CQE: {r.mos_reason}.", backslash=False))
        rows.append(
            (
                _endpoint(r.src, r.src_port),
                _endpoint(r.dst, r.dst_port),
                f"0x{r.ssrc:08X}",
                escape(r.payload),  # names from the capture's SDP: another party's text
                str(r.packets),
                str(r.lost),
                f"{r.max_delta_ms:.3f}",
                f"{r.mean_jitter_ms:.3f}",
                f"{r.max_jitter_ms:.3f}",
                mos,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    left = {0, 1, 3}
    lines = [
        "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    lines.append("")
    lines.append(
        "Lost, deltas and jitter as Wireshark counts them; MOS-CQE per ITU-T G.107 with one-way delay = "
        "packetisation + RTCP RTT/2 where the capture shows one (jitter buffer unknown: an upper bound), "
        f"packet-loss concealment {'assumed' if concealment else 'not assumed'}."
    )
    lines.extend(notes)
    return "\n".join(lines)
