"""rtp_analysis stays pure: no imports from the harness, the SIP engine or the reports."""

from __future__ import annotations

import ast
from pathlib import Path

import rtp_analysis

FORBIDDEN = {"harness", "sip", "reports", "locust", "gevent", "pjsua2"}


def test_rtp_analysis_imports_none_of_the_other_packages():
    for path in Path(rtp_analysis.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
