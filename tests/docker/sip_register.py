"""A REGISTER client with RFC 2617 digest, small enough to check by eye.

The tests' own client, independent of callproof's SIP engine, so what the
registrar in docker/kamailio/kamailio.cfg accepts is judged by a second
implementation of the digest arithmetic.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import socket

_AUTH_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]+))')


@dataclasses.dataclass(frozen=True)
class SipResponse:
    status: int
    headers: dict[str, list[str]]  # lower-case names

    def header(self, name: str) -> str:
        return self.headers[name.lower()][0]


@dataclasses.dataclass(frozen=True)
class RegisterOutcome:
    challenge: SipResponse  # the reply to the REGISTER without credentials
    final: SipResponse | None  # the reply to the one with credentials (None if not challenged)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_authorization(
    *, method: str, uri: str, username: str, password: str, challenge: str, cnonce: str, nc: str = "00000001"
) -> str:
    """The Authorization header value answering a WWW-Authenticate challenge (RFC 2617 3.2.2)."""
    params = {m[1]: m[2] or m[3] for m in _AUTH_PARAM.finditer(challenge)}
    realm, nonce = params["realm"], params["nonce"]
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    fields = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"', "algorithm=MD5"]
    if "auth" in params.get("qop", "").split(","):
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        fields += [f'response="{response}"', "qop=auth", f'cnonce="{cnonce}"', f"nc={nc}"]
    else:
        fields.append(f'response="{_md5(f"{ha1}:{nonce}:{ha2}")}"')
    return "Digest " + ", ".join(fields)


def _parse_response(data: bytes) -> SipResponse:
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
    status = int(head[0].split()[1])
    headers: dict[str, list[str]] = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return SipResponse(status=status, headers=headers)


def register(
    host: str,
    port: int,
    *,
    user: str,
    password: str,
    contact: str,
    auth_user: str | None = None,
    expires_s: int = 300,
    timeout_s: float = 2.0,
) -> RegisterOutcome:
    """REGISTER `user` at host:port with `contact`; answer one challenge with `auth_user`/`password`."""
    registrar_uri = f"sip:{host}:{port}"
    call_id = f"{secrets.token_hex(8)}@127.0.0.1"
    from_tag = secrets.token_hex(4)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout_s)
        local_port = sock.getsockname()[1]

        def send(cseq: int, authorization: str | None) -> SipResponse:
            lines = [
                f"REGISTER {registrar_uri} SIP/2.0",
                f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{secrets.token_hex(8)};rport",
                f"From: <sip:{user}@{host}>;tag={from_tag}",
                f"To: <sip:{user}@{host}>",
                f"Call-ID: {call_id}",
                f"CSeq: {cseq} REGISTER",
                f"Contact: <{contact}>",
                f"Expires: {expires_s}",
                "Max-Forwards: 70",
            ]
            if authorization:
                lines.append(f"Authorization: {authorization}")
            sock.sendto(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode(), (host, port))
            while True:
                reply = _parse_response(sock.recvfrom(65535)[0])
                if reply.status >= 200:
                    return reply

        challenge = send(1, None)
        if challenge.status != 401:
            return RegisterOutcome(challenge=challenge, final=None)
        authorization = digest_authorization(
            method="REGISTER",
            uri=registrar_uri,
            username=auth_user or user,
            password=password,
            challenge=challenge.header("WWW-Authenticate"),
            cnonce=secrets.token_hex(8),
        )
        return RegisterOutcome(challenge=challenge, final=send(2, authorization))
