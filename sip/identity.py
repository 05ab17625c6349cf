"""Who called, as an INVITE names the caller: plain text in, no pjsua2 (an agent's record, tests)."""

from __future__ import annotations

import re

_HEADER = re.compile(r"^(?P<name>[A-Za-z-]+)[ \t]*:[ \t]*(?P<value>.*)$")
_COMPACT = {"f": "from"}  # RFC 3261 7.3.3


def caller_identity(invite: str) -> dict[str, str | None]:
    """The caller as an INVITE names it: its From header (RFC 3261 20.20; the tag left out), and the
    identity a PBX asserts when it anonymises From (P-Asserted-Identity, RFC 3325; else
    Remote-Party-ID): Asterisk sends "Anonymous" <sip:anonymous@anonymous.invalid> for a caller
    whose presentation is restricted, and the caller in P-Asserted-Identity to a trusted endpoint."""
    headers: dict[str, str] = {}
    for line in re.split(r"\r?\n\r?\n", invite, maxsplit=1)[0].splitlines()[1:]:
        match = _HEADER.match(line.strip())
        if match:
            name = match["name"].lower()
            headers.setdefault(_COMPACT.get(name, name), match["value"].strip())
    sender = headers.get("from")
    if sender is not None:
        sender = re.sub(r";\s*tag=[^;]*", "", sender)
    return {"from": sender,
            "asserted_identity": headers.get("p-asserted-identity") or headers.get("remote-party-id")}
