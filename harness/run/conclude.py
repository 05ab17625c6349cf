"""The end of a run, after its last call: PESQ, summary.json, the reports, the signature.

Every step can fail: a recording PESQ cannot read, a bug in a figure or in the
verifier, a full disk, a key that stopped working. None may lose what was
measured, so each step runs guarded, in this order:

    1. PESQ of the recorded sample        failure: the summary has no PESQ figures
       what the recorded calls heard       failure: the summary has no hearing figures
       (call.expect, dead air, one-way audio: callproof.harness.verdict.hearing)
    2. the measured figures               failure: summary.json says the records could not be read
    3. the verdict (the verifier)         failure: INCONCLUSIVE, the reason says the verifier failed;
                                          its figures without thresholds when those can be had
    4. summary.json                       checked against its schema, and written whatever
                                          happened above; `harness_errors` lists
                                          every step that failed, one sentence each
    5. reports, manifest, signature       failure: summary.json is rewritten with the error
    6. the table on the terminal

A failed step leaves its traceback in logs/harness.log (callproof.reports.layout),
never on the user's terminal, which gets one sentence; the exit code is then 3
(HARNESS_ERROR) whatever the verdict. `callproof report RUN` repeats steps 2-5.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from callproof.harness.errors import ExitCode, exit_code_for
from callproof.reports import layout

if TYPE_CHECKING:
    from callproof.reports.keys import SigningKey

T = TypeVar("T")


def harness_log(folder: Path) -> Path:
    return Path(folder) / layout.LOGS_DIR / layout.HARNESS_LOG


def describe(exc: BaseException) -> str:
    """One sentence for the user: a deliberate error's own, the system's word for a file
    that could not be read or written, or what a bug raised."""
    if exit_code_for(exc) is not None:
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename2 or exc.filename
        return f"{exc.strerror}: {where}" if where else exc.strerror
    return f"{type(exc).__name__}: {exc} (a callproof bug)"


def log_traceback(folder: Path, step: str, exc: BaseException) -> Path:
    """Append `exc`'s traceback to logs/harness.log; its path (stderr when even that fails)."""
    path = harness_log(folder)
    text = f"--- {step} failed\n" + "".join(traceback.format_exception(exc))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as log:
            log.write(text)
    except OSError:
        sys.stderr.write(text)
    return path


class Conclusion:
    """The guarded steps of one run's end, and the problems they met."""

    def __init__(self, folder: Path, problems: list[dict[str, str]] | None = None) -> None:
        self.folder = Path(folder)
        self.problems: list[dict[str, str]] = list(problems or ())

    def step(self, what: str, action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """`action(*args, **kwargs)`, or None after recording why it failed."""
        try:
            return action(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure here is reported, none loses the run
            self.fail(what, exc)
            return None

    def fail(self, what: str, exc: BaseException) -> None:
        log_traceback(self.folder, what, exc)
        self.problems.append({"step": what, "message": describe(exc)})

    def sentence(self) -> str:
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more step(s))" if len(self.problems) > 1 else ""
        return (f"{first['step']} failed: {first['message']}{more}; summary.json holds the measured figures, "
                f"the traceback is in {harness_log(self.folder)}; `callproof report {self.folder}` "
                "rebuilds the summary, the reports and the signature")


def conclude(folder: Path, *, score: Callable[[], Any], key_path: Path | None, lang: str, quiet: bool,
             problems: list[dict[str, str]] | None = None, key: SigningKey | None = None,
             hear: Callable[[], Any] | None = None) -> int:
    """Steps 1-6 of the module docstring for a run folder; the run's exit code.

    `key`: the signing key `callproof run` read before it started (callproof.reports.bundle.signing_key);
    without it, the key at `key_path` is read at the end.

    `score` runs PESQ on the recorded sample, `hear` the hearing analysis; `problems` are failures met before the
    end (the load's), already logged: they make the exit code 3 as well.
    """
    from callproof.harness.run.progress import Progress
    from callproof.harness.verdict import summary as summaries
    from callproof.harness.verdict.sla import exit_code
    from callproof.reports.bundle import finalize
    from callproof.reports.summary_file import Verdict

    folder = Path(folder)
    end = Conclusion(folder, problems)
    end.step("scoring the recorded calls with PESQ", score)
    if hear is not None:
        end.step("analysing what the recorded calls heard", hear)
    files = end.step("reading the run's records", summaries.read_run, folder)
    summary: dict[str, Any] = {"verdict": Verdict.INCONCLUSIVE.value,
                               "verdict_reason": "the run's records could not be read: nothing was judged"}
    if files is not None:
        scenario, no_verdict = end.step("reading the scenario's thresholds", summaries.thresholds, folder) or (
            None, "the scenario's thresholds could not be read")
        summary = end.step("computing the measured figures", summaries.figures, files, scenario) or {}
        interrupted = (summary.get("run") or {}).get("interrupted", True)
        verdict = end.step("judging the run against its thresholds", summaries.verdict_keys, files, scenario,
                           interrupted=interrupted, no_verdict=no_verdict)
        if verdict is None:
            reason = f"the verifier failed ({end.problems[-1]['message']}): no SLA line was judged"
            verdict = end.step("measuring without thresholds", summaries.unjudged_keys, files,
                               interrupted=interrupted, reason=reason)
            verdict = verdict or {"verdict": Verdict.INCONCLUSIVE.value, "verdict_reason": reason}
        summary.update(verdict)
    if files is not None:
        end.step("checking summary.json against its schema", summaries.check_fits, summary)
    if end.problems:
        summary["harness_errors"] = list(end.problems)
    written = end.step("writing summary.json", summaries.write_summary, folder, summary)
    if written is not None:
        before = len(end.problems)
        end.step("writing the reports and signing the bundle", finalize, folder, key_path=key_path, lang=lang,
                 key=key)
        if len(end.problems) > before:
            summary["harness_errors"] = list(end.problems)
            end.step("rewriting summary.json", summaries.write_summary, folder, summary)
    if not quiet and "calls" in summary:
        end.step("printing the table", Progress.print_table, summary, folder)
    if end.problems:
        print(f"callproof: {end.sentence()}", file=sys.stderr)
        return ExitCode.HARNESS_ERROR
    return exit_code(summary["verdict"])
