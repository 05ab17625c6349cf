"""What the bundle says: manifest facts, JUnit cases, worst calls, numbers, and nothing secret."""

from __future__ import annotations

import collections
import json
import os
import platform
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from callproof.harness import __version__
from callproof.harness.verdict.summary import summarize, write_summary
from callproof.reports import bundle, keys, layout, manifest, model, sign, summary_file, text
from callproof.reports.check import check_bundle
from callproof.reports.errors import ReportInputError
from callproof.sip.uri import redact
from tests.cli import callproof
from tests.reports.synthetic_run import PASSWORD, make_run

# Its live tests run the CLI on files and load no pjsua2 (make test runs them once, in the built engine's pass).
pytestmark = pytest.mark.any_engine


def test_manifest_lists_every_file_and_the_facts_of_the_run(built_en, signing_key):
    folder, truth = built_en
    facts = json.loads((folder / layout.MANIFEST).read_text())
    listed = manifest.parse_sums((folder / layout.SHA256SUMS).read_bytes())
    assert [f["path"] for f in facts["files"]] == [p for p in listed if p != layout.MANIFEST]
    for entry in facts["files"]:
        assert entry["size"] == (folder / entry["path"]).stat().st_size
        assert entry["sha256"] == listed[entry["path"]]
    assert facts["tool"] == {"name": "callproof", "version": __version__}
    assert facts["python"]["version"] == platform.python_version()
    assert facts["host"]["cores"] == os.cpu_count()
    assert facts["host"]["os"] == "Linux"
    assert facts["engine"] == json.loads((folder / layout.ENGINE).read_text())
    assert facts["run"] == {
        "scenario_name": "synthetic-ivr",
        "start_utc": "2026-11-20T10:00:00.000000+00:00",
        "end_utc": "2026-11-20T10:01:00.000000+00:00",
        "interrupted": False,
        "seed": 7,
        "verdict": "FAIL",
    }
    public = keys.load_public(keys.public_path(signing_key))
    assert facts["signer"] == {
        "public_key": sign.public_key_line(public),
        "fingerprint": sign.fingerprint(public),
        "authenticates": False,
    }


def test_junit_has_one_case_per_sla_line(built_en):
    folder, truth = built_en
    lines = truth["summary"]["sla"]  # the verifier's, judged against scenario.yaml's thresholds
    assert {line["verdict"] for line in lines} == {"PASS", "FAIL", "INCONCLUSIVE"}  # every mapping is exercised
    suite = ET.parse(folder / layout.JUNIT).getroot().find("testsuite")
    count = collections.Counter(line["verdict"] for line in lines)
    # INCONCLUSIVE is an error, as the exit code (4) fails a CI job: never a green "skipped".
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": str(len(lines)),
        "failures": str(count["FAIL"]),
        "errors": str(count["INCONCLUSIVE"]),
        "skipped": "0",
    }
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [line["name"] for line in lines]
    tags = {"PASS": ["system-out"], "FAIL": ["failure"], "INCONCLUSIVE": ["error"]}
    assert {c.get("name"): [child.tag for child in c] for c in cases} == {
        line["name"]: tags[line["verdict"]] for line in lines
    }
    assert {c.get("name"): [child.get("type") for child in c if child.tag != "system-out"] for c in cases} == {
        line["name"]: [] if line["verdict"] == "PASS" else [line["verdict"]] for line in lines
    }
    isa = next(c for c in cases if c.get("name") == "isa").find("failure")
    note = next(line["note"] for line in lines if line["name"] == "isa")
    # 19 of 300 INVITEs ended in 503 or had no response (seed 7): 6.33333 %, Wilson [4.09169, 9.67913].
    assert isa.get("message") == f"FAIL: observed 6.33333 %, threshold ≤ 3 %, 95% CI [4.09169, 9.67913]; {note}"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["verdict"] == "FAIL" and props["seed"] == "7"


