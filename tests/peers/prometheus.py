"""A real Prometheus server for tests (Debian's package `prometheus`), on 127.0.0.1.

It scrapes `targets` ports on 127.0.0.1 (free ports chosen at its start, one per
test run, each run's series told apart by its `instance`) every second, with its own
configuration and data folder under the test's tmp folder (one hour of
retention at most, the data folder gone with tmp). `start_prometheus` returns
once the server says it is ready; `Prometheus.query` asks its HTTP API.
Stopped by its PID.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import socket
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

from tests.peers.net import free_port
from tests.waiting import wait_until

PROGRAM = shutil.which("prometheus") or "/usr/bin/prometheus"
SCRAPE_INTERVAL_S = 1
_READY_TIMEOUT_S = 30.0

CONFIG = """\
global:
  scrape_interval: {interval}s
  scrape_timeout: {interval}s
scrape_configs:
  - job_name: callproof
    static_configs:
      - targets: [{targets}]
"""


@dataclasses.dataclass
class Prometheus:
    process: subprocess.Popen
    port: int
    target_ports: list[int]  # the metrics ports it scrapes
    log: Path

    def query(self, promql: str) -> list[dict]:
        """The result vector of an instant query ([{"metric": {...}, "value": [t, "v"]}])."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def scalar(self, promql: str) -> float | None:
        """The one value of a query that gives one series, or None when it gives none."""
        result = self.query(promql)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_prometheus(folder: Path, targets: int = 1) -> Prometheus:
    """Prometheus scraping `targets` free ports of 127.0.0.1 every second (its `target_ports`)."""
    folder.mkdir(parents=True, exist_ok=True)
    ports: list[int] = []
    while len(ports) < targets + 1:
        port = free_port(socket.SOCK_STREAM)
        if port not in ports:
            ports.append(port)
    port, target_ports = ports[0], ports[1:]
    config = folder / "prometheus.yml"
    listed = ", ".join(f'"127.0.0.1:{p}"' for p in target_ports)
    config.write_text(CONFIG.format(interval=SCRAPE_INTERVAL_S, targets=listed))
    log = folder / "prometheus.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [PROGRAM, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
             "--storage.tsdb.retention.time=1h", f"--web.listen-address=127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    server = Prometheus(process, port, target_ports, log)
    try:
        wait_until(lambda: server.ready() or process.poll() is not None, _READY_TIMEOUT_S, what="Prometheus ready")
        if process.poll() is not None:
            raise RuntimeError(f"Prometheus exited {process.returncode}: {log.read_text()[-2000:]}")
    except BaseException:
        server.stop()
        raise
    return server
