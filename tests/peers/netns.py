"""A network namespace the test makes around a peer, joined to this machine by a veth pair.

Traffic to the peer crosses the pair, so rules inside the namespace (iptables' statistic
match: random loss) touch the far side only. The namespace and its interfaces are removed
on exit, whatever happened.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess


def can_make_namespaces() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which("iptables") is not None


class Namespace:
    """`name` with `ns_ip` inside and `host_ip` on this machine's end of the pair (a /30 of its own)."""

    def __init__(self, tag: str) -> None:
        n = os.getpid() % 16000
        self.name = f"cp{tag}{n}"[:15]
        self.host_if, self.ns_if = f"vh{n}{tag}"[:15], f"vn{n}{tag}"[:15]
        base = 4 * (n % 16000)  # a /30 in 10.213.0.0/16 per test process
        self.host_ip = f"10.213.{base // 256 % 256}.{base % 256 + 1}"
        self.ns_ip = f"10.213.{base // 256 % 256}.{base % 256 + 2}"

    def __enter__(self) -> "Namespace":
        commands = [
            ["ip", "netns", "add", self.name],
            ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if],
            ["ip", "link", "set", self.ns_if, "netns", self.name],
            ["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if],
            ["ip", "link", "set", self.host_if, "up"],
            self.inside("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if),
            self.inside("ip", "link", "set", self.ns_if, "up"),
            self.inside("ip", "link", "set", "lo", "up"),
        ]
        try:
            for command in commands:
                subprocess.run(command, check=True, capture_output=True, timeout=10)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, timeout=10)  # gone with it, usually

    def inside(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def drop_randomly(self, *, port: int, probability: float, min_length: int = 0) -> None:
        """Drop datagrams arriving for the peer's `port` with `probability` (iptables statistic), before
        the peer reads them; only IP packets of at least `min_length` bytes, if given. (Dropping what
        the peer sends would fail its sendto() with EPERM: SIPp's echo stops at the first one.)"""
        subprocess.run(self.inside("iptables", "-A", "INPUT", "-p", "udp", "-d", self.ns_ip, "--dport", str(port),
                                   "-m", "length", "--length", f"{min_length}:65535",
                                   "-m", "statistic", "--mode", "random", "--probability", f"{probability:g}",
                                   "-j", "DROP"), check=True, capture_output=True, timeout=10)

    def dropped(self) -> int:
        """Datagrams the drop rule has dropped so far: the ground truth of the injected loss."""
        listing = subprocess.run(self.inside("iptables", "-L", "INPUT", "-v", "-x", "-n"), check=True,
                                 capture_output=True, text=True, timeout=10).stdout
        return sum(int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\s+\d+\s+DROP\b", listing, re.MULTILINE))
