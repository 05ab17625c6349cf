"""junit.xml: one test case per SLA line, telling a CI system what `callproof run`'s exit code tells.

Mapping, chosen so the suite is green (no failure, no error) exactly when the exit code is 0:
    PASS          a passed test case                                    exit 0 when every line passes
    FAIL          <failure type="FAIL">: the target missed the threshold    exit 1
    INCONCLUSIVE  <error type="INCONCLUSIVE">: the line could not be decided  exit 4
                  (too few calls, or not measured); the message says what would settle it
    INVALID       <error type="INVALID">: the load generator, not the target, was the bottleneck  exit 5

INCONCLUSIVE is an error, not <skipped>: a CI system counts skipped cases as green, while
the run exits 4 and the job fails; and it is not a <failure>, which would say the target
missed a threshold it may well meet. The verifier never marks a line INVALID: an invalid
generator makes the run's verdict INVALID. Such a run, and a summary with no SLA line (no
thresholds to judge by), get one more test case for the run's verdict, so CI never shows
an INVALID run or an empty suite green; a step of the run's end that failed
(summary.json's `harness_errors`, exit 3) gets an error case of its own. Verdicts are
written as summary.json writes them (callproof.reports.summary_file.Verdict).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from callproof.reports import text
from callproof.reports.model import Summary
from callproof.reports.summary_file import SlaLine, Verdict

_OUTCOME_TAG = {Verdict.PASS: None, Verdict.FAIL: "failure", Verdict.INCONCLUSIVE: "error", Verdict.INVALID: "error"}


def _message(line: SlaLine) -> str:
    observed = text.with_unit(line.observed, line.unit) if line.observed is not None else "not measured"
    words = f"{line.verdict}: observed {observed}, threshold {text.threshold(line)}, 95% CI {text.interval(line)}"
    return f"{words}; {line.note}" if line.note else words


def render(summary: Summary) -> bytes:
    suite_name = f"callproof {summary.run.scenario_name}" if summary.run.scenario_name else "callproof"
    # name, classname, outcome tag, its type (the verdict word), message
    cases: list[tuple[str, str, str | None, str, str]] = []
    for line in summary.sla:
        cases.append((line.name, f"callproof.sla.{line.metric}", _OUTCOME_TAG[line.verdict], str(line.verdict),
                      _message(line)))
    if not summary.sla or summary.verdict is Verdict.INVALID:
        reason = summary.verdict_reason or "the summary holds no SLA line"
        tag = "error" if summary.verdict is None else _OUTCOME_TAG[summary.verdict]
        word = str(summary.verdict or "NO VERDICT")
        cases.append(("run verdict", "callproof.run", tag, word, f"{word}: {reason}"))
    for problem in summary.harness_errors:
        cases.append((f"callproof: {problem['step']}", "callproof.run.harness", "error", "HARNESS_ERROR",
                      f"callproof itself failed {problem['step']}: {problem['message']}"))

    suites = ET.Element("testsuites", name=suite_name)
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=suite_name,
        tests=str(len(cases)),
        failures=str(sum(tag == "failure" for _, _, tag, _, _ in cases)),
        errors=str(sum(tag == "error" for _, _, tag, _, _ in cases)),
        skipped="0",
        time="0",
    )
    if summary.run.start_utc:
        suite.set("timestamp", summary.run.start_utc)
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", summary.verdict or "NONE"),
        ("verdict_reason", summary.verdict_reason),
        ("interrupted", str(summary.run.interrupted).lower()),
        ("seed", "" if summary.run.seed is None else str(summary.run.seed)),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    for name, classname, tag, kind, message in cases:
        case = ET.SubElement(suite, "testcase", name=name, classname=classname, time="0")
        if tag is not None:
            ET.SubElement(case, tag, message=message, type=kind).text = message
        else:
            ET.SubElement(case, "system-out").text = message
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"
