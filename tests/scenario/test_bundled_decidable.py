"""Every bundled scenario can decide every SLA line it declares, on a target that meets it perfectly.

A line that no run of the scenario can decide ends INCONCLUSIVE (exit 4) on every run,
whatever the target does: the CI recipe (asterisk-ci.yaml) asked for 99% availability
from 17 probe intervals, which needs 381. The arithmetic is callproof.harness.verdict.decidable;
the fewest trials it names are checked here against the verifier's own lines
(callproof.harness.verdict.sla), the oracle for what PASS needs.
"""

from __future__ import annotations

import dataclasses

import pytest

from callproof.harness.scenario.loader import bundled_dir, load_scenario
from callproof.harness.verdict import decidable
from callproof.harness.verdict.connect import Ratio
from callproof.harness.verdict.sla import proportion_line, quantile_line
from callproof.reports.summary_file import Verdict

BUNDLED = sorted(bundled_dir().glob("*.yaml"))


def test_there_are_bundled_scenarios():
    assert {p.stem for p in BUNDLED} >= {"asterisk-ci", "asterisk-failover", "failover", "peak-200", "smoke", "soak"}


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_each_declared_line_can_be_decided_on_a_perfect_target(path):
    scenario = load_scenario(path, offline=True)
    lines = decidable.lines(scenario)
    undecidable = [line.sentence() for line in lines if not line.decidable]
    assert not undecidable, f"{path.name}: " + "; ".join(undecidable)
    # Every line the scenario switches on is looked at (the RTO only with faults).
    declared = {f.name for f in dataclasses.fields(scenario.sla) if getattr(scenario.sla, f.name) is not None}
    if not scenario.faults:
        declared.discard("rto_s_max")
    assert len(lines) == len(declared)


@pytest.mark.parametrize(("threshold", "comparison", "needed"),
                         [(0.99, ">=", 381), (0.95, ">=", 73), (0.9, ">=", 35), (0.999, ">=", 3838),
                          (0.05, "<=", 73), (0.03, "<=", 125), (0.2, "<=", 16)])
def test_the_fewest_trials_for_a_share_are_where_the_verifiers_line_turns_pass(threshold, comparison, needed):
    assert decidable.fewest_for_proportion(threshold, comparison) == needed

    def verdict(n: int) -> Verdict:
        ratio = Ratio(n if comparison == ">=" else 0, n)
        return proportion_line("x", "x_pct", ratio, threshold, comparison, "test").verdict

    assert verdict(needed) == Verdict.PASS
    assert verdict(needed - 1) == Verdict.INCONCLUSIVE


def test_a_share_of_exactly_one_or_zero_is_never_decided():
    assert decidable.fewest_for_proportion(1.0, ">=") is None
    assert decidable.fewest_for_proportion(0.0, "<=") is None


@pytest.mark.parametrize(("q", "comparison"), [(0.95, "<="), (0.05, ">=")])
def test_the_fewest_calls_for_a_percentile_are_where_the_verifiers_line_turns_pass(q, comparison):
    needed = decidable.fewest_for_quantile(q, comparison)
    assert needed == 72  # docs/sla-and-verdicts.md: 0.95^72 <= 0.025
    perfect = 1.0 if comparison == "<=" else 4.4  # far on the good side of the threshold below

    def verdict(n: int) -> Verdict:
        return quantile_line("x", "x", [perfect] * n, q, 2.0, comparison, "", "test", unmeasured="none").verdict

    assert verdict(needed) == Verdict.PASS
    assert verdict(needed - 1) == Verdict.INCONCLUSIVE


def test_the_ci_recipe_as_it_was_is_found_undecidable(tmp_path):
    """asterisk-ci.yaml before issue 12: 160 s, a probe call every 10 s, availability 99%."""
    text = (bundled_dir() / "asterisk-ci.yaml").read_text()
    old = (text.replace("duration_s: 240", "duration_s: 160").replace("call_interval_s: 2 ", "call_interval_s: 10 ")
           .replace("availability_min: 0.95", "availability_min: 0.99"))
    assert old != text
    path = tmp_path / "asterisk-ci-old.yaml"
    path.write_text(old)
    lines = {line.line: line for line in decidable.lines(load_scenario(path, offline=True))}
    availability = lines["availability"]
    assert (availability.needed, availability.decidable) == (381, False)
    assert availability.given <= 16  # a probe every 10 s over 160 s
    assert availability.sentence() == (f"availability needs 381 probe intervals on a perfect target; "
                                       f"the scenario gives only {availability.given}")


def test_probe_intervals_are_the_probe_calls_that_end_within_the_run(tmp_path):
    scenario = load_scenario(bundled_dir() / "asterisk-ci.yaml", offline=True)
    # One every 2 s from 0 to 240 - 2 (talk) - 0.5 (overhead): 0, 2, ..., 236.
    assert decidable.probe_intervals_given(scenario) == 119
    assert decidable.probe_intervals_given(scenario, after_s=200.0) == 19  # 200, ..., 236


def test_the_rto_cannot_be_decided_with_a_probe_interval_longer_than_its_threshold():
    scenario = load_scenario(bundled_dir() / "failover.yaml", offline=True)
    assert scenario.faults and scenario.sla.rto_s_max == 10
    slow = dataclasses.replace(scenario, probes=dataclasses.replace(scenario.probes, call_interval_s=15.0))
    (rto,) = [line for line in decidable.lines(slow) if line.line == "rto_s"]
    assert rto.needed is None and not rto.decidable
    assert "longer than the threshold 10 s" in rto.sentence()
