"""The end of a run when something fails after the first call (issue 13): summary.json keeps
every measured figure, one sentence on the terminal, exit 3, the traceback under logs/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callproof.harness.errors import ExitCode, HarnessError
from callproof.harness.run.conclude import conclude
from callproof.harness.run.runner import Run, RunOptions
from callproof.harness.scenario.loader import load_scenario
from callproof.harness.verdict import summary as summaries
from callproof.reports import keys, layout
from callproof.reports.errors import ReportsError
from tests.reports.synthetic_run import make_run
from tests.verify import records as r


@pytest.fixture
def key(tmp_path) -> Path:
    path = tmp_path / "keys" / "signing"
    path.parent.mkdir()
    keys.generate(path)
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    folder = tmp_path / "run"
    make_run(folder, calls=120)
    (folder / layout.SUMMARY).unlink()  # what a run has when it concludes
    return folder


def summary_of(folder: Path) -> dict:
    return json.loads((folder / layout.SUMMARY).read_text())


def assert_logged(folder: Path, *steps: str) -> None:
    log = (folder / layout.LOGS_DIR / layout.HARNESS_LOG).read_text()
    assert log.count("Traceback (most recent call last):") == len(steps)
    for step in steps:
        assert f"--- {step} failed" in log


def assert_one_sentence(stderr: str, folder: Path, step: str) -> None:
    assert stderr.count("\n") == 1 and stderr.startswith(f"callproof: {step} failed: ")
    assert f"the traceback is in {folder / 'logs' / 'harness.log'}" in stderr and "Traceback" not in stderr


def test_a_clean_end_writes_everything_and_exits_by_the_verdict(folder, key, capsys):
    code = conclude(folder, score=lambda: None, key_path=key, lang="en", quiet=True)
    summary = summary_of(folder)
    assert code == {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 4, "INVALID": 5}[summary["verdict"]]
    assert "harness_errors" not in summary and (folder / layout.SIGNATURE).is_file()
    assert capsys.readouterr().err == "" and not (folder / "logs" / "harness.log").exists()


def test_an_unwritable_report_keeps_the_summary_and_exits_3(folder, key, capsys):
    (folder / layout.REPORT_HTML).mkdir()  # the report cannot be written where it belongs
    code = conclude(folder, score=lambda: None, key_path=key, lang="en", quiet=True)
    assert code == ExitCode.HARNESS_ERROR
    summary = summary_of(folder)
    assert summary["calls"]["attempted"] == 120 and summary["setup_ms"]["p95"] is not None
    assert summary["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE", "INVALID")  # judged all the same
    [error] = summary["harness_errors"]
    assert error["step"] == "writing the reports and signing the bundle"
    assert error["message"] == f"cannot write {folder / layout.REPORT_HTML} (Is a directory)"
    assert not (folder / layout.SIGNATURE).exists()  # nothing is signed that was not written
    assert_one_sentence(capsys.readouterr().err, folder, "writing the reports and signing the bundle")
    assert_logged(folder, "writing the reports and signing the bundle")


def test_a_signing_key_that_fails_at_the_end_keeps_the_summary_and_exits_3(folder, key, capsys):
    key.write_text("garbage\n")  # e.g. replaced while the run went
    assert conclude(folder, score=lambda: None, key_path=key, lang="en", quiet=True) == 3
    summary = summary_of(folder)
    assert summary["calls"]["attempted"] == 120
    assert summary["harness_errors"] == [{"step": "writing the reports and signing the bundle",
                                          "message": f"{key} is not an OpenSSH private key"}]
    assert_one_sentence(capsys.readouterr().err, folder, "writing the reports and signing the bundle")


def test_a_bug_in_the_verifier_keeps_the_figures_and_is_inconclusive(folder, key, monkeypatch, capsys):
    def broken(*args, **kwargs):
        return 1 / 0

    monkeypatch.setattr(summaries, "verdict_keys", broken)
    assert conclude(folder, score=lambda: None, key_path=key, lang="en", quiet=True) == 3
    summary = summary_of(folder)
    assert summary["calls"]["attempted"] == 120 and summary["failures"]["rejected"] > 0
    assert summary["verdict"] == "INCONCLUSIVE"
    assert summary["verdict_reason"] == ("the verifier failed (ZeroDivisionError: division by zero (a callproof "
                                         "bug)): no SLA line was judged")
    assert (folder / layout.SIGNATURE).is_file()  # the reports and the signature still came
    assert_one_sentence(capsys.readouterr().err, folder, "judging the run against its thresholds")
    assert_logged(folder, "judging the run against its thresholds")


def test_a_pesq_failure_loses_nothing_else(folder, key, capsys):
    def score():
        raise OSError(5, "Input/output error")

    assert conclude(folder, score=score, key_path=key, lang="en", quiet=True) == 3
    summary = summary_of(folder)
    assert summary["harness_errors"][0]["step"] == "scoring the recorded calls with PESQ"
    assert summary["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE", "INVALID") and "sla" in summary
    assert (folder / layout.SIGNATURE).is_file()
    assert_one_sentence(capsys.readouterr().err, folder, "scoring the recorded calls with PESQ")


class _BrokenRun(Run):
    """A run whose load fails: before any call (`placed=0`) or after `placed` calls were recorded."""

    placed = 0

    def run(self) -> None:
        if self.placed:
            self._calls_start()
            for i in range(self.placed):
                self.calls.write(r.answered(float(i)).to_dict())
        raise RuntimeError("the load's loop broke")


def _scenario(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndescription: d\ntarget: {uri: sip:600@127.0.0.1:5070}\n"
                    "load: {peak_concurrent: 2, duration_s: 10, max_cps: 5, max_concurrent: 4}\n"
                    "call: {talk_time: {distribution: fixed, value_s: 1}}\n")
    return load_scenario(path)


def test_a_failure_during_the_load_concludes_the_run_invalid(tmp_path, key, capsys):
    run = _BrokenRun(_scenario(tmp_path), RunOptions(out_dir=tmp_path / "out", key_path=key, quiet=True))
    run.placed = 3
    assert run.execute() == ExitCode.HARNESS_ERROR
    folder = tmp_path / "out"
    summary = summary_of(folder)
    assert summary["calls"]["attempted"] == 3 and summary["run"]["stop_reason"] == "error"
    assert summary["verdict"] == "INVALID"
    assert summary["verdict_reason"].startswith("callproof itself failed during the load (RuntimeError: the "
                                                "load's loop broke (a callproof bug)): no verdict on the target")
    assert summary["harness_errors"] == [{"step": "placing the load",
                                          "message": "RuntimeError: the load's loop broke (a callproof bug)"}]
    assert (folder / layout.SIGNATURE).is_file()
    assert_one_sentence(capsys.readouterr().err, folder, "placing the load")
    assert_logged(folder, "placing the load")


def test_a_failure_before_any_call_is_one_sentence_and_places_nothing(tmp_path, key):
    run = _BrokenRun(_scenario(tmp_path), RunOptions(out_dir=tmp_path / "out", key_path=key, quiet=True))
    with pytest.raises(HarnessError) as caught:
        run.execute()
    log = tmp_path / "out" / "logs" / "harness.log"
    assert str(caught.value) == (f"the run could not start: RuntimeError: the load's loop broke (a callproof bug); "
                                 f"the traceback is in {log}")
    assert "Traceback" in log.read_text() and not (tmp_path / "out" / layout.SUMMARY).exists()


def test_a_key_that_cannot_sign_is_refused_before_the_run(tmp_path):
    bad = tmp_path / "not-a-key"
    bad.write_text("garbage\n")
    bad.chmod(0o600)  # private, as a key must be: what fails is its content
    run = _BrokenRun(_scenario(tmp_path), RunOptions(out_dir=tmp_path / "out", key_path=bad, quiet=True))
    with pytest.raises(ReportsError) as caught:  # a deliberate error: exit 2, one sentence
        run.execute()
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert str(caught.value) == f"{bad} is not an OpenSSH private key"
    assert not (tmp_path / "out").exists()  # refused before anything was made
