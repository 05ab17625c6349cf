"""Fixtures for the bundle tests: keys made by callproof, and signed bundles built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from callproof.reports import bundle, keys
from tests.reports.synthetic_run import make_run


@pytest.fixture(autouse=True)
def private_config_home(tmp_path_factory, monkeypatch):
    """No test ever touches the real per-user key under ~/.config."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "vendor_key"
    keys.generate(path)
    return path


@pytest.fixture(scope="session")
def other_key(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "forger_key"
    keys.generate(path)
    return path


def _built(tmp_path_factory, signing_key: Path, lang: str, **run) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp(f"bundle-{lang}") / "run"
    truth = make_run(folder, **run)
    bundle.finalize(folder, key_path=signing_key, lang=lang, notify=lambda message: None)
    return folder, truth


@pytest.fixture(scope="session")
def built_en(tmp_path_factory, signing_key) -> tuple[Path, dict]:
    """A signed English bundle of a 300-call run (read-only: copy it before changing it)."""
    return _built(tmp_path_factory, signing_key, "en")


@pytest.fixture(scope="session")
def built_zh(tmp_path_factory, signing_key) -> tuple[Path, dict]:
    return _built(tmp_path_factory, signing_key, "zh", seed=11)


@pytest.fixture
def bundle_copy(built_en, tmp_path) -> Path:
    """A private copy of the English bundle, to tamper with."""
    folder, _ = built_en
    return Path(shutil.copytree(folder, tmp_path / "bundle"))
