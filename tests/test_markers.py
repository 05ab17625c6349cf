"""The layer markers a process needs (tests/markers.py): what tests/conftest.py holds every test to."""

from __future__ import annotations

import sys

import pytest

from tests.markers import markers_needed

PY = sys.executable


@pytest.mark.parametrize(
    ("argv", "needed"),
    [
        (["sipp", "-sn", "uas", "-rtp_echo", "-p", "5070"], {"peers"}),
        ("/usr/sbin/kamailio -f kamailio.cfg -DD -E", {"peers"}),
        (["/usr/bin/dumpcap", "-i", "lo", "-w", "media.pcap"], {"peers"}),
        (["tcpdump", "-i", "lo", "-w", "wire.pcap"], {"peers"}),
        (["baresip", "-f", "conf"], {"peers"}),
        (["rtpengine", "--config-file=none", "-f"], {"peers"}),
        (["/usr/bin/prometheus", "--config.file=p.yml"], {"peers"}),
        ([PY, "-P", "-m", "callproof.sip.worker"], {"sip_engine"}),
        ([PY, "-P", "-m", "callproof.sip.engine.info", "--json"], {"sip_engine"}),
        ([PY, "-P", "-m", "callproof.harness.cli", "engine", "info", "--json"], {"sip_engine"}),
        ([PY, "-P", "-m", "callproof.harness.cli", "run", "smoke", "--out", "x"], {"e2e"}),
        ([PY, "-P", "-m", "callproof.harness.cli", "run", "s.yaml", "--worker"], {"e2e"}),
        # Every other command in a child process too: the unit layer calls the code in its own process.
        ([PY, "-P", "-m", "callproof.harness.cli", "report", "run"], {"e2e"}),
        ([PY, "-P", "-m", "callproof.harness.cli", "verify", "run", "--pubkey", "k.pub"], {"e2e"}),
        ([PY, "-P", "-m", "callproof.harness.cli"], {"e2e"}),
        (["tshark", "-r", "f.pcap"], set()),
        (["ssh-keygen", "-Y", "verify"], set()),
        (["bash", "-c", "sipp -sn uas"], set()),  # what a shell runs is not seen: mark such tests by hand
        ([], set()),
        (b"sipp -sn uas", {"peers"}),
    ],
)
def test_the_marker_a_command_line_needs(argv, needed):
    assert markers_needed(argv) == needed