def test_junit_shows_an_invalid_run_and_a_run_without_lines_as_errors(tmp_path):
    from callproof.reports import junit

    make_run(tmp_path, calls=40)
    # An engine process died with 3 calls in it: the generator was the bottleneck, the run INVALID.
    with open(tmp_path / layout.EVENTS, "a") as events:
        events.write(json.dumps({"at_utc": "2026-11-20T10:01:00.000000+00:00", "kind": "health", "lost": 3}) + "\n")
    summary = summarize(tmp_path)
    assert summary["verdict"] == "INVALID" and {line["verdict"] for line in summary["sla"]} <= {"PASS", "FAIL",
                                                                                                 "INCONCLUSIVE"}
    suite = ET.fromstring(junit.render(model.parse_summary(summary, tmp_path))).find("testsuite")
    inconclusive = sum(line["verdict"] == "INCONCLUSIVE" for line in summary["sla"])
    error = suite.findall("testcase")[-1].find("error")
    assert suite.get("errors") == str(inconclusive + 1) and suite.get("tests") == str(len(summary["sla"]) + 1)
    assert suite.findall("testcase")[-1].get("name") == "run verdict"
    assert error.get("message") == f"INVALID: {summary['verdict_reason']}" and error.get("type") == "INVALID"

    # Nothing to judge by: no line, never a null verdict (issue 13). The generator is still judged:
    # the lost calls keep the run INVALID, and the reason says both.
    (tmp_path / layout.SCENARIO).unlink()
    empty = summarize(tmp_path)
    suite = ET.fromstring(junit.render(model.parse_summary(empty, tmp_path))).find("testsuite")
    assert suite.get("tests") == "1" and suite.find("testcase").get("name") == "run verdict"
    assert suite.find("testcase/error").get("message") == (
        "INVALID: the folder has no scenario.yaml: no thresholds to judge by; 3 calls were lost with their SIP "
        "engine process")


@pytest.mark.parametrize("verdicts", [("PASS", "PASS"), ("PASS", "FAIL"), ("PASS", "INCONCLUSIVE"),
                                      ("FAIL", "INCONCLUSIVE"), ("INVALID", "PASS"), (None, None)])
@pytest.mark.parametrize("harness_failed", [False, True])
def test_junit_is_green_exactly_when_the_exit_code_is_0(tmp_path, verdicts, harness_failed):
    """A CI system reading junit.xml sees what one reading the exit code sees (docs/sla-and-verdicts.md)."""
    from callproof.harness.errors import ExitCode
    from callproof.harness.verdict.sla import exit_code
    from callproof.reports import junit

    make_run(tmp_path, calls=40)
    summary = summarize(tmp_path)
    run_verdict, line_verdict = verdicts
    lines = summary["sla"][:2]
    if run_verdict is None:  # no line, nothing judged: INCONCLUSIVE
        summary["sla"], summary["verdict"] = [], "INCONCLUSIVE"
    else:
        for line, verdict in zip(lines, ("PASS", line_verdict), strict=True):
            line["verdict"] = verdict
        summary["sla"] = lines
        worst = "INVALID" if run_verdict == "INVALID" else max(
            (line["verdict"] for line in lines), key=["PASS", "INCONCLUSIVE", "FAIL"].index)
        summary["verdict"] = worst
    if harness_failed:
        summary["harness_errors"] = [{"step": "scoring the recorded calls with PESQ", "message": "no such file"}]
    code = ExitCode.HARNESS_ERROR if harness_failed else exit_code(summary["verdict"])
    suite = ET.fromstring(junit.render(model.parse_summary(summary, tmp_path))).find("testsuite")
    green = suite.get("failures") == "0" and suite.get("errors") == "0"
    assert green == (code == ExitCode.PASS)
    assert suite.get("skipped") == "0"


