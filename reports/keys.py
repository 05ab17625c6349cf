"""Ed25519 signing keys in OpenSSH's formats, and the trusted keys `verify` accepts.

A private key is the file `ssh-keygen -t ed25519` writes (`-----BEGIN OPENSSH
PRIVATE KEY-----`, unencrypted, mode 0600); its public half is one line,
`ssh-ed25519 BASE64 COMMENT`, in PATH.pub. So keys move freely between
callproof and OpenSSH. Keys never live inside a bundle.

As ssh-keygen does, a private key that group or others may read is refused (mode
0600 or stricter), and it must be a regular file of at most MAX_PRIVATE_BYTES; a
public key or allowed_signers file is read up to MAX_PUBLIC_BYTES (a pipe, as from
`<(...)`, is fine). So `--key /dev/zero` is one sentence, not a MemoryError.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import stat
from pathlib import Path
from typing import Callable

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_ssh_private_key,
    load_ssh_public_key,
)

from callproof.reports import layout, sign
from callproof.reports.errors import ReportInputError
from callproof.reports.terminal import escape

KEY_COMMENT = "callproof signing key"
MAX_PRIVATE_BYTES = 64 << 10  # an OpenSSH Ed25519 private key is about 400 bytes
MAX_PUBLIC_BYTES = 1 << 20


def default_key_path() -> Path:
    """Where the per-user key lives: $XDG_CONFIG_HOME/callproof/signing_key (XDG base dirs)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "callproof" / "signing_key"


def public_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.name + ".pub")


def generate(path: Path) -> Ed25519PublicKey:
    """Write a new key to `path` (mode 0600) and `path`.pub; never overwrite either."""
    path = Path(path)
    pub_path = public_path(path)
    if not path.parent.is_dir():
        raise ReportInputError(f"{path.parent} is not a folder; create it first")
    for target in (path, pub_path):
        if target.exists() or target.is_symlink():
            raise ReportInputError(f"{target} already exists; callproof never overwrites a key")
    key = Ed25519PrivateKey.generate()
    private_bytes = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    # O_EXCL: created with mode 0600 from the first byte, and two racing writers cannot both win.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ReportInputError(f"{path} already exists; callproof never overwrites a key") from None
    with os.fdopen(fd, "wb") as out:
        out.write(private_bytes)
    pub_path.write_text(sign.public_key_line(key.public_key(), KEY_COMMENT) + "\n")
    return key.public_key()


@dataclasses.dataclass(frozen=True)
class SigningKey:
    """A private key read once, and where from (`callproof run` reads it before it starts any child).

    `secret_forms` are byte strings that betray the key wherever they appear: its file's text around the
    secret half, and that half (the 32-byte Ed25519 seed) raw, in hex and in base64 at each alignment. A
    bundle holding one is never signed (callproof.reports.bundle): a program the run started copied the key.
    """

    private: Ed25519PrivateKey = dataclasses.field(repr=False)
    path: Path
    secret_forms: tuple[bytes, ...] = dataclasses.field(repr=False, default=())


def open_signing_key(path: Path | None, notify: Callable[[str], None]) -> SigningKey:
    """The key at `path`, or the per-user key (made on first use), read once."""
    path = Path(path) if path is not None else ensure_default_key(notify)
    data = _read_private(path)
    key = _parse_private(data, escape(str(path)))
    return SigningKey(key, path, _secret_forms(key, data))


def load_private(path: Path) -> Ed25519PrivateKey:
    """Read an unencrypted OpenSSH Ed25519 private key, or say in one sentence why not."""
    return _parse_private(_read_private(Path(path)), escape(str(path)))


