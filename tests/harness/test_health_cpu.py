"""The generator's own CPU: user + system time per process (psutil), as % of one core summed over processes."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest

from callproof.harness.run import health


def test_cpu_seconds_is_the_kernels_user_and_system_time_of_the_process():
    before = os.times()
    measured = health.cpu_seconds(os.getpid())
    after = os.times()
    assert before.user + before.system - 0.02 <= measured <= after.user + after.system + 0.02  # clock-tick steps


def test_a_process_that_is_gone_has_no_cpu_time():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert health.cpu_seconds(child.pid) is None


def test_a_sample_is_the_cpu_used_since_the_last_one_over_the_interval_summed_over_processes(monkeypatch):
    clock, used = [100.0], {}
    monkeypatch.setattr(health, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(health, "cpu_seconds", lambda pid: used.get(pid))
    sampler = health.HealthSampler()
    try:
        used.update({11: 1.0, 12: 2.0})
        clock[0] = 101.0
        assert sampler.sample([11, 12])["cpu_pct"] == 0.0  # a process counts from the first time it is seen
        used.update({11: 2.0, 12: 3.5, 13: 7.0})
        clock[0] = 103.0
        sample = sampler.sample([11, 12, 13])
        assert sample["cpu_pct"] == pytest.approx(100 * (1.0 + 1.5) / 2.0)  # 125%: more than one core busy
        assert sample["cpu_cores"] == (os.cpu_count() or 1)
        del used[12]  # an engine process exited: it drops out, the others still count
        used.update({11: 2.5, 13: 7.5})
        clock[0] = 104.0
        assert sampler.sample([11, 12, 13])["cpu_pct"] == pytest.approx(100.0)
    finally:
        sampler.stop()
