"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `tests.peers` is importable from any working directory
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A folder for peers' logs and files of this test session."""
    return tmp_path_factory.mktemp("peers")


def pytest_report_header(config):
    import pjsua2

    return f"pjsua2 from {os.path.dirname(pjsua2.__file__)}"
