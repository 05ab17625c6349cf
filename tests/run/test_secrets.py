"""No secret in the bundle: the digest password and the digest response a run used appear nowhere,
not in the records, logs, reports, nor the run's own media capture."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess

import pytest

from tests.cli import callproof
from tests.peers import sipp
from tests.peers.kamailio import kamailio_factory  # noqa: F401 (fixture)
from tests.run.helpers import write_scenario
from tests.waiting import wait_until

pytestmark = [pytest.mark.peers, pytest.mark.e2e]  # Kamailio, SIPp, tcpdump and `callproof run`

PASSWORD = "Xq7-digest-secret-42"
SCENARIO = """\
name: secrets
description: "Callers register with digest credentials, then call through the proxy."
seed: 3
target:
  uri: sip:600@127.0.0.1:{port}
  register: true
  from_user: caller
  credentials:
    username_env: CALLPROOF_SECRETS_TEST_USER
    password_env: CALLPROOF_SECRETS_TEST_PASSWORD
    realm: callproof
load:
  mode: concurrency
  peak_concurrent: 2
  ramp_up_s: 0
  duration_s: 5
  ramp_down_s: 0
  max_cps: 5
  max_concurrent: 4
call:
  codecs: [PCMU]
  ring_timeout_s: 5
  talk_time: {{distribution: fixed, value_s: 1}}
  prompt: {prompt}
  record_fraction: 1.0
probes:
  call_interval_s: 2
  options_interval_s: 1
capture:
  enabled: true
  seconds: null
sla: {{}}
"""


@pytest.fixture(scope="module")
def backend(run_dir):
    peer = sipp.scripted_uas(run_dir, "uas_behind_proxy")
    yield peer
    peer.stop()


def test_neither_the_password_nor_the_digest_response_reaches_the_bundle(tmp_path, kamailio_factory, backend):  # noqa: F811
    if shutil.which("tcpdump") is None:
        pytest.fail("tcpdump is needed to learn the digest response (Debian package tcpdump; .ci/run installs it)")
    proxy = kamailio_factory(backends=(f"sip:127.0.0.1:{backend.port}",), agent_password=PASSWORD)
    scenario = write_scenario(tmp_path / "secrets.yaml",
                              SCENARIO.format(port=proxy.port, prompt="null"))
    wire, said = tmp_path / "wire.pcap", tmp_path / "tcpdump.log"  # outside the bundle: the test's own witness
    with open(said, "wb") as log:
        capture = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "0", "-U", "-w", str(wire),
                                    f"udp port {proxy.port}"], stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: b"listening on" in said.read_bytes() or capture.poll() is not None, 10,
                   what="tcpdump listening")
        assert capture.poll() is None, said.read_text()
        out = tmp_path / "bundle"
        result = callproof("run", str(scenario), "--out", str(out), "--quiet",
                           env={"CALLPROOF_SECRETS_TEST_USER": "caller", "CALLPROOF_SECRETS_TEST_PASSWORD": PASSWORD})
    finally:
        capture.send_signal(signal.SIGINT)
        capture.wait(timeout=10)
    assert result.returncode in (0, 1, 4), result.stderr

    responses = set(re.findall(rb'response="([0-9a-f]{32})"', wire.read_bytes()))
    assert responses, "the callers never answered a digest challenge: the test proves nothing"
    secrets = {PASSWORD.encode(), *responses}
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 10 and {"calls.jsonl", "media.pcap"} <= {p.name for p in files}
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret not in data, f"{secret!r} found in {path.relative_to(out)}"
