"""report.html: one self-contained page, readable offline.

At the top the verdict (`#verdict`, with `data-verdict`) and one coloured row
per SLA line (`tr.sla-line`, with `data-sla-name`): observed value, threshold
and 95% confidence interval. Then the numbers, the plots as data: URIs, and
the worst calls. No script, no external file, no web font: the page is the
evidence and must render the same in ten years.
"""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2

from callproof.reports import text
from callproof.reports.i18n import STOCK_VERIFY, Translator
from callproof.reports.model import ReportData
from callproof.reports.plots import Plot

_HTML_LANG = {"en": "en", "zh": "zh-Hans"}

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(data: ReportData, plots: tuple[Plot, ...], tr: Translator, *, version: str, signer_fingerprint: str) -> str:
    template = _environment.get_template("report.html.j2")
    return template.render(
        data=data,
        summary=data.summary,
        run=data.summary.run,
        plots=plots,
        tr=tr,
        html_lang=_HTML_LANG[tr.lang],
        version=version,
        signer_fingerprint=signer_fingerprint,
        stock_verify=STOCK_VERIFY,
        number=text.number,
        with_unit=text.with_unit,
        threshold=text.threshold,
        interval=text.interval,
        ms=text.milliseconds,
        generator_line=text.generator_line,
        leg_rows=text.leg_rows,
        pesq_line=text.pesq_line,
        hearing_line=text.hearing_line,
        queue_rows=text.queue_rows,
        rejected_codes_text=text.rejected_codes,
        png_base64=lambda plot: base64.b64encode(plot.png).decode("ascii"),
    )
