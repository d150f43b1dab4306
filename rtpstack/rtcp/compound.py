"""Compound RTCP packets (RFC 3550 6.1) and the packet-type dispatch.

:func:`parse_compound` splits a datagram into packets by their length fields and decodes each
one; it accepts a single packet and reduced-size RTCP (RFC 5506: no SR/RR first, no SDES).
:func:`is_regular_compound` tells whether the RFC 3550 6.1 rules for a full compound hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rtpstack.errors import RtcpParseError
from rtpstack.rtcp.app import AppPacket
from rtpstack.rtcp.bye import Bye
from rtpstack.rtcp.ccfb import CongestionControlFeedback
from rtpstack.rtcp.common import (
    PT_APP,
    PT_BYE,
    PT_PSFB,
    PT_RR,
    PT_RTPFB,
    PT_SDES,
    PT_SR,
    PT_XR,
    RawRtcpPacket,
    split_packet,
)
from rtpstack.rtcp.feedback import (
    FMT_CCFB,
    FMT_FIR,
    FMT_NACK,
    FMT_PLI,
    FMT_REMB,
    FMT_TWCC,
    Fir,
    GenericNack,
    PayloadFeedback,
    Pli,
    Remb,
    RtpFeedback,
)
from rtpstack.rtcp.reports import ReceiverReport, SenderReport
from rtpstack.rtcp.sdes import SourceDescription
from rtpstack.rtcp.twcc import TransportCcFeedback
from rtpstack.rtcp.xr import ExtendedReport

__all__ = [
    "RtcpPacket",
    "decode_packet",
    "is_regular_compound",
    "parse_compound",
    "parse_packet",
    "serialize_compound",
]

RtcpPacket = (
    SenderReport
    | ReceiverReport
    | SourceDescription
    | Bye
    | AppPacket
    | GenericNack
    | TransportCcFeedback
    | CongestionControlFeedback
    | RtpFeedback
    | Pli
    | Fir
    | Remb
    | PayloadFeedback
    | ExtendedReport
    | RawRtcpPacket
)


_Decoder = Callable[[int, bytes, bytes], "RtcpPacket"]


def _rtpfb(count: int, body: bytes, padding: bytes) -> RtcpPacket:
    if count == FMT_NACK:
        return GenericNack.from_body(count, body, padding)
    if count == FMT_TWCC:
        return TransportCcFeedback.from_body(count, body, padding)
    if count == FMT_CCFB:
        return CongestionControlFeedback.from_body(count, body, padding)
    return RtpFeedback.from_body(count, body, padding)


def _psfb(count: int, body: bytes, padding: bytes) -> RtcpPacket:
    if count == FMT_PLI:
        return Pli.from_body(count, body, padding)
    if count == FMT_FIR:
        return Fir.from_body(count, body, padding)
    if count == FMT_REMB and Remb.is_remb(body[8:12]):
        return Remb.from_body(count, body, padding)
    return PayloadFeedback.from_body(count, body, padding)


_DECODERS: dict[int, _Decoder] = {
    PT_SR: SenderReport.from_body,
    PT_RR: ReceiverReport.from_body,
    PT_SDES: SourceDescription.from_body,
    PT_BYE: Bye.from_body,
    PT_APP: AppPacket.from_body,
    PT_RTPFB: _rtpfb,
    PT_PSFB: _psfb,
    PT_XR: ExtendedReport.from_body,
}


def decode_packet(packet_type: int, count: int, body: bytes, padding: bytes) -> RtcpPacket:
    """Decode one framed packet (see :func:`split_packet`) into its typed class.

    Packet types this package does not know come back as :class:`RawRtcpPacket`.
    """
    decoder = _DECODERS.get(packet_type)
    if decoder is None:
        return RawRtcpPacket(packet_type, count, body, padding)
    return decoder(count, body, padding)


def parse_compound(data: bytes | bytearray | memoryview) -> list[RtcpPacket]:
    """Split ``data`` into RTCP packets and decode each one.

    Raises :class:`~rtpstack.errors.RtcpParseError` when any packet is malformed (a
    compound packet is dropped whole, as RFC 3550 A.2 suggests). A ``bytearray`` or
    ``memoryview`` is copied once, so the values never share a mutable buffer.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    packets: list[RtcpPacket] = []
    offset = 0
    n = len(data)
    get = _DECODERS.get
    while True:
        pt, count, body, padding, offset = split_packet(data, offset)
        decoder = get(pt)
        if decoder is None:
            packets.append(RawRtcpPacket(pt, count, body, padding))
        else:
            packets.append(decoder(count, body, padding))
        if offset >= n:
            return packets


def parse_packet(data: bytes | bytearray | memoryview) -> RtcpPacket:
    """Decode ``data`` as exactly one RTCP packet."""
    if not isinstance(data, bytes):
        data = bytes(data)
    pt, count, body, padding, end = split_packet(data, 0)
    if end != len(data):
        raise RtcpParseError(f"{len(data) - end} octets after the RTCP packet")
    return decode_packet(pt, count, body, padding)


def serialize_compound(packets: Iterable[RtcpPacket]) -> bytes:
    """Concatenate the packets' wire forms."""
    return b"".join(bytes(p) for p in packets)


def is_regular_compound(packets: list[RtcpPacket]) -> bool:
    """True when RFC 3550 6.1 holds: SR or RR first, and an SDES carrying a CNAME."""
    if not packets or not isinstance(packets[0], SenderReport | ReceiverReport):
        return False
    return any(
        isinstance(p, SourceDescription) and any(c.cname is not None for c in p.chunks)
        for p in packets
    )
