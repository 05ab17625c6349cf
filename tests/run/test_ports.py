"""Media port ranges: claimed machine-wide, never overlapping another run's, another program's or
the kernel's ephemeral ports, and pjsua's inclusive upper bound kept inside the claim."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from callproof.harness.errors import HarnessError
from callproof.harness.run.ports import PortRegistry, merged, pjsua_range, usable_span

SPAN = range(12000, 12400)  # a span of our own, outside callproof's and the kernel's ephemeral ports


@pytest.fixture
def lock_path(tmp_path):
    return tmp_path / "ports.lock"


def test_pjsua_stays_inside_and_adjacent_ranges_join():
    assert pjsua_range(16) == 14  # pairs at P .. P+14: the pair P+16 belongs to the next range
    assert merged([range(10, 20), range(30, 40), range(20, 30), range(50, 60)]) == [range(10, 40), range(50, 60)]


def test_two_registries_never_claim_the_same_ports(lock_path):
    first = PortRegistry("127.0.0.1", lock_path=lock_path, span=SPAN, first=SPAN.start)
    second = PortRegistry("127.0.0.1", lock_path=lock_path, span=SPAN, first=SPAN.start)  # another run, same machine
    try:
        a = [first.claim(16) for _ in range(3)]
        b = [second.claim(16) for _ in range(3)]
        ports_a = {p for r in a for p in r}
        assert ports_a.isdisjoint({p for r in b for p in r})
        assert a[0] == range(12000, 12016) and b[0] == range(12048, 12064)
    finally:
        first.close()
    # The first run ended: its ports are free again.
    third = PortRegistry("127.0.0.1", lock_path=lock_path, span=SPAN, first=SPAN.start)
    try:
        assert third.claim(16) == range(12000, 12016)
    finally:
        second.close()
        third.close()


def test_another_process_holding_a_range_is_skipped(lock_path):
    code = ("import sys; from pathlib import Path; from callproof.harness.run.ports import PortRegistry; "
            f"r = PortRegistry('127.0.0.1', lock_path=Path({str(lock_path)!r}), span=range(12000, 12400), "
            "first=12000); "
            "print(r.claim(100), flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-P", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "range(12000, 12100)"
        ours = PortRegistry("127.0.0.1", lock_path=lock_path, span=SPAN, first=SPAN.start)
        assert ours.claim(16) == range(12100, 12116)
        ours.close()
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def test_ports_another_program_bound_are_skipped(lock_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("127.0.0.1", 12005))  # e.g. SIPp's -mp, a PBX's RTP
        registry = PortRegistry("127.0.0.1", lock_path=lock_path, span=SPAN, first=SPAN.start)
        try:
            assert registry.claim(16) == range(12006, 12022)
            assert registry.claim(16) == range(12022, 12038)
        finally:
            registry.close()


def test_without_any_lock_a_bound_port_is_still_skipped():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("127.0.0.1", 12005))
        registry = PortRegistry("127.0.0.1", lock_path=None, span=SPAN, first=SPAN.start)
        assert registry.claim(16) == range(12006, 12022)


def test_a_full_span_says_so(lock_path):
    registry = PortRegistry("127.0.0.1", lock_path=lock_path, span=range(12000, 12040), first=12000)
    try:
        registry.claim(32)
        with pytest.raises(HarnessError, match="no free range of 16 media ports is left in 12000-12039"):
            registry.claim(16)
    finally:
        registry.close()


def test_without_the_shared_lock_file_ranges_are_still_test_bound(tmp_path):
    (tmp_path / "locks").mkdir()
    # A folder where the lock file should be: it cannot be opened.
    registry = PortRegistry("127.0.0.1", lock_path=tmp_path / "locks", span=SPAN, first=SPAN.start)
    try:
        assert registry.claim(16) == range(12000, 12016)
    finally:
        registry.close()


def test_a_run_starts_anywhere_in_the_span_and_wraps_around(lock_path):
    registry = PortRegistry("127.0.0.1", lock_path=lock_path, span=SPAN, first=12370)
    try:
        assert registry.claim(16) == range(12370, 12386)
        assert registry.claim(16) == range(12000, 12016)  # 12386 + 16 would leave the span
    finally:
        registry.close()
    starts = {PortRegistry("127.0.0.1", lock_path=None, span=range(16384, 32768))._next for _ in range(20)}
    assert len(starts) > 10 and all(s % 2 == 0 and 16384 <= s < 32768 for s in starts)


def test_the_kernels_ephemeral_ports_are_left_out():
    assert usable_span(16384, 32768, range(32768, 61000)) == range(16384, 32768)
    assert usable_span(16384, 32768, range(20000, 61000)) == range(16384, 20000)
    assert usable_span(16384, 32768, range(1024, 20000)) == range(20000, 32768)
    assert usable_span(16384, 32768, None) == range(16384, 32768)