def test_worst_calls_are_the_lowest_mos_and_each_failure_reason(built_en):
    folder, truth = built_en
    data = model.load(folder)
    records = truth["records"]
    assert len(data.calls) == len(records) and truth["inbound"]  # our agents' records are not counted
    worst_direction = sorted((min(d["mos_cqe"] for d in r.quality.values()), r.call_id) for r in records if r.quality)
    assert [(c.mos_cqe, c.call_id) for c in data.lowest_mos] == worst_direction[:20]
    reasons: dict[str, list[str]] = {}
    for r in records:
        if r.failure:
            reasons.setdefault(r.failure.value, []).append(r.call_id)
    expected = {cid for ids in reasons.values() for cid in ids[:5]}
    assert {c.call_id for c in data.failed_calls} == expected
    assert data.failed_total == sum(len(v) for v in reasons.values())
    answered = next(c for c in data.lowest_mos)
    record = next(r for r in records if r.call_id == answered.call_id)
    # RFC 3550 A.3: lost / expected, expected = received + lost; the synthetic peer sends no RTCP
    # receiver report, so the worse direction is the received one.
    assert record.media.rtcp_rr_received == 0
    assert answered.loss_pct == pytest.approx(
        100 * record.media.rx_lost / (record.media.rx_packets + record.media.rx_lost)
    )


def test_plots_leave_no_figure_open(built_en):
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []


@pytest.mark.parametrize(
    "value, shown",
    [
        (99.899, "99.899"),
        (99.9, "99.9"),
        (2000.0, "2000"),
        (1234567.0, "1234570"),
        (0.000123, "0.000123"),
        (3.6, "3.6"),
        (None, "–"),
    ],
)
def test_numbers_are_never_rounded_onto_a_threshold(value, shown):
    assert text.number(value) == shown


@pytest.mark.parametrize(
    "uri, shown",
    [
        ("sip:alice:secret@pbx.example:5060", "sip:alice@pbx.example:5060"),
        ("sips:alice:p@ss;word@pbx.example", "sips:alice@pbx.example"),
        ("sip:ivr@127.0.0.1:5080", "sip:ivr@127.0.0.1:5080"),
        ("sip:127.0.0.1:5080", "sip:127.0.0.1:5080"),
    ],
)
def test_passwords_are_removed_from_sip_uris(uri, shown):
    assert redact(uri) == shown  # what the worst-calls tables show of a call's target


@pytest.fixture(scope="module")
def verifier_summary(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("summary")
    return make_run(folder, calls=20)["summary"]


def _without(data: dict, key: str) -> dict:
    return {k: v for k, v in data.items() if k != key}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: {**s, "verdict": "MAYBE"},
         'verdict must be one of "PASS", "INCONCLUSIVE", "FAIL", "INVALID" (got "MAYBE")'),
        (lambda s: {**s, "sla": [{**s["sla"][0], "verdict": "OK"}]},
         'sla[0].verdict must be one of "PASS", "INCONCLUSIVE", "FAIL", "INVALID" (got "OK")'),
        (lambda s: {**s, "sla": [_without(s["sla"][0], "name")]}, "sla[0].name is missing"),
        (lambda s: {**s, "calls": [1, 2]}, "calls must be an object (got [1, 2])"),
        (lambda s: {**s, "calls": {**s["calls"], "attempted": "many"}},
         'calls.attempted must be a whole number (got "many")'),
        (lambda s: {**s, "outages": {}}, "outages must be a list (got {})"),
        (lambda s: {**s, "sla": ["answer_rate"]}, 'sla[0] must be an object (got "answer_rate")'),
        (lambda s: _without(s, "run"), "run is missing"),
        (lambda s: _without(s, "media"), "media is missing"),
        (lambda s: {**s, "verdikt": "PASS"}, "verdikt is not a key summary.json has"),
        (lambda s: {**s, "rto_s": float("nan")}, "rto_s is not a finite number"),
        (lambda s: {**s, "run": {**s["run"], "seed": "\x1b[31mseven"}},
         'run.seed must be a whole number or null (got "\\u001b[31mseven")'),  # escaped for the terminal
    ],
)
def test_a_summary_that_does_not_fit_the_schema_is_named_in_one_sentence(verifier_summary, tmp_path, change,
                                                                          message):
    assert summary_file.problem(verifier_summary) is None  # the verifier's own fits
    with pytest.raises(ReportInputError) as caught:
        model.parse_summary(change(verifier_summary), tmp_path)
    assert str(caught.value) == f"{tmp_path}/summary.json: {message}"