def _read_private(path: Path) -> bytes:
    shown = escape(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ReportInputError(
            f"signing key {shown} does not exist (make one with `callproof keygen --out {shown}`)"
        ) from None
    except OSError as exc:
        raise ReportInputError(f"cannot read signing key {shown}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as stream:
        facts = os.fstat(fd)
        if not stat.S_ISREG(facts.st_mode):
            raise ReportInputError(f"signing key {shown} is not a regular file")
        if facts.st_mode & 0o077:
            raise ReportInputError(
                f"signing key {shown} may be read by group or others (mode {stat.S_IMODE(facts.st_mode):04o}); "
                f"keep it private, as ssh-keygen requires: chmod 600 {shown}"
            )
        data = stream.read(MAX_PRIVATE_BYTES + 1)
    if len(data) > MAX_PRIVATE_BYTES:
        raise ReportInputError(f"{shown} is larger than {MAX_PRIVATE_BYTES:,} bytes: it is not an OpenSSH private key")
    return data


def _parse_private(data: bytes, shown: str) -> Ed25519PrivateKey:
    try:
        key = load_ssh_private_key(data, password=None)
    except TypeError:  # cryptography's word for "encrypted, and no password given"
        raise ReportInputError(
            f"{shown} is protected by a passphrase; callproof signs unattended and needs an unencrypted key"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ReportInputError(f"{shown} is not an OpenSSH private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ReportInputError(f"{shown} is not an Ed25519 key; callproof signs with Ed25519 (`callproof keygen`)")
    return key


def _secret_forms(key: Ed25519PrivateKey, text: bytes) -> tuple[bytes, ...]:
    seed = key.private_bytes_raw()
    forms = [seed, seed.hex().encode(), seed.hex().upper().encode()]
    for shift in range(3):  # base64 of the seed wherever it sits in a longer encoded blob
        encoded = base64.b64encode(bytes(shift) + seed + bytes(2))
        inner = encoded[(4 * shift + 5) // 3: (4 * (shift + 32)) // 3 - 1]  # the characters only the seed decides
        forms += [inner, inner.replace(b"+", b"-").replace(b"/", b"_")]
    # The key file's own text around the seed, line breaks included: `cat signing_key` gives exactly this.
    body = b"".join(line.strip() for line in text.splitlines() if line.strip() and not line.startswith(b"-----"))
    try:
        blob = base64.b64decode(body)
    except ValueError:
        return tuple(forms)
    at = blob.find(seed)
    if at >= 0:
        first, last = (4 * at + 5) // 3, (4 * (at + 32)) // 3 - 1
        parts = text.split(b"-----")  # "", BEGIN..., the body, END..., the end
        wrapped = parts[2] if len(parts) >= 4 else b""
        kept, count = bytearray(), 0
        for byte in wrapped:
            if count >= last:
                break
            if byte in b"\r\n":
                if kept:
                    kept.append(byte)
                continue
            if count >= first:
                kept.append(byte)
            count += 1
        if len(kept) >= 16:
            forms.append(bytes(kept))
    return tuple(forms)


def ensure_default_key(notify: Callable[[str], None]) -> Path:
    """The per-user key's path, made on first use (and then `notify` says where, once)."""
    path = default_key_path()
    if path.exists():
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        generate(path)
    except ReportInputError:
        if path.exists():  # another process made it first
            return path
        raise
    notify(f"made a signing key at {path} (public key {public_path(path)}); it signs every bundle from now on")
    return path


def parse_public_key_line(line: str, where: str) -> Ed25519PublicKey:
    """One `ssh-ed25519 BASE64 [comment]` line; `where` names it in the error."""
    fields = line.split()
    if len(fields) < 2:
        raise ReportInputError(f"{where} is not an OpenSSH public key line")
    if fields[0] != sign.KEY_TYPE:
        raise ReportInputError(f"{where} holds a {fields[0]} key; callproof bundles are signed with {sign.KEY_TYPE}")
    try:
        key = load_ssh_public_key(f"{fields[0]} {fields[1]}".encode())
    except (ValueError, UnsupportedAlgorithm):
        raise ReportInputError(f"{where} is not a valid OpenSSH public key") from None
    assert isinstance(key, Ed25519PublicKey)  # the type was checked above
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    """A public key file (`PATH.pub`, or any file whose first key line is `ssh-ed25519 ...`)."""
    text = _read_text(path, "public key")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise ReportInputError(f"{path} holds no public key")
    return parse_public_key_line(lines[0], str(path))


@dataclasses.dataclass(frozen=True)
class TrustedKey:
    """A key the user trusts, and who it belongs to (the --signer an allowed_signers line matched, or a file)."""

    key: Ed25519PublicKey
    principal: str
    where: str = ""  # the allowed_signers line that trusts it, e.g. "allowed_signers line 3 (*@vendor.example)"


def load_allowed_signers(path: Path, signer: str, namespace: str = layout.SIGNATURE_NAMESPACE) -> list[TrustedKey]:
    """The Ed25519 keys an OpenSSH allowed_signers file trusts for `signer` in `namespace`.

    As `ssh-keygen -Y verify -I signer`: a line counts only when its principals (a
    comma-separated OpenSSH pattern list: `*`, `?`, `!negation`) match `signer`.
    Format (ssh-keygen(1), ALLOWED SIGNERS): `principals [options] keytype base64 [comment]`.
    `namespaces="..."` is honoured; `cert-authority` lines and other key types cannot
    match a callproof signature and are skipped; `valid-after`/`valid-before` are
    refused rather than ignored, so callproof never trusts a key stock tools would not.
    """
    text = _read_text(path, "allowed signers")
    trusted: list[TrustedKey] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path} line {number}"
        fields = _split_fields(line)
        if len(fields) < 3:
            raise ReportInputError(f"{where} is not `principals [options] keytype key`")
        principals = fields[0].strip('"')
        if _looks_like_key_type(fields[1]):
            options: list[str] = []
            key_fields = fields[1:]
        else:
            options = _split_options(fields[1])
            key_fields = fields[2:]
        if len(key_fields) < 2:
            raise ReportInputError(f"{where} has no key after its options")
        if not _options_allow(options, namespace, where) or key_fields[0] != sign.KEY_TYPE:
            continue
        key = parse_public_key_line(" ".join(key_fields[:2]), where)
        if _pattern_list_matches(principals, signer):
            trusted.append(TrustedKey(key, signer, f"{Path(path).name} line {number} ({principals})"))
    if not trusted:
        raise ReportInputError(
            f"{escape(str(path))} trusts no Ed25519 key of {escape(signer)!r} for namespace {namespace!r}"
        )
    return trusted


def _read_text(path: Path, what: str) -> str:
    shown = escape(str(path))
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_PUBLIC_BYTES + 1)
    except FileNotFoundError:
        raise ReportInputError(f"{what} file {shown} does not exist") from None
    except OSError as exc:
        raise ReportInputError(f"cannot read {what} file {shown}: {exc.strerror}") from None
    if len(data) > MAX_PUBLIC_BYTES:
        raise ReportInputError(f"{what} file {shown} is larger than {MAX_PUBLIC_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ReportInputError(f"{what} file {shown} is not UTF-8 text") from None


def _looks_like_key_type(field: str) -> bool:
    return field.startswith(("ssh-", "ecdsa-", "sk-", "rsa-"))


def _split_fields(line: str) -> list[str]:
    """Split on blanks outside double quotes (principals and option values may be quoted)."""
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        if char.isspace() and not quoted:
            if current:
                fields.append("".join(current))
                current = []
            continue
        current.append(char)
    if current:
        fields.append("".join(current))
    return fields


def _split_options(field: str) -> list[str]:
    options: list[str] = []
    current: list[str] = []
    quoted = False
    for char in field:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            options.append("".join(current))
            current = []
            continue
        current.append(char)
    options.append("".join(current))
    return [o for o in options if o]


def _options_allow(options: list[str], namespace: str, where: str) -> bool:
    for option in options:
        name, _, value = option.partition("=")
        name = name.lower()
        if name == "cert-authority":
            return False
        if name == "namespaces":
            if not _pattern_list_matches(value.strip('"'), namespace):
                return False
        elif name in ("valid-after", "valid-before"):
            raise ReportInputError(
                f"{where}: option {name} is not supported by callproof verify; "
                "check this signer with `ssh-keygen -Y verify`"
            )
        else:
            raise ReportInputError(f"{where}: unknown option {name!r}")
    return True


def _pattern_list_matches(patterns: str, name: str) -> bool:
    """OpenSSH pattern-list semantics (match.c match_pattern_list): any `!pattern` match vetoes."""
    matched = False
    for pattern in patterns.split(","):
        if pattern.startswith("!"):
            if _pattern_matches(name, pattern[1:]):
                return False
        elif _pattern_matches(name, pattern):
            matched = True
    return matched


def _pattern_matches(name: str, pattern: str) -> bool:
    """OpenSSH match_pattern: `*` any run of characters, `?` one; nothing else is special (no [...])."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.DOTALL) is not None
