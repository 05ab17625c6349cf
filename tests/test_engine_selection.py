"""The pjsua2 the SIP tests exercise is the one `make test` asked for (CALLPROOF_ENGINE)."""

from __future__ import annotations

import os

import pytest

from callproof.sip.engine.info import probe_in_subprocess
from callproof.sip.engine.install import ENGINE_ENV, is_installed


@pytest.mark.sip_engine
def test_the_engine_asked_for_is_the_one_that_loads() -> None:
    info = probe_in_subprocess()
    asked = os.environ.get(ENGINE_ENV) or ("built" if is_installed() else "wheel")
    if asked == "wheel":
        # FIELD-NOTES: the wheel is capped at 4 calls per process, select() I/O queue.
        assert (info["engine"], info["max_calls_per_process"], info["io_queue_kind"]) == ("wheel", 4, "select")
    else:
        assert (info["engine"], info["io_queue_kind"]) == ("built", "epoll")
        assert info["max_calls_per_process"] == info["build"]["limits"]["max_calls"] > 4