def test_the_report_command_refuses_a_summary_that_does_not_fit_with_exit_2(tmp_path, monkeypatch, capsys,
                                                                              signing_key):
    from callproof.harness import cli
    from callproof.harness.verdict import summary as verdict_summary

    make_run(tmp_path, calls=20)
    made = json.loads((tmp_path / layout.SUMMARY).read_text())
    monkeypatch.setattr(verdict_summary, "summarize", lambda folder, scenario=None: {**made, "verdict": "MAYBE"})
    assert cli.main(["report", str(tmp_path), "--key", str(signing_key)]) == 2
    assert capsys.readouterr().err == (f'callproof: {tmp_path}/summary.json: verdict must be one of "PASS", '
                                       f'"INCONCLUSIVE", "FAIL", "INVALID" (got "MAYBE")\n')
    assert not (tmp_path / layout.REPORT_HTML).exists()
    (tmp_path / layout.SUMMARY).write_text(json.dumps(made).replace('"rto_s": 6.0', '"rto_s": NaN'))
    with pytest.raises(ReportInputError, match=r"summary.json holds NaN, which is not a JSON number$"):
        model.load(tmp_path)


def test_a_folder_without_summary_is_refused(tmp_path, signing_key):
    with pytest.raises(ReportInputError, match=r"has no summary.json; it is not a callproof output folder"):
        bundle.finalize(tmp_path, key_path=signing_key, notify=lambda m: None)


def test_a_key_inside_the_bundle_is_refused(tmp_path):
    make_run(tmp_path, calls=20)
    keys.generate(tmp_path / "key")
    with pytest.raises(ReportInputError, match=r"is inside the bundle; keep keys outside it"):
        bundle.finalize(tmp_path, key_path=tmp_path / "key", notify=lambda m: None)


