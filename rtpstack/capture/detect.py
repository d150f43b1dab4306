"""Find RTP and RTCP in UDP payloads: heuristics, explicit hints, and SDP.

Without signalling, a payload is RTP when it passes the checks of :func:`looks_like_rtp`
(version 2, a header that fits, a payload type outside the RTCP-conflict range 72-76) and RTCP
when :func:`looks_like_rtcp` can walk at least one well-formed SR/RR/SDES/BYE/APP/feedback/XR
packet. Per RFC 7983 the first byte keeps STUN (0-3), ZRTP (16-19), DTLS (20-63) and TURN
ChannelData (64-79) apart; well-known non-media ports (DNS, SIP, NTP, ...) are never media.
:class:`Hints` narrows or widens this (ports, payload types, clock rates) and can be filled
from an SDP description (:func:`hints_from_sdp`), including SDP seen inside SIP in the capture.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from rtpstack.errors import SdpParseError

__all__ = [
    "NON_MEDIA_PORTS",
    "STATIC_CLOCK_RATES",
    "STATIC_PT_NAMES",
    "Hints",
    "RtpHeader",
    "hints_from_sdp",
    "looks_like_rtcp",
    "looks_like_rtp",
    "parse_clock_rate_option",
    "read_rtp_header",
    "sdp_from_sip",
]

#: RFC 3551 static payload types: clock rates (Hz).
STATIC_CLOCK_RATES: dict[int, int] = {
    0: 8000, 3: 8000, 4: 8000, 5: 8000, 6: 16000, 7: 8000, 8: 8000, 9: 8000, 10: 44100,
    11: 44100, 12: 8000, 13: 8000, 14: 90000, 15: 8000, 16: 11025, 17: 22050, 18: 8000,
    25: 90000, 26: 90000, 28: 90000, 31: 90000, 32: 90000, 33: 90000, 34: 90000,
}
#: RFC 3551 static payload types: encoding names.
STATIC_PT_NAMES: dict[int, str] = {
    0: "PCMU", 3: "GSM", 4: "G723", 5: "DVI4", 6: "DVI4", 7: "LPC", 8: "PCMA", 9: "G722",
    10: "L16", 11: "L16", 12: "QCELP", 13: "CN", 14: "MPA", 15: "G728", 16: "DVI4",
    17: "DVI4", 18: "G729", 25: "CelB", 26: "JPEG", 28: "nv", 31: "H261", 32: "MPV",
    33: "MP2T", 34: "H263",
}
#: UDP ports whose traffic is never taken for media by the heuristics.
NON_MEDIA_PORTS = frozenset(
    {53, 67, 68, 69, 123, 137, 138, 161, 162, 500, 514, 520, 1900, 4500, 5060, 5061, 5353,
     5355}
)


@dataclass(frozen=True, slots=True)
class RtpHeader:
    """The fixed RTP header fields the analyzer needs (no payload copy)."""

    marker: bool
    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    header_size: int
    padding: bool


_FIXED = struct.Struct("!BBHII")


def read_rtp_header(data: bytes) -> RtpHeader | None:
    """Header of an RTP packet when ``data`` looks like one, else ``None``.

    Checks version 2, room for the CSRC list and the extension, a padding count (when the P
    bit is set) that stays clear of the header, and a payload type outside 72-76 (those would
    be RTCP SR/RR/SDES/BYE/APP with the marker bit set).
    """
    if len(data) < 12:
        return None
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data)
    if b0 >> 6 != 2:
        return None
    pt = b1 & 0x7F
    if 72 <= pt <= 76:
        return None
    size = 12 + 4 * (b0 & 15)
    if b0 & 0x10:
        if len(data) < size + 4:
            return None
        size += 4 + 4 * struct.unpack_from("!H", data, size + 2)[0]
    if len(data) < size:
        return None
    if b0 & 0x20 and data[-1] > len(data) - size:
        return None  # padding count runs into the header
    return RtpHeader(bool(b1 & 0x80), pt, seq, ts, ssrc, size, bool(b0 & 0x20))


def looks_like_rtp(data: bytes) -> bool:
    """True when ``data`` passes the RTP heuristics (see :func:`read_rtp_header`)."""
    return read_rtp_header(data) is not None


_RTCP_TYPES = frozenset(range(200, 208))


def looks_like_rtcp(data: bytes) -> bool:
    """True when ``data`` starts with a well-formed RTCP packet (SRTCP trailers allowed).

    The first packet must be SR, RR or (reduced-size, RFC 5506) feedback/SDES/BYE/APP/XR
    with version 2 and a length that fits; following packets are walked while they parse.
    """
    if len(data) < 8 or data[0] >> 6 != 2 or data[1] not in _RTCP_TYPES:
        return False
    length = (struct.unpack_from("!H", data, 2)[0] + 1) * 4
    if length > len(data):
        return False
    if (data[1] == 200 and length < 28) or (data[1] in (205, 206) and length < 12):
        return False
    return not (data[1] == 201 and length < 8 + 24 * (data[0] & 31))


@dataclass(slots=True)
class Hints:
    """What the user (or an SDP) says about the capture.

    ``ports``: UDP ports carrying RTP/RTCP (when set, other ports are ignored unless
    ``heuristics`` stays on). ``payload_types``: keep only these RTP payload types.
    ``clock_rates``: payload type -> Hz, overriding the static table. ``endpoints``:
    (address, port) pairs announced by SDP.
    """

    heuristics: bool = True
    ports: set[int] = field(default_factory=set)
    payload_types: set[int] = field(default_factory=set)
    clock_rates: dict[int, int] = field(default_factory=dict)
    encodings: dict[int, str] = field(default_factory=dict)
    endpoints: set[tuple[str, int]] = field(default_factory=set)

    def clock_rate(self, payload_type: int) -> int | None:
        """Clock rate of a payload type, or ``None`` when nobody says."""
        rate = self.clock_rates.get(payload_type)
        if self.encodings.get(payload_type, "").lower() == "telephone-event":
            return None  # RFC 4733: the timestamp marks the event start, not the packet
        return rate if rate is not None else STATIC_CLOCK_RATES.get(payload_type)

    def encoding(self, payload_type: int) -> str:
        """A display name for a payload type."""
        name = self.encodings.get(payload_type) or STATIC_PT_NAMES.get(payload_type)
        return name or f"PT{payload_type}"

    def is_media_flow(self, sport: int, dport: int, src: str = "", dst: str = "") -> bool:
        """Whether a UDP flow may carry media at all."""
        if self.ports and (sport in self.ports or dport in self.ports):
            return True
        if (src, sport) in self.endpoints or (dst, dport) in self.endpoints:
            return True
        if not self.heuristics:
            return False
        return sport not in NON_MEDIA_PORTS and dport not in NON_MEDIA_PORTS

    def merge(self, other: Hints) -> None:
        """Add what ``other`` knows (clock rates and names from SDP, endpoints, ports)."""
        self.ports |= other.ports
        self.endpoints |= other.endpoints
        for pt, rate in other.clock_rates.items():
            self.clock_rates.setdefault(pt, rate)
        for pt, name in other.encodings.items():
            self.encodings.setdefault(pt, name)


_RTPMAP = re.compile(r"^a=rtpmap:(\d+)\s+([^/\s]+)/(\d+)")


def hints_from_sdp(text: str) -> Hints:
    """Ports, endpoints, clock rates and encoding names announced by an SDP description."""
    if "v=0" not in text:
        raise SdpParseError("no SDP description (missing v=0)")
    hints = Hints(heuristics=False)
    session_addr = ""
    media: list[tuple[int, str]] = []  # (port, address) per m= section
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("c="):
            parts = line[2:].split()
            if len(parts) < 3:
                raise SdpParseError(f"bad SDP connection line: {line!r}")
            addr = parts[2].split("/")[0]
            if media:
                media[-1] = (media[-1][0], addr)
            else:
                session_addr = addr
        elif line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 3 or not parts[1].split("/")[0].isdigit():
                raise SdpParseError(f"bad SDP media line: {line!r}")
            media.append((int(parts[1].split("/")[0]), ""))
        else:
            m = _RTPMAP.match(line)
            if m:
                pt = int(m.group(1))
                hints.clock_rates[pt] = int(m.group(3))
                hints.encodings[pt] = m.group(2)
    for port, addr in media:
        if port:
            hints.ports.update((port, port + 1))
            where = addr or session_addr
            if where:
                hints.endpoints.update(((where, port), (where, port + 1)))
    return hints


def sdp_from_sip(payload: bytes) -> str | None:
    """The SDP body of a SIP message carried in a UDP payload, if there is one."""
    if not payload[:1].isalpha():
        return None
    head = payload[:16]
    if not (head.startswith(b"SIP/2.0") or b" sip:" in payload[:64].lower()):
        return None
    sep = payload.find(b"\r\n\r\n")
    if sep < 0:
        return None
    body = payload[sep + 4 :]
    if not body.startswith(b"v=0"):
        return None
    return body.decode("utf-8", "replace")


def parse_clock_rate_option(text: str) -> tuple[int, int]:
    """Parse ``PT=HZ`` (``--clock-rate 111=48000``)."""
    pt_s, sep, hz_s = text.partition("=")
    if not sep or not pt_s.strip().isdigit() or not hz_s.strip().isdigit():
        raise ValueError(f"bad clock rate {text!r}: expected PT=HZ, e.g. 111=48000")
    pt, hz = int(pt_s), int(hz_s)
    if pt > 127 or hz <= 0:
        raise ValueError(f"bad clock rate {text!r}: PT must be 0-127 and HZ positive")
    return pt, hz
