"""The build's self-check: how figures are judged (injected), the gate in `build()`, and the real child."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from callproof.harness.verdict.generator import PUMP_LAG_LIMIT_MS
from callproof.sip.engine import build as engine_build
from callproof.sip.engine import install as engine_install
from callproof.sip.engine import selfcheck
from callproof.sip.engine.build import BuildConfig
from callproof.sip.engine.selfcheck import Figures
from callproof.sip.engine.source import Source
from callproof.sip.errors import EngineError

# Measured on this project's machines (docs/engine.md, "Self-check").
RING_PATCHED = Figures(calls=8, setup_delay_ms=[1.1, 1.4, 1.5, 1.6, 2.0, 2.4, 2.5, 3.0],
                       media_start_ms=[21.0, 21.6, 21.7, 21.9, 22.0, 22.2, 23.0, 24.0], pump_latency_max_ms=2.8,
                       failures=[])
PJ216_UNPATCHED = Figures(calls=8, setup_delay_ms=[1.8, 2.2, 2.4, 2.5, 2.6, 3.0, 3.1, 4.0],
                          media_start_ms=[24.0, 25.0, 25.8, 26.0, 26.1, 27.0, 28.0, 30.0], pump_latency_max_ms=299.7,
                          failures=[])


def test_a_fit_engine_has_no_problems() -> None:
    assert selfcheck.problems(RING_PATCHED) == []
    assert selfcheck.describe(RING_PATCHED) == (
        "setup delay p50 1.8 ms, media start p50 21.9 ms, pump latency max 2.8 ms over 8 calls"
    )


def test_each_limit_can_fail() -> None:
    assert selfcheck.problems(PJ216_UNPATCHED) == ["event-pump latency 299.7 ms (limit 100 ms)"]
    slow_media = Figures(8, [2.0] * 8, [501.0] * 8, 3.0, [])  # 2.12.1 without 0003: the first RTP waits 500 ms
    assert selfcheck.problems(slow_media) == ["media start (first RTP) p50 501 ms (limit 150 ms)"]
    slow_setup = Figures(8, [274.0] * 8, [20.0] * 8, 3.0, [])
    assert selfcheck.problems(slow_setup) == ["setup delay p50 274 ms (limit 50 ms)"]


def test_calls_that_failed_or_measured_nothing_are_named() -> None:
    broken = Figures(8, [], [], 1.0, ["a call got 500"] * 8)
    assert selfcheck.problems(broken) == [
        "a call got 500",
        "no setup delay p50 measured",
        "no media start (first RTP) p50 measured",
    ]


def test_the_pump_limit_is_inside_the_runs_generator_validity_limit() -> None:
    # An engine that passes here cannot make a run INVALID by its pump alone; 2.16's 300 ms
    # hangup stall (without patch 0004) must still fail here.
    assert selfcheck.LIMITS["pump_latency_max_ms"] < 299.7 < PUMP_LAG_LIMIT_MS


def test_an_unfit_engine_is_not_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    entry = tmp_path / "entry"
    entry.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    installed: list[Path] = []
    monkeypatch.setattr(engine_build, "require_prerequisites", lambda required: None)
    monkeypatch.setattr(engine_build, "locate_source", lambda source_dir: Source("test tree", "0" * 64))
    monkeypatch.setattr(engine_build, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(engine_build, "cached_engine", lambda key: entry)
    checks: list[Path] = []
    monkeypatch.setattr(selfcheck, "run_in_subprocess", lambda engine_dir: checks.append(engine_dir) or PJ216_UNPATCHED)
    monkeypatch.setattr(engine_install, "install", lambda engine_dir, site=None: installed.append(engine_dir))
    out = io.StringIO()
    with pytest.raises(EngineError) as caught:
        engine_build.build(Path("/tree"), BuildConfig(), out=out)
    assert str(caught.value) == (
        "the engine built from test tree is not fit for load (event-pump latency 299.7 ms (limit 100 ms), "
        "twice), so it was not installed (docs/engine.md, \"Self-check\")"
    )
    assert caught.value.exit_code == 3
    assert installed == []
    assert checks == [entry, entry]  # measured again before giving up: a busy machine is not a defect
    assert "self-check" in out.getvalue() and "pump latency max 299.7 ms" in out.getvalue()


def test_the_child_refuses_a_folder_without_an_engine(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"^the engine's self-check could not run: "):
        selfcheck.run_in_subprocess(tmp_path)


@pytest.mark.sip_engine
@pytest.mark.heavy  # its limits are a few tens of ms
def test_the_installed_engine_passes_its_self_check_with_real_calls() -> None:
    if not engine_install.is_installed():
        pytest.skip("no built engine is installed in this environment (`callproof engine build`)")
    figures = selfcheck.run_in_subprocess(engine_install.install_dir())
    assert figures.calls == selfcheck.CALLS
    assert len(figures.setup_delay_ms) == len(figures.media_start_ms) == selfcheck.CALLS
    # Real measurements: a ringing on 127.0.0.1 takes some time, and the first RTP packet
    # cannot come before the agent's first 20 ms frame is due.
    assert all(0 < ms for ms in figures.setup_delay_ms)
    assert all(0 < ms for ms in figures.media_start_ms)
    assert selfcheck.problems(figures) == []


def test_a_check_stalled_once_is_measured_again_and_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    entry = tmp_path / "entry"
    entry.mkdir()
    results = [PJ216_UNPATCHED, RING_PATCHED]
    monkeypatch.setattr(engine_build, "require_prerequisites", lambda required: None)
    monkeypatch.setattr(engine_build, "locate_source", lambda source_dir: Source("test tree", "0" * 64))
    monkeypatch.setattr(engine_build, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(engine_build, "cached_engine", lambda key: entry)
    monkeypatch.setattr(selfcheck, "run_in_subprocess", lambda engine_dir: results.pop(0))
    monkeypatch.setattr(engine_install, "install", lambda engine_dir, site=None: tmp_path / "installed")
    monkeypatch.setattr(engine_build, "probe_in_subprocess", lambda env: {
        "engine": "built", "pjproject_version": "2.12.1", "io_queue": "epoll"})
    recorded: list[dict] = []
    monkeypatch.setattr(engine_install, "record_self_check", lambda installed, figures: recorded.append(figures))
    result = engine_build.build(Path("/tree"), BuildConfig(), out=io.StringIO())
    assert result.self_check == RING_PATCHED and results == []
    assert recorded == [RING_PATCHED.to_dict()]
