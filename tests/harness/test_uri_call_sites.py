"""Where the run uses a target URI, it reads it with callproof.sip.uri (tests/sip/test_uri.py holds the grammar)."""

from __future__ import annotations

import pytest

from callproof.harness.run.engines import caller_template, local_address_for
from callproof.harness.run.probes import Prober
from callproof.harness.scenario.loader import load_scenario
from callproof.sip.uri import SipUriError

SCENARIO = """\
name: registering
description: a caller that registers before it calls
target:
  uri: sip:600@127.0.0.1:5080;transport=tcp
  transport: tcp
  register: true
  credentials: {username_env: CALLPROOF_URI_TEST_USER, password_env: CALLPROOF_URI_TEST_PASSWORD}
load: {mode: concurrency, peak_concurrent: 2, duration_s: 10, max_cps: 5, max_concurrent: 4}
call: {talk_time: {distribution: fixed, value_s: 3}}
"""


def test_the_registrar_is_the_target_s_server(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLPROOF_URI_TEST_USER", "alice")
    monkeypatch.setenv("CALLPROOF_URI_TEST_PASSWORD", "pw")
    (tmp_path / "s.yaml").write_text(SCENARIO)
    template = caller_template(load_scenario(tmp_path / "s.yaml"))
    assert template.account.registrar == "sip:127.0.0.1:5080"  # user and params dropped, port kept
    assert template.bind_ip == "127.0.0.1"


def test_the_local_address_and_the_options_server_come_from_the_parser():
    assert local_address_for("sip:600@127.0.0.1:5080") == "127.0.0.1"
    assert local_address_for("sip:600@[::1]") == "::1"
    prober = Prober(pool=None, make_spec=None, uri="sip:600@[::1]:5080;transport=tcp", transport="tcp",
                    call_interval_s=None, options_interval_s=None, out=None)
    assert prober.server == "sip:[::1]:5080"  # OPTIONS ask the server, not user 600 (RFC 3261 11)
    with pytest.raises(SipUriError, match=r"^the target URI has port 0, outside 1-65535$"):
        local_address_for("sip:600@127.0.0.1:0")
