"""SIP messages carrying SDP (RFC 3261, RFC 4566): which address:port expects which payload types.

SIP and SDP are text; a few lines of parsing cover what stream discovery needs
(Call-ID, the connection address, the media port, rtpmap lines), without a full SIP
stack. Only SIP over UDP in unfragmented datagrams is seen by the capture reader.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re

from callproof.rtp_analysis.payload import PayloadFormat, static_format

_REQUEST_LINE = re.compile(rb"^[A-Z]+ [a-zA-Z]+:[^ ]+ SIP/2\.0\r?\n")
_STATUS_LINE = re.compile(rb"^SIP/2\.0 \d{3} ")
_COMPACT = {"i": "call-id", "c": "content-type", "l": "content-length"}


@dataclasses.dataclass(frozen=True)
class SdpMedia:
    """One m= line: RTP sent to `address`:`port` uses these payload formats."""

    call_id: str
    address: bytes  # 16 bytes: IPv6, or IPv4 as ::ffff:a.b.c.d
    port: int
    formats: dict[int, PayloadFormat]


def looks_like_sip(payload: bytes) -> bool:
    return bool(_STATUS_LINE.match(payload) or _REQUEST_LINE.match(payload))


def sdp_media(payload: bytes) -> list[SdpMedia]:
    """The audio media a SIP message's SDP body announces (empty if it has none)."""
    text = payload.decode("latin-1")
    head, sep, body = text.replace("\r\n", "\n").partition("\n\n")
    if not sep:
        return []
    headers: dict[str, str] = {}
    for line in head.split("\n")[1:]:
        name, colon, value = line.partition(":")
        if colon:
            key = name.strip().lower()
            headers.setdefault(_COMPACT.get(key, key), value.strip())
    if not headers.get("content-type", "").lower().startswith("application/sdp"):
        return []
    return _parse_sdp(headers.get("call-id", ""), body)


def _parse_sdp(call_id: str, body: str) -> list[SdpMedia]:
    session_address: bytes | None = None
    media: list[dict] = []
    for line in body.split("\n"):
        line = line.strip()
        kind, eq, value = line.partition("=")
        if not eq or len(kind) != 1:
            continue
        if kind == "m":
            fields = value.split()
            if len(fields) >= 4 and fields[0] == "audio" and "RTP/" in fields[2] and fields[1].isdigit():
                pts = [int(f) for f in fields[3:] if f.isdigit()]
                media.append({"port": int(fields[1]), "pts": pts, "address": None, "rtpmap": {}})
            else:
                media.append({"skip": True})
        elif kind == "c":
            address = _connection_address(value)
            if media:
                media[-1]["address"] = address
            else:
                session_address = address
        elif kind == "a" and value.startswith("rtpmap:") and media and not media[-1].get("skip"):
            pt_text, _, encoding = value[len("rtpmap:") :].partition(" ")
            if pt_text.strip().isdigit():
                parts = encoding.strip().split("/")
                rate = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
                media[-1]["rtpmap"][int(pt_text)] = (parts[0], rate)
    out = []
    for m in media:
        address = m.get("address") or session_address
        if m.get("skip") or address is None or m["port"] == 0:
            continue
        formats = {}
        for pt in m["pts"]:
            if pt in m["rtpmap"]:
                encoding, rate = m["rtpmap"][pt]
                formats[pt] = PayloadFormat(pt, encoding, rate, from_sdp=True)
            else:
                formats[pt] = static_format(pt)
        out.append(SdpMedia(call_id, address, m["port"], formats))
    return out


def _connection_address(value: str) -> bytes | None:
    """c=IN IP4 192.0.2.1 (a multicast /ttl suffix is dropped) as 16 bytes."""
    fields = value.split()
    if len(fields) < 3 or fields[0] != "IN":
        return None
    try:
        address = ipaddress.ip_address(fields[2].split("/")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return ipaddress.IPv6Address("::ffff:" + str(address)).packed
    return address.packed