@pytest.mark.e2e  # the whole report pipeline through the CLI, as a user runs it
def test_report_command_rebuilds_and_signs_an_interrupted_run(tmp_path):
    folder = tmp_path / "killed"
    truth = make_run(folder, calls=60, interrupted=True)
    lines_before = (folder / layout.CALLS).read_text().count("\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "CALLPROOF_TEST_TOKEN": "tok-93f1e0c2aa"}

    # Without --key: the per-user key is made (once), and one line says where.
    result = callproof("report", str(folder), "--lang", "zh", env=env)
    assert result.returncode == 0, result.stderr
    key_path = tmp_path / "xdg" / "callproof" / "signing_key"
    made = f"made a signing key at {key_path} (public key {key_path}.pub); it signs every bundle from now on"
    assert result.stderr == f"callproof: {made}\n"
    assert result.stdout.startswith(
        "callproof report: wrote report.html, report.pdf, junit.xml and manifest.json "
        f"in {folder}; 13 files signed by SHA256:"
    )
    assert json.loads((folder / layout.MANIFEST).read_text())["run"]["interrupted"] is True
    assert json.loads((folder / layout.MANIFEST).read_text())["report"] == {"language": "zh"}
    assert (folder / layout.CALLS).read_text().count("\n") == lines_before  # records are never rewritten
    rebuilt = json.loads((folder / layout.SUMMARY).read_text())
    assert rebuilt["calls"]["attempted"] == len(truth["records"])  # outbound calls only
    assert rebuilt["run"]["interrupted"] is True and rebuilt["run"]["stop_reason"] == "killed"
    # Judged again from the records against scenario.yaml's thresholds (its credentials are not set here).
    assert [line["name"] for line in rebuilt["sla"]] == [
        "answer_rate", "isa", "first_answer", "service_level", "abandonment", "setup_delay_p95", "mos_cqe_p5",
        "one_way_delay_p95", "loss_p95", "availability", "rto_s"]
    assert rebuilt["verdict"] == "FAIL"
    # The fault at 24 s: the probe at 25 s fails, those at 30, 35 and 40 s succeed: RTO 6 s, in (1 s, 6 s].
    assert rebuilt["rto_s"] == 6.0 and rebuilt["failover"][0]["rto_low_s"] == 1.0
    assert "本次运行被中断" in (folder / layout.REPORT_HTML).read_text(encoding="utf-8")
    assert check_bundle(folder, [keys.TrustedKey(keys.load_public(keys.public_path(key_path)), "me")]).ok

    # Secrets: nothing report-made holds the scenario's password, the environment, or a key.
    written = [
        layout.REPORT_HTML,
        layout.REPORT_PDF,
        layout.JUNIT,
        layout.MANIFEST,
        layout.SHA256SUMS,
        layout.SIGNATURE,
    ]
    for name in written:
        content = (folder / name).read_bytes()
        assert PASSWORD.encode() not in content, name
    for path in folder.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert b"tok-93f1e0c2aa" not in content and b"PRIVATE KEY" not in content, path
    if shutil.which("pdftotext"):
        words = subprocess.run(
            ["pdftotext", str(folder / layout.REPORT_PDF), "-"], capture_output=True, text=True
        ).stdout
        assert PASSWORD not in words

    # The next report finds the per-user key made above: it signs with it and says nothing about it.
    again = callproof("report", str(folder), env=env)
    assert (again.returncode, again.stderr) == (0, "")
    assert check_bundle(folder, [keys.TrustedKey(keys.load_public(keys.public_path(key_path)), "me")]).ok


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
def test_report_command_bad_input_exits_2(tmp_path):
    result = callproof("report", str(tmp_path / "absent"))
    assert (result.returncode, result.stderr) == (2, f"callproof: {tmp_path / 'absent'} is not a folder\n")
    result = callproof("report", str(tmp_path), "--lang", "fr")
    assert result.returncode == 2 and "invalid choice: 'fr'" in result.stderr


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
def test_keygen_command(tmp_path):
    out = tmp_path / "vendor"
    result = callproof("keygen", "--out", str(out))
    assert result.returncode == 0, result.stderr
    fingerprint = sign.fingerprint(keys.load_public(keys.public_path(out)))
    assert result.stdout == (
        f"wrote {out} (private key, mode 0600) and {out}.pub (public key)\nfingerprint: {fingerprint}\n"
    )
    again = callproof("keygen", "--out", str(out))
    assert (again.returncode, again.stderr) == (
        2,
        f"callproof: {out} already exists; callproof never overwrites a key\n",
    )
    assert callproof("keygen").returncode == 2


def test_a_bare_killed_run_still_gets_a_signed_report(tmp_path, signing_key):
    """Only calls.jsonl (truncated): no timeline, no probes, no engine facts, no scenario to judge by."""
    make_run(tmp_path, calls=40, interrupted=True)
    for name in (layout.PROBES, layout.EVENTS, layout.ENGINE, layout.SCENARIO):
        (tmp_path / name).unlink()
    shutil.rmtree(tmp_path / layout.AUDIO_DIR)
    write_summary(tmp_path, summarize(tmp_path))  # what the verifier makes of it
    result = bundle.finalize(tmp_path, key_path=signing_key, notify=lambda m: None)
    assert result.files == 7  # calls, summary, the capture, 3 reports, manifest
    page = (tmp_path / layout.REPORT_HTML).read_text(encoding="utf-8")
    assert '<div id="verdict" class="verdict verdict-inconclusive" data-verdict="INCONCLUSIVE">' in page
    assert 'id="interrupted"' in page and page.count('<img class="plot"') == 8
    facts = json.loads((tmp_path / layout.MANIFEST).read_text())
    assert facts["run"]["interrupted"] is True and facts["engine"] is None and facts["run"]["seed"] is None
    assert facts["run"]["verdict"] == "INCONCLUSIVE"  # nothing to judge by, and said so (never null)
    assert check_bundle(tmp_path, [keys.TrustedKey(keys.load_public(keys.public_path(signing_key)), "v")]).ok


@pytest.mark.e2e  # the whole report pipeline through the CLI, as a user runs it
def test_report_command_on_a_run_killed_before_its_summary(tmp_path, signing_key):
    make_run(tmp_path, calls=30, interrupted=True)
    (tmp_path / layout.SUMMARY).unlink()
    result = callproof("report", str(tmp_path), "--key", str(signing_key))
    assert result.returncode == 0, result.stderr
    # Judged from the records: 11 of 12 probe intervals up misses availability >= 99.9%.
    assert json.loads((tmp_path / layout.SUMMARY).read_text())["verdict"] == "FAIL"
    assert 'data-verdict="FAIL"' in (tmp_path / layout.REPORT_HTML).read_text(encoding="utf-8")
    calls = tmp_path / layout.CALLS
    good = calls.read_text().splitlines()[0]
    for content, error in (
        (f"{good}\nnot json\n{good}\n", "line 2 is not JSON"),
        (f'{good}\n{{"call_id": "x"}}\n', "record 2 is not a call record"),
    ):
        calls.write_text(content)
        broken = callproof("report", str(tmp_path), "--key", str(signing_key))
        assert broken.returncode == 2 and broken.stderr.startswith(f"callproof: {calls}: {error}"), broken.stderr


def test_a_bad_time_in_the_timeline_is_named(tmp_path, signing_key):
    make_run(tmp_path, calls=20)
    with open(tmp_path / layout.EVENTS, "a") as events:
        events.write('{"at_utc": "yesterday", "kind": "fault"}\n')
    sentence = rf"^{tmp_path / layout.EVENTS}: line \d+: at_utc must be an ISO 8601 time$"
    with pytest.raises(ReportInputError, match=sentence):
        bundle.finalize(tmp_path, key_path=signing_key, notify=lambda m: None)


def test_the_report_shows_the_queue_as_summary_json_does(tmp_path):
    """With an agent marker the report's queue section and its time-to-agent plot read the marker."""
    import markupsafe

    from callproof.reports import html, i18n, plots

    make_run(tmp_path, calls=80)
    scenario = tmp_path / layout.SCENARIO
    scenario.write_text(scenario.read_text().replace("call: {", "call: {agent_marker: '*9', ", 1))
    records = [json.loads(line) for line in (tmp_path / layout.CALLS).read_text().splitlines()]
    for i, record in enumerate(records):  # agents pick up 4 s after the IVR's 200 OK
        if record["direction"] == "outbound" and record["answer_ms"] is not None and record["failure"] is None:
            record["agent_ms"] = record["answer_ms"] + 4_000.0 + 10.0 * i
    (tmp_path / layout.CALLS).write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = summarize(tmp_path)
    write_summary(tmp_path, summary)
    centre = summary["call_center"]
    assert centre["by_agent_marker"] and centre["time_to_agent_ms"]["p50"] > 4_000.0
    data = model.load(tmp_path)
    tr = i18n.Translator("en")
    rows = dict(text.queue_rows(data.summary, tr))
    assert rows["offered"] == str(centre["offered"])
    for label, key in (("reached an agent", "answer_rate"), ("abandoned", "abandonment")):
        assert rows[label] == f"{centre[key + '_count']} ({text.with_unit(centre[key + '_pct'], '%')})"
    p50, p95, p99 = (centre["time_to_agent_ms"][p] / 1000.0 for p in ("p50", "p95", "p99"))
    assert rows["Time to agent (first answer, ASA)"] == (f"p50 {text.number(p50)} s · p95 {text.number(p95)} s · "
                                                        f"p99 {text.number(p99)} s")
    assert rows["average handle time"] == text.with_unit(centre["handle_time_s"]["mean"], "s")
    # The plot counts the same calls: those whose marker arrived.
    assert int((~np.isnan(data.calls.agent_ms)).sum()) == centre["answer_rate_count"]
    drawn = plots.render_all(data, tr, ["DejaVu Sans"])
    assert "time_to_agent" in [p.key for p in drawn]
    page = html.render(data, drawn, tr, version="test", signer_fingerprint="SHA256:test")
    assert 'id="queue"' in page and str(markupsafe.escape(tr("queue_by_marker"))) in page
