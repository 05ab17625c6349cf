"""The built engine's place in site-packages, read by the real site.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from callproof.sip.engine import install as engine_install
from callproof.sip.engine.install import ENGINE_ENV


def first_path_entry(site: Path, **env: str) -> str:
    """sys.path[0] after site.py processes `site`'s .pth files, in a clean interpreter."""
    code = f"import site, sys; site.addsitedir({str(site)!r}); print(sys.path[0])"
    environment = {k: v for k, v in os.environ.items() if k != ENGINE_ENV} | env
    return subprocess.run(
        [sys.executable, "-S", "-c", code], env=environment, capture_output=True, text=True, check=True
    ).stdout.strip()


def a_built_engine(tmp_path: Path) -> Path:
    engine = tmp_path / "cache-entry"
    engine.mkdir()
    for name in ("pjsua2.py", "_pjsua2.cpython-311-x86_64-linux-gnu.so", engine_install.MANIFEST_NAME):
        (engine / name).write_text(name)
    return engine


def test_install_puts_the_engine_first_on_sys_path_unless_the_wheel_is_asked_for(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    installed = engine_install.install(a_built_engine(tmp_path), site)

    assert installed == site / "callproof-engine"
    assert sorted(p.name for p in installed.iterdir()) == sorted(p.name for p in (tmp_path / "cache-entry").iterdir())
    assert engine_install.is_installed(site)
    assert first_path_entry(site) == str(installed)
    assert first_path_entry(site, **{ENGINE_ENV: "wheel"}) != str(installed)


def test_uninstall_removes_both_paths_and_says_whether_there_was_an_engine(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    engine_install.install(a_built_engine(tmp_path), site)

    assert engine_install.uninstall(site) is True
    assert list(site.iterdir()) == []
    assert engine_install.uninstall(site) is False
    assert not engine_install.is_installed(site)


def test_reinstall_replaces_the_previous_engine(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    engine_install.install(a_built_engine(tmp_path), site)
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "pjsua2.py").write_text("newer")
    (newer / engine_install.MANIFEST_NAME).write_text("{}")

    installed = engine_install.install(newer, site)

    assert sorted(p.name for p in installed.iterdir()) == ["engine.json", "pjsua2.py"]
    assert sorted(p.name for p in site.iterdir()) == ["callproof-engine", "callproof-engine.pth"]
