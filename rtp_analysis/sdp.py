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
# RFC 4566 9: port and fmt are ASCII digits (str.isdigit() also takes "²" and Arabic-Indic digits).
_DIGITS = re.compile(r"[0-9]{1,10}")
# An rtpmap clock rate outside this range is ignored, as if the line gave none: Wireshark's
# jitter divides by rate // 1000 (so a rate below 1000 Hz would divide by zero), and no RTP
# payload format clocks faster than 1 MHz (video uses 90 kHz).
MIN_CLOCK_RATE_HZ = 1000
MAX_CLOCK_RATE_HZ = 1_000_000


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
            port = _number(fields[1], 0, 65535) if len(fields) >= 4 else None
            if port is not None and fields[0] == "audio" and "RTP/" in fields[2]:
                pts = [pt for pt in (_number(f, 0, 127) for f in fields[3:]) if pt is not None]
                media.append({"port": port, "pts": pts, "address": None, "rtpmap": {}})
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
            pt = _number(pt_text.strip(), 0, 127)
            if pt is not None:
                parts = encoding.strip().split("/")
                rate = _number(parts[1], MIN_CLOCK_RATE_HZ, MAX_CLOCK_RATE_HZ) if len(parts) > 1 else None
                media[-1]["rtpmap"][pt] = (parts[0], rate)
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


def _number(text: str, low: int, high: int) -> int | None:
    """An ASCII decimal number within [low, high], or None."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


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
