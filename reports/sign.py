"""SSHSIG detached signatures with Ed25519, byte-compatible with `ssh-keygen -Y sign/verify`.

The format is OpenSSH's PROTOCOL.sshsig:

    armored:      "-----BEGIN SSH SIGNATURE-----\\n", base64 of the blob wrapped at
                  70 columns (what ssh-keygen writes), "-----END SSH SIGNATURE-----\\n"
    blob:         "SSHSIG" uint32(1) string(publickey) string(namespace)
                  string(reserved) string(hash_algorithm) string(signature)
    signed data:  "SSHSIG" string(namespace) string(reserved) string(hash_algorithm)
                  string(H(message))

`string` is RFC 4253 5: a uint32 length and the bytes. An Ed25519 public key
and signature are encoded per RFC 8709 4 and 6. Ed25519 is deterministic
(RFC 8032 5.1.6), so for one key, namespace and message this module writes
exactly the bytes ssh-keygen writes.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from callproof.reports import layout

MAGIC = b"SSHSIG"
VERSION = 1
KEY_TYPE = "ssh-ed25519"
HASH_ALGORITHM = "sha512"  # what ssh-keygen uses by default
_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}  # the two PROTOCOL.sshsig allows
BEGIN = "-----BEGIN SSH SIGNATURE-----"
END = "-----END SSH SIGNATURE-----"
_WRAP = 70  # ssh-keygen's armor line length (sshbuf_dtob64 with wrapping)


class SignatureError(ValueError):
    """A signature file is malformed, unsupported, or does not verify; the message says which."""


@dataclasses.dataclass(frozen=True)
class SshSignature:
    """One parsed SSHSIG blob."""

    public_key: Ed25519PublicKey
    namespace: str
    hash_algorithm: str
    signature: bytes  # the raw 64-byte Ed25519 signature
    blob: bytes  # the whole decoded blob

    @property
    def canonical(self) -> str:
        """This signature armored as ssh-keygen writes it, to tell an altered file from the original."""
        return armor(self.blob)


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Reader:
    """Reads RFC 4253 wire fields, with one sentence per way it can be short."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._at = 0
        self._what = what

    def take(self, n: int) -> bytes:
        if self._at + n > len(self._data):
            raise SignatureError(f"{self._what} is truncated")
        out = self._data[self._at : self._at + n]
        self._at += n
        return out

    def uint32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def string(self) -> bytes:
        return self.take(self.uint32())

    def end(self) -> None:
        if self._at != len(self._data):
            raise SignatureError(f"{self._what} has {len(self._data) - self._at} bytes after its last field")


def public_key_blob(key: Ed25519PublicKey) -> bytes:
    """The key in SSH wire format (RFC 8709 4): string "ssh-ed25519", string key."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _string(KEY_TYPE.encode()) + _string(raw)


def public_key_from_blob(blob: bytes) -> Ed25519PublicKey:
    reader = _Reader(blob, "the public key")
    key_type = reader.string().decode("ascii", "replace")
    if key_type != KEY_TYPE:
        raise SignatureError(f"the key is {key_type}; callproof signs and verifies {KEY_TYPE} only")
    raw = reader.string()
    reader.end()
    if len(raw) != 32:
        raise SignatureError(f"the Ed25519 public key has {len(raw)} bytes, not 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_line(key: Ed25519PublicKey, comment: str = "") -> str:
    """The key as one OpenSSH public-key line (the format of `*.pub` and allowed_signers)."""
    line = f"{KEY_TYPE} {base64.b64encode(public_key_blob(key)).decode()}"
    return f"{line} {comment}" if comment else line


def fingerprint(key: Ed25519PublicKey) -> str:
    """`ssh-keygen -l` fingerprint: SHA256 of the key blob, base64 without padding."""
    digest = hashlib.sha256(public_key_blob(key)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _signed_data(namespace: str, hash_algorithm: str, message: bytes) -> bytes:
    digest = _HASHES[hash_algorithm](message).digest()
    return (
        MAGIC
        + _string(namespace.encode())
        + _string(b"")  # reserved
        + _string(hash_algorithm.encode())
        + _string(digest)
    )


def sign(message: bytes, key: Ed25519PrivateKey, namespace: str = layout.SIGNATURE_NAMESPACE) -> str:
    """An armored SSHSIG signature of `message`, as `ssh-keygen -Y sign -n NAMESPACE` writes it."""
    if not namespace:
        raise ValueError("the SSHSIG namespace must not be empty")
    raw_signature = key.sign(_signed_data(namespace, HASH_ALGORITHM, message))
    blob = (
        MAGIC
        + struct.pack(">I", VERSION)
        + _string(public_key_blob(key.public_key()))
        + _string(namespace.encode())
        + _string(b"")
        + _string(HASH_ALGORITHM.encode())
        + _string(_string(KEY_TYPE.encode()) + _string(raw_signature))  # RFC 8709 6
    )
    return armor(blob)


def armor(blob: bytes) -> str:
    """The armored form of a blob, exactly as ssh-keygen writes it."""
    encoded = base64.b64encode(blob).decode()
    lines = [encoded[i : i + _WRAP] for i in range(0, len(encoded), _WRAP)]
    return "\n".join([BEGIN, *lines, END]) + "\n"


def parse(armored: bytes | str) -> SshSignature:
    """Parse an armored SSHSIG; raises SignatureError naming what is wrong."""
    text = armored.decode("ascii", "replace") if isinstance(armored, bytes) else armored
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != BEGIN or lines[-1] != END:
        raise SignatureError("it is not an armored SSH signature (BEGIN/END SSH SIGNATURE lines)")
    try:
        blob = base64.b64decode("".join(lines[1:-1]), validate=True)
    except binascii.Error:
        raise SignatureError("its base64 body is corrupt") from None
    reader = _Reader(blob, "the signature")
    if reader.take(6) != MAGIC:
        raise SignatureError("its blob does not start with SSHSIG")
    version = reader.uint32()
    if version != VERSION:
        raise SignatureError(f"it is SSHSIG version {version}; callproof reads version {VERSION}")
    public_key = public_key_from_blob(reader.string())
    namespace = reader.string().decode("utf-8", "replace")
    reader.string()  # reserved: ignored, as PROTOCOL.sshsig says
    hash_algorithm = reader.string().decode("ascii", "replace")
    if hash_algorithm not in _HASHES:
        raise SignatureError(f"its hash algorithm {hash_algorithm!r} is not sha256 or sha512")
    sig_reader = _Reader(reader.string(), "the Ed25519 signature")
    reader.end()
    sig_type = sig_reader.string().decode("ascii", "replace")
    if sig_type != KEY_TYPE:
        raise SignatureError(f"its signature is {sig_type}, not {KEY_TYPE}")
    raw_signature = sig_reader.string()
    sig_reader.end()
    return SshSignature(public_key, namespace, hash_algorithm, raw_signature, blob)


def verify(message: bytes, armored: bytes | str, namespace: str = layout.SIGNATURE_NAMESPACE) -> SshSignature:
    """Check `armored` over `message` in `namespace`; return it (with the signer's key).

    This proves only that the key inside the signature signed the message: the
    caller decides whether that key is trusted.
    """
    signature = parse(armored)
    if signature.namespace != namespace:
        raise SignatureError(f"it was made for namespace {signature.namespace!r}, not {namespace!r}")
    try:
        signature.public_key.verify(signature.signature, _signed_data(namespace, signature.hash_algorithm, message))
    except InvalidSignature:
        raise SignatureError("it does not match the signed file") from None
    return signature
