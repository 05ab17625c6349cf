"""report.pdf: the content of report.html, on A4 pages, for attaching to a contract.

Written with fpdf2 (py-pdf/fpdf2): pure Python, actively maintained, and it
embeds a subset of an OpenType font with CFF outlines from inside a .ttc
collection as a proper CIDFontType0 font with a ToUnicode map. Debian's Noto
Sans CJK is exactly such a file. matplotlib's PDF backend was the other
candidate; it embeds that font too, but declares its CFF outlines as TrueType
(matplotlib issue #20870: poppler warns, strict readers may refuse), and a
contract attachment must open everywhere. Chinese text stays real text, so it
can be searched and copied.

English uses DejaVu Sans, which ships inside matplotlib (a dependency), so the
PDF never depends on what fonts a machine happens to have.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace, TTFFont

from callproof.reports import text
from callproof.reports.i18n import STOCK_VERIFY, CjkFont, Translator
from callproof.reports.model import ReportData, WorstCall
from callproof.reports.plots import Plot
from callproof.reports.summary_file import Verdict

VERDICT_COLOURS = {  # text colour, fill colour: the HTML's palette
    Verdict.PASS: ((30, 123, 52), (230, 244, 234)),
    Verdict.FAIL: ((179, 38, 30), (252, 232, 230)),
    Verdict.INCONCLUSIVE: ((138, 90, 0), (255, 244, 214)),
    Verdict.INVALID: ((91, 44, 131), (239, 229, 247)),
    None: ((68, 68, 68), (238, 238, 238)),
}
BODY = "body"  # the font family name registered in the document


class _Document(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self._footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(BODY, size=7)
        self.set_text_color(110, 110, 110)
        self.cell(0, 5, f"{self._footer_text}    {self.page_no()}/{{nb}}", align="C")


def _register_fonts(pdf: FPDF, tr: Translator, cjk: CjkFont | None, cjk_bold: CjkFont | None,
                    data: ReportData) -> None:
    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf.add_font("mono", "", ttf / "DejaVuSansMono.ttf")
    if tr.lang == "zh":
        assert cjk is not None, "Chinese PDFs need a CJK font; bundle falls back to English without one"
        pdf.add_font(BODY, "", cjk.path, collection_font_number=cjk.index)
        bold = cjk_bold or cjk
        pdf.add_font(BODY, "B", bold.path, collection_font_number=bold.index)
        pdf.add_font("latin", "", ttf / "DejaVuSans.ttf")
        pdf.set_fallback_fonts(["latin"])
    else:
        pdf.add_font(BODY, "", ttf / "DejaVuSans.ttf")
        pdf.add_font(BODY, "B", ttf / "DejaVuSans-Bold.ttf")
        # Call-IDs and reason phrases are the far end's text. The CJK font takes 0.8 s to read,
        # so it is the fallback only for a report whose text has a character DejaVu Sans lacks.
        body = pdf.fonts[BODY]
        assert isinstance(body, TTFFont), "registered from a .ttf file just above"
        if cjk is not None and any(ord(c) not in body.cmap for c in _characters(data)):
            pdf.add_font("cjk", "", cjk.path, collection_font_number=cjk.index)
            pdf.set_fallback_fonts(["cjk"])


def _characters(value: object) -> set[str]:
    """Every character of every string in a report's data (dataclasses, mappings, sequences)."""
    if isinstance(value, str):
        return set(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = [getattr(value, field.name) for field in dataclasses.fields(value)]
    elif isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    elif not isinstance(value, (list, tuple, set, frozenset)):
        return set()
    found: set[str] = set()
    for item in value:
        found |= _characters(item)
    return found


def render(
    data: ReportData,
    plots: tuple[Plot, ...],
    tr: Translator,
    *,
    version: str,
    signer_fingerprint: str,
    cjk: CjkFont | None,
    cjk_bold: CjkFont | None = None,
) -> bytes:
    pdf = _Document(f"callproof {version} · {tr('title')}")
    pdf.set_title(tr("title"))
    pdf.set_creator(f"callproof {version}")
    pdf.set_auto_page_break(True, margin=15)
    _register_fonts(pdf, tr, cjk, cjk_bold, data)
    pdf.add_page()
    summary, run = data.summary, data.summary.run

    pdf.set_font(BODY, "B", 16)
    pdf.multi_cell(0, 8, tr("title"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(BODY, size=9)
    facts = []
    if run.scenario_name:
        facts.append(f"{tr('scenario')}: {run.scenario_name}")
    facts.append(f"{tr('run_window')}: {run.start_utc or '–'} – {run.end_utc or '–'}")
    if run.seed is not None:
        facts.append(f"{tr('seed')}: {run.seed}")
    pdf.multi_cell(0, 5, " · ".join(facts), new_x="LMARGIN", new_y="NEXT")
    if run.interrupted:
        _banner(pdf, tr("interrupted"), *VERDICT_COLOURS[Verdict.INCONCLUSIVE])

    # The verdict, coloured as in the HTML.
    pdf.ln(2)
    colour, fill = VERDICT_COLOURS[summary.verdict]
    word = summary.verdict or tr("no_verdict")
    meaning = f" ({tr('verdict_' + summary.verdict)})" if summary.verdict else ""
    reason = tr.sentence(summary.verdict_reason) if summary.verdict else tr("no_verdict_reason")
    pdf.set_draw_color(*colour)
    pdf.set_fill_color(*fill)
    pdf.set_text_color(*colour)
    pdf.set_font(BODY, "B", 15)
    pdf.multi_cell(0, 9, f"{tr('verdict')}: {word}{meaning}", border="LTR", fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(BODY, size=9)
    pdf.multi_cell(0, 5, reason or " ", border="LBR", fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(180, 180, 180)
    pdf.set_fill_color(255, 255, 255)

    _heading(pdf, tr("sla_lines"))
    if summary.sla:
        pdf.set_font(BODY, size=8)
        with pdf.table(
            col_widths=(38, 25, 25, 30, 26, 46),
            text_align="LEFT",
            line_height=4.5,
            headings_style=FontFace(emphasis="BOLD", fill_color=(243, 243, 243)),
        ) as table:
            table.row([tr("sla_name"), tr("observed"), tr("threshold"), tr("ci95"), tr("line_verdict"), tr("note")])
            for line in summary.sla:
                line_colour, line_fill = VERDICT_COLOURS[line.verdict]
                row = table.row()
                row.cell(line.name if line.metric == line.name else f"{line.name}\n{line.metric}")
                row.cell(text.with_unit(line.observed, line.unit) if line.observed is not None else tr("not_measured"))
                row.cell(text.threshold(line))
                row.cell(text.interval(line))
                row.cell(line.verdict, style=FontFace(emphasis="BOLD", color=line_colour, fill_color=line_fill))
                row.cell(tr.sentence(line.note))
    else:
        _paragraph(pdf, tr("no_sla"))
    _paragraph(pdf, f"{tr('generator')}: {text.generator_line(summary.generator, tr)}")

    queue = text.queue_rows(summary, tr)
    if queue:
        _heading(pdf, tr("queue"))
        _paragraph(pdf, tr("queue_by_marker") if summary.queue and summary.queue.by_agent else tr("queue_by_200"))
        _simple_table(pdf, queue, (60, 110), heading=False)
    _heading(pdf, tr("calls"))
    keys = ("attempted", "answered", "abandoned", "failed")
    _simple_table(pdf, [[tr("answered_200" if k == "answered" else k) for k in keys],
                        [str(summary.calls[k]) for k in keys]], (30, 30, 30, 30))
    _simple_table(
        pdf,
        [
            ["", "p50", "p95", "p99"],
            [tr("setup_delay")] + [text.with_unit(summary.setup_ms[p], "ms") for p in ("p50", "p95", "p99")],
            [tr("answer_delay")] + [text.with_unit(summary.answer_ms[p], "ms") for p in ("p50", "p95", "p99")],
        ],
        (70, 30, 30, 30),
    )
    if summary.timing_resolution_ms is not None:
        _paragraph(pdf, f"{tr('timing_resolution')}: {text.number(summary.timing_resolution_ms)} ms")
    pesq = text.pesq_line(summary, tr)
    if pesq:
        _paragraph(pdf, pesq)
    hearing = text.hearing_line(summary, tr)
    if hearing:
        _paragraph(pdf, hearing)
    legs = text.leg_rows(summary, tr)
    if legs:
        _paragraph(pdf, tr("control_leg"), bold=True)
        _paragraph(pdf, tr("control_leg_note"))
        _simple_table(pdf, legs, (40, 24, 24, 30, 28, 28))
    failures = [(reason, count) for reason, count in sorted(summary.failures.items()) if count]
    if failures:
        _paragraph(pdf, tr("failures_by_reason"), bold=True)
        rows = [[r, str(c), text.rejected_codes(summary) if r == "rejected" else ""] for r, c in failures]
        _simple_table(pdf, rows, (50, 20, 90), heading=False)

    _heading(pdf, tr("availability"))
    availability = (
        text.with_unit(summary.availability_pct, "%") if summary.availability_pct is not None else tr("not_measured")
    )
    rto = text.with_unit(summary.rto_s, "s") if summary.rto_s is not None else tr("not_measured")
    if summary.rto_resolution_s is not None:
        rto += f" ({tr('resolution')} {text.number(summary.rto_resolution_s)} s)"
    _paragraph(pdf, f"{tr('availability')}: {availability} · {tr('rto')}: {rto}")
    if summary.outages:
        _simple_table(
            pdf,
            [[tr("outage_start"), tr("outage_end"), tr("outage_cause")]]
            + [[o.start_utc, o.end_utc or tr("still_down"), o.cause] for o in summary.outages],
            (55, 55, 80),
        )
    else:
        _paragraph(pdf, tr("no_outages"))

    if pdf.will_page_break(100):  # keep the heading with its first plot
        pdf.add_page()
    _heading(pdf, tr("plots"))
    for plot in plots:
        if pdf.will_page_break(86):
            pdf.add_page()
        pdf.set_font(BODY, "B", 9)
        pdf.cell(0, 5, plot.title, new_x="LMARGIN", new_y="NEXT")
        pdf.image(io.BytesIO(plot.png), w=pdf.epw)
        pdf.ln(2)

    pdf.add_page(orientation="L")
    _heading(pdf, tr("worst_calls"))
    _paragraph(pdf, tr("lowest_mos"), bold=True)
    if data.lowest_mos:
        _calls_table(pdf, data.lowest_mos, tr)
    else:
        _paragraph(pdf, tr("no_mos"))
    _paragraph(pdf, tr("failed_calls"), bold=True)
    if data.failed_calls:
        _paragraph(
            pdf,
            tr(
                "failed_calls_shown",
                shown=len(data.failed_calls),
                total=data.failed_total,
                per_reason=data.failed_per_reason,
            ),
        )
        _calls_table(pdf, data.failed_calls, tr)
    else:
        _paragraph(pdf, tr("no_failed"))
    pdf.ln(4)
    _paragraph(pdf, tr("footer", version=version))
    pdf.set_font("mono", size=8)
    pdf.multi_cell(0, 4.5, STOCK_VERIFY, align="L", new_x="LMARGIN", new_y="NEXT")
    _paragraph(pdf, tr("footer_callproof"))
    _paragraph(pdf, f"{tr('signed_by')}: {signer_fingerprint}")
    return bytes(pdf.output())


def _heading(pdf: FPDF, title: str) -> None:
    pdf.ln(3)
    pdf.set_font(BODY, "B", 12)
    pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(BODY, size=9)


def _paragraph(pdf: FPDF, words: str, bold: bool = False) -> None:
    pdf.set_font(BODY, "B" if bold else "", 9)
    pdf.multi_cell(0, 5, words, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(BODY, size=9)


def _banner(pdf: FPDF, words: str, colour: tuple[int, int, int], fill: tuple[int, int, int]) -> None:
    pdf.set_fill_color(*fill)
    pdf.set_text_color(*colour)
    pdf.multi_cell(0, 6, words, fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_fill_color(255, 255, 255)


def _simple_table(pdf: FPDF, rows: list[list[str]], widths: tuple[int, ...], heading: bool = True) -> None:
    pdf.set_font(BODY, size=8)
    with pdf.table(
        col_widths=widths,
        width=sum(widths),
        align="LEFT",
        text_align="LEFT",
        line_height=4.5,
        first_row_as_headings=heading,
        headings_style=FontFace(emphasis="BOLD", fill_color=(243, 243, 243)),
    ) as table:
        for values in rows:
            table.row(values)
    pdf.ln(1)


def _calls_table(pdf: FPDF, calls: tuple[WorstCall, ...], tr: Translator) -> None:
    headings = [
        tr(k)
        for k in (
            "call_id",
            "invite_utc",
            "target",
            "outcome",
            "final",
            "setup_ms",
            "answer_ms",
            "duration_s",
            "mos_cqe",
            "jitter_ms",
            "loss_pct",
            "recording",
        )
    ]

    def two(value: float | None) -> str:
        return text.MISSING if value is None else f"{value:.2f}"

    rows = [headings] + [
        [
            call.call_id,
            call.invite_utc,
            call.target,
            call.outcome,
            f"{call.final_code} {call.final_reason}" if call.final_code is not None else call.final_reason,
            text.milliseconds(call.setup_ms),
            text.milliseconds(call.answer_ms),
            f"{call.duration_s:.1f}",
            two(call.mos_cqe),
            two(call.jitter_ms),
            two(call.loss_pct),
            call.recording or "",
        ]
        for call in calls
    ]
    pdf.set_font(BODY, size=6.5)
    with pdf.table(
        col_widths=(40, 30, 32, 20, 24, 14, 14, 13, 13, 13, 12, 42),
        text_align="LEFT",
        line_height=3.4,
        headings_style=FontFace(emphasis="BOLD", fill_color=(243, 243, 243)),
    ) as table:
        for values in rows:
            table.row(values)
    pdf.set_font(BODY, size=9)
    pdf.ln(2)
