"""SIP URIs (RFC 3261 19.1): the one parser every part of callproof uses.

    SipUri.parse("sip:600@pbx.example.com:5060;transport=tcp", "target.uri") -> SipUri

The grammar is RFC 3261's, to the parts a load test sends requests to:

    sip[s]:[user[:password]@]host[:port][;param]...

    user      RFC 3261 user characters: letters, digits, - _ . ! ~ * ' ( ) & = + $ , ; ? /
              and %HH escapes
    password  allowed by the RFC and deprecated; parsed so that callers can refuse it, and
              never shown in an error (`redact`)
    host      a host name (letters, digits and inner hyphens per label, optional final
              dot), an IPv4 address, or an IPv6 address in brackets
    port      1-65535; without one, 5060 (5061 for sips: or TLS: RFC 3263 4.2)
    params    ;name[=value], no spaces, ; ? or @

Headers (`?name=value`) are refused: callproof puts these URIs in request lines and
REGISTER, where RFC 3261 19.1.1's table allows none. The scenario schema's `sip_uri`
pattern is `PATTERN` (tests/scenario keeps them equal), so a scenario is refused by the
same grammar whether the schema or this parser sees it first.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re

from callproof.sip.errors import SipConfigError

EXAMPLE = "sip:600@pbx.example.com"
_USER = r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+"
_PASSWORD = r"[^@\s]*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\]"
_PARAM = r"[^\s;?@]+"
# The grammar without capturing groups, as the scenario schema's `sip_uri` pattern holds it.
PATTERN = rf"^sips?:(?:{_USER}(?::{_PASSWORD})?@)?(?:{_HOST})(?::[0-9]{{1,5}})?(?:;{_PARAM})*$"
_URI = re.compile(
    rf"(?P<scheme>sips?):(?:(?P<user>{_USER})(?::(?P<password>{_PASSWORD}))?@)?(?P<host>{_HOST})"
    rf"(?::(?P<port>[0-9]{{1,5}}))?(?P<params>(?:;{_PARAM})*)(?P<headers>\?\S*)?"
)
# Up to the last @: a raw @ in a password must not leak its tail.
_PASSWORD_PART = re.compile(r"^(sips?:[^:@;?]+):.*@", re.IGNORECASE | re.DOTALL)


class SipUriError(SipConfigError):
    """A URI that is not a usable SIP URI: `what` it is, then `problem`, in one sentence."""

    def __init__(self, what: str, problem: str, *, got: str | None = None) -> None:
        super().__init__(f"{what} {problem}")
        self.what = what
        self.problem = problem  # the sentence without its subject: "has port 0, outside 1-65535"
        self.got = got  # set when the text is no SIP URI at all: it, as JSON, its password removed


@dataclasses.dataclass(frozen=True)
class SipUri:
    scheme: str  # "sip" or "sips"
    user: str | None
    password: str | None = dataclasses.field(repr=False)  # never printed
    host: str  # a name or an address; an IPv6 address without its brackets
    port: int | None
    params: tuple[str, ...]  # ("transport=tcp", "lr")

    @classmethod
    def parse(cls, text: str, what: str = "the SIP URI") -> SipUri:
        """The URI `text`, or SipUriError saying, after `what`, why it is not one."""
        match = _URI.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            got = json.dumps(redact(text)) if isinstance(text, str) else repr(text)
            raise SipUriError(what, f"must be a SIP URI such as {EXAMPLE} (got {got})", got=got)
        if match["headers"] is not None:
            raise SipUriError(what, "must not carry headers (?...): a request URI has none (RFC 3261 19.1.1)")
        host = match["host"]
        if host.startswith("["):
            host = host[1:-1]
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise SipUriError(what, f"has a malformed IPv6 address [{host}]") from None
        port = int(match["port"]) if match["port"] is not None else None
        if port is not None and not 1 <= port <= 65535:
            raise SipUriError(what, f"has port {match['port']}, outside 1-65535")
        params = tuple(p for p in match["params"].split(";") if p)
        return cls(match["scheme"], match["user"], match["password"], host, port, params)

    @property
    def hostport(self) -> str:
        """host[:port] as written in a URI (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def host_port(self, transport: str = "udp") -> tuple[str, int]:
        """Where requests to this URI go: (host, port), the port defaulting per RFC 3263 4.2."""
        default = 5061 if self.scheme == "sips" or transport == "tls" else 5060
        return self.host, self.port if self.port is not None else default

    def server(self) -> str:
        """The server this URI names, without user, password or params (sip:600@pbx:5060;x -> sip:pbx:5060).

        Where an availability OPTIONS goes (RFC 3261 11: OPTIONS to sip:600@pbx would be
        routed like a call, OPTIONS to sip:pbx asks the server itself), and the registrar
        of a target URI.
        """
        return f"{self.scheme}:{self.hostport}"


def redact(text: str) -> str:
    """`text` without the password of a `sip:user:password@host` URI, however malformed the rest."""
    return _PASSWORD_PART.sub(r"\1@", text)
