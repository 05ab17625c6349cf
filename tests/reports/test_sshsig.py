"""SSHSIG signatures and OpenSSH keys against the oracle: OpenSSH's own ssh-keygen."""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from callproof.reports import keys, sign
from callproof.reports.errors import ReportInputError

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (openssh-client)")
NAMESPACE = "callproof-bundle"
MESSAGE = b"3357624f856991eca67acd011b007d64d86590ee4449537427cb06e8023d76f2  calls.jsonl\n"


def ssh_keygen(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh-keygen", *args], input=stdin, capture_output=True, cwd=cwd, timeout=30)


@pytest.fixture
def openssh_key(tmp_path) -> Path:
    """An Ed25519 key made by ssh-keygen itself."""
    path = tmp_path / "id_ed25519"
    assert ssh_keygen("-q", "-t", "ed25519", "-N", "", "-C", "buyer@example", "-f", str(path)).returncode == 0
    return path


def test_signature_is_byte_identical_to_ssh_keygen(openssh_key, tmp_path):
    # Ed25519 is deterministic (RFC 8032 5.1.6): same key, namespace and message give the same bytes.
    message = tmp_path / "SHA256SUMS"
    message.write_bytes(MESSAGE)
    assert ssh_keygen("-Y", "sign", "-f", str(openssh_key), "-n", NAMESPACE, str(message)).returncode == 0
    ours = sign.sign(MESSAGE, keys.load_private(openssh_key), NAMESPACE)
    assert ours.encode() == (tmp_path / "SHA256SUMS.sig").read_bytes()


def test_ssh_keygen_verifies_our_signature(signing_key, tmp_path):
    public_line = keys.public_path(signing_key).read_text().strip()
    (tmp_path / "allowed_signers").write_text(f"vendor@example {public_line}\n")
    (tmp_path / "msg.sig").write_text(sign.sign(MESSAGE, keys.load_private(signing_key)))
    result = ssh_keygen(
        "-Y",
        "verify",
        "-f",
        str(tmp_path / "allowed_signers"),
        "-I",
        "vendor@example",
        "-n",
        NAMESPACE,
        "-s",
        str(tmp_path / "msg.sig"),
        stdin=MESSAGE,
    )
    assert result.returncode == 0, result.stderr
    assert b'Good "callproof-bundle" signature for vendor@example' in result.stdout


@pytest.mark.parametrize("hash_algorithm", ["sha512", "sha256"])
def test_we_verify_ssh_keygen_signatures(openssh_key, tmp_path, hash_algorithm):
    message = tmp_path / "m"
    message.write_bytes(MESSAGE)
    made = ssh_keygen(
        "-Y", "sign", "-f", str(openssh_key), "-n", NAMESPACE, "-O", f"hashalg={hash_algorithm}", str(message)
    )
    assert made.returncode == 0, made.stderr
    signature = sign.verify(MESSAGE, (tmp_path / "m.sig").read_bytes(), NAMESPACE)
    assert signature.hash_algorithm == hash_algorithm
    assert sign.public_key_line(signature.public_key) == " ".join(keys.public_path(openssh_key).read_text().split()[:2])


def test_fingerprint_matches_ssh_keygen(signing_key):
    listed = ssh_keygen("-l", "-f", str(keys.public_path(signing_key)))
    assert listed.returncode == 0
    expected = listed.stdout.split()[1].decode()
    assert sign.fingerprint(keys.load_public(keys.public_path(signing_key))) == expected


def test_signature_fails_on_another_message_or_namespace(signing_key):
    armored = sign.sign(MESSAGE, keys.load_private(signing_key))
    with pytest.raises(sign.SignatureError, match="^it does not match the signed file$"):
        sign.verify(MESSAGE + b"x", armored)
    with pytest.raises(sign.SignatureError, match="^it was made for namespace 'callproof-bundle', not 'file'$"):
        sign.verify(MESSAGE, armored, "file")


def test_malformed_signatures_are_named(signing_key):
    armored = sign.sign(MESSAGE, keys.load_private(signing_key))
    body = "".join(armored.splitlines()[1:-1])
    blob = base64.b64decode(body)

    def armor(data: bytes) -> str:
        return f"{sign.BEGIN}\n{base64.b64encode(data).decode()}\n{sign.END}\n"

    cases = {
        "garbage": ("not a signature", "it is not an armored SSH signature (BEGIN/END SSH SIGNATURE lines)"),
        "truncated": (armor(blob[:-10]), "the signature is truncated"),
        "magic": (armor(b"SSHSIX" + blob[6:]), "its blob does not start with SSHSIG"),
        "version": (
            armor(blob[:6] + b"\x00\x00\x00\x02" + blob[10:]),
            "it is SSHSIG version 2; callproof reads version 1",
        ),
        "trailing": (armor(blob + b"\x00"), "the signature has 1 bytes after its last field"),
        "base64": (f"{sign.BEGIN}\n{body[:-4]}*!*!\n{sign.END}\n", "its base64 body is corrupt"),
    }
    for name, (text, message) in cases.items():
        with pytest.raises(sign.SignatureError) as caught:
            sign.parse(text)
        assert str(caught.value) == message, name


def test_keygen_writes_openssh_files_with_private_mode(tmp_path):
    path = tmp_path / "k"
    public = keys.generate(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----\n")
    # ssh-keygen derives the same public key from our private key file.
    derived = ssh_keygen("-y", "-f", str(path))
    assert derived.returncode == 0
    assert derived.stdout.split()[:2] == keys.public_path(path).read_bytes().split()[:2]
    assert sign.public_key_line(public).encode() == b" ".join(derived.stdout.split()[:2])
    with pytest.raises(ReportInputError, match="already exists; callproof never overwrites a key"):
        keys.generate(path)


def test_keys_callproof_cannot_use_are_refused_in_one_sentence(tmp_path):
    rsa = tmp_path / "rsa"
    assert ssh_keygen("-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(rsa)).returncode == 0
    with pytest.raises(ReportInputError, match=r"rsa is not an Ed25519 key; callproof signs with Ed25519"):
        keys.load_private(rsa)
    with pytest.raises(
        ReportInputError, match=r"rsa.pub holds a ssh-rsa key; callproof bundles are signed with ssh-ed25519"
    ):
        keys.load_public(Path(f"{rsa}.pub"))
    locked = tmp_path / "locked"
    assert ssh_keygen("-q", "-t", "ed25519", "-N", "passphrase", "-f", str(locked)).returncode == 0
    with pytest.raises(ReportInputError, match="is protected by a passphrase"):
        keys.load_private(locked)
    with pytest.raises(ReportInputError, match="does not exist"):
        keys.load_private(tmp_path / "nothing")


def test_allowed_signers_options(signing_key, other_key, tmp_path):
    ours = keys.public_path(signing_key).read_text().split()
    theirs = keys.public_path(other_key).read_text().split()
    rsa_line = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ"  # another key type: skipped, not an error
    path = tmp_path / "allowed_signers"
    path.write_text(
        "# trusted vendors\n"
        f'"vendor one,ops@example" namespaces="callproof-*,!other" {ours[0]} {ours[1]} comment\n'
        f'git@example namespaces="git" {theirs[0]} {theirs[1]}\n'
        f"ca@example cert-authority {theirs[0]} {theirs[1]}\n"
        f"rsa@example {rsa_line}\n"
    )
    trusted = keys.load_allowed_signers(path, "ops@example")
    assert [(t.principal, t.where, sign.fingerprint(t.key)) for t in trusted] == [
        ("ops@example", 'allowed_signers line 2 (vendor one,ops@example)',
         sign.fingerprint(keys.load_public(keys.public_path(signing_key))))
    ]
    # As ssh-keygen -Y verify -I: only a line whose principals match the signer counts.
    with pytest.raises(ReportInputError, match="trusts no Ed25519 key of 'git@example' for namespace"):
        keys.load_allowed_signers(path, "git@example")
    path.write_text(f'x@example valid-before="20300101" {ours[0]} {ours[1]}\n')
    with pytest.raises(ReportInputError, match="option valid-before is not supported by callproof verify"):
        keys.load_allowed_signers(path, "x@example")
    path.write_text(f'x@example namespaces="git" {ours[0]} {ours[1]}\n')
    with pytest.raises(ReportInputError, match="trusts no Ed25519 key of 'x@example' for namespace 'callproof-bundle'"):
        keys.load_allowed_signers(path, "x@example")


def test_default_key_is_made_once_and_said_once(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    said: list[str] = []
    first = keys.ensure_default_key(said.append)
    second = keys.ensure_default_key(said.append)
    assert first == second == tmp_path / "xdg" / "callproof" / "signing_key"
    assert said == [f"made a signing key at {first} (public key {first}.pub); it signs every bundle from now on"]
    assert stat.S_IMODE(os.stat(first.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600
