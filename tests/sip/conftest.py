"""Peers and engine processes for the SIP engine tests."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import struct
import wave
from pathlib import Path

import pytest

from callproof.harness.run.ports import pjsua_range
from callproof.sip.pool import EnginePool, stop_pools
from callproof.sip.settings import EngineSettings
from tests.peers import sipp


@pytest.fixture(scope="session")
def sipp_reject_486(run_dir):
    peer = sipp.scripted_uas(run_dir, "uas_reject", code="486")
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def sipp_ringing(run_dir):
    peer = sipp.scripted_uas(run_dir, "uas_ring_forever")
    yield peer
    peer.stop()


class Engines:
    """Starts engine pools for a test and always stops them.

    A process left on EngineSettings' default RTP ports gets a range claimed for it
    (tests/conftest.py media_ports), as a run's processes do.
    """

    def __init__(self, log_dir: Path, ports) -> None:
        self.log_dir = log_dir
        self.ports = ports
        self.pools: list[EnginePool] = []

    def start(self, *settings: EngineSettings) -> EnginePool:
        settings = tuple(self._placed(s) for s in settings)
        pool = EnginePool.of(list(settings), log_dir=self.log_dir)
        self.pools.append(pool)
        pool.start()
        return pool

    def stop_all(self) -> None:
        stop_pools(self.pools)

    def _placed(self, settings: EngineSettings) -> EngineSettings:
        default = EngineSettings()
        if (settings.rtp_port, settings.rtp_port_range) != (default.rtp_port, default.rtp_port_range):
            return settings
        ports = self.ports.claim(settings.rtp_port_range + 2)
        return dataclasses.replace(settings, rtp_port=ports.start, rtp_port_range=pjsua_range(len(ports)))


@pytest.fixture
def engines(run_dir, media_ports):
    engines = Engines(run_dir, media_ports)
    yield engines
    engines.stop_all()
    # Orderly shutdown is part of the contract: never pjsua's abort (134).
    for pool in engines.pools:
        for process in pool.processes:
            assert process.returncode == 0, f"{process.name} exited with {process.returncode}"


@pytest.fixture(scope="session")
def tone_wav(run_dir) -> Path:
    """A 2 s, 8 kHz, 16-bit mono WAV of a 440 Hz tone (loud enough to measure)."""
    path = run_dir / "tone.wav"
    rate = 8000
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * n / rate))) for n in range(2 * rate)
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


@pytest.fixture(scope="session")
def tls_files(run_dir) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = run_dir / "tls.crt", run_dir / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path
