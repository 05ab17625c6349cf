"""junit.xml: one test case per SLA line, so any CI system shows pass and fail natively.

Mapping (the JUnit XML schema's own meanings):
    PASS          a passed test case
    FAIL          <failure>: the system under test missed the threshold
    INCONCLUSIVE  <skipped>: too few calls to decide; the message says what would settle it
    INVALID       <error>: the load generator, not the target, was the bottleneck

The verifier never marks a line INVALID: an invalid generator makes the run's
verdict INVALID. Such a run, and a summary with no SLA line (no thresholds to
judge by), get one more test case for the run's verdict, so CI never shows an
INVALID run or an empty suite green. Verdicts are written as summary.json writes
them (callproof.reports.summary_file.Verdict).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from callproof.reports import text
from callproof.reports.model import Summary
from callproof.reports.summary_file import SlaLine, Verdict

_OUTCOME_TAG = {Verdict.PASS: None, Verdict.FAIL: "failure", Verdict.INCONCLUSIVE: "skipped", Verdict.INVALID: "error"}


def _message(line: SlaLine) -> str:
    observed = text.with_unit(line.observed, line.unit) if line.observed is not None else "not measured"
    words = f"{line.verdict}: observed {observed}, threshold {text.threshold(line)}, 95% CI {text.interval(line)}"
    return f"{words}; {line.note}" if line.note else words


def render(summary: Summary) -> bytes:
    suite_name = f"callproof {summary.run.scenario_name}" if summary.run.scenario_name else "callproof"
    cases: list[tuple[str, str, str | None, str]] = []  # name, classname, outcome tag, message
    for line in summary.sla:
        cases.append((line.name, f"callproof.sla.{line.metric}", _OUTCOME_TAG[line.verdict], _message(line)))
    if not summary.sla or summary.verdict is Verdict.INVALID:
        reason = summary.verdict_reason or "the summary holds no SLA line"
        tag = "error" if summary.verdict is None else _OUTCOME_TAG[summary.verdict]
        cases.append(("run verdict", "callproof.run", tag, f"{summary.verdict or 'NO VERDICT'}: {reason}"))

    suites = ET.Element("testsuites", name=suite_name)
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=suite_name,
        tests=str(len(cases)),
        failures=str(sum(tag == "failure" for _, _, tag, _ in cases)),
        errors=str(sum(tag == "error" for _, _, tag, _ in cases)),
        skipped=str(sum(tag == "skipped" for _, _, tag, _ in cases)),
        time="0",
        **({"timestamp": summary.run.start_utc} if summary.run.start_utc else {}),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", summary.verdict or "NONE"),
        ("verdict_reason", summary.verdict_reason),
        ("interrupted", str(summary.run.interrupted).lower()),
        ("seed", "" if summary.run.seed is None else str(summary.run.seed)),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    for name, classname, tag, message in cases:
        case = ET.SubElement(suite, "testcase", name=name, classname=classname, time="0")
        if tag is not None:
            ET.SubElement(case, tag, message=message, type=tag).text = message
        else:
            ET.SubElement(case, "system-out").text = message
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"
