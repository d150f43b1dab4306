"""Compound RTCP packets (RFC 3550 6.1) and the packet-type dispatch.

:func:`parse_compound` splits a datagram into packets by their length fields and decodes each
one; it accepts a single packet and reduced-size RTCP (RFC 5506: no SR/RR first, no SDES).
:func:`is_regular_compound` tells whether the RFC 3550 6.1 rules for a full compound hold.
"""

from __future__ import annotations

from collections.abc import Iterable

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
    RtcpHeader,
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


def decode_packet(header: RtcpHeader, body: bytes, padding: bytes) -> RtcpPacket:
    """Decode one framed packet into its typed class (raw when the type is unknown)."""
    pt = header.packet_type
    if pt == PT_SR:
        return SenderReport.from_body(header, body, padding)
    if pt == PT_RR:
        return ReceiverReport.from_body(header, body, padding)
    if pt == PT_SDES:
        return SourceDescription.from_body(header, body, padding)
    if pt == PT_BYE:
        return Bye.from_body(header, body, padding)
    if pt == PT_APP:
        return AppPacket.from_body(header, body, padding)
    if pt == PT_RTPFB:
        fmt = header.count
        if fmt == FMT_NACK:
            return GenericNack.from_body(header, body, padding)
        if fmt == FMT_TWCC:
            return TransportCcFeedback.from_body(header, body, padding)
        if fmt == FMT_CCFB:
            return CongestionControlFeedback.from_body(header, body, padding)
        return RtpFeedback.from_body(header, body, padding)
    if pt == PT_PSFB:
        fmt = header.count
        if fmt == FMT_PLI:
            return Pli.from_body(header, body, padding)
        if fmt == FMT_FIR:
            return Fir.from_body(header, body, padding)
        if fmt == FMT_REMB and Remb.is_remb(body[8:]):
            return Remb.from_body(header, body, padding)
        return PayloadFeedback.from_body(header, body, padding)
    if pt == PT_XR:
        return ExtendedReport.from_body(header, body, padding)
    return RawRtcpPacket.from_body(header, body, padding)


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Split ``data`` into RTCP packets and decode each one.

    Raises :class:`~rtpstack.errors.RtcpParseError` when any packet is malformed (a
    compound packet is dropped whole, as RFC 3550 A.2 suggests).
    """
    packets: list[RtcpPacket] = []
    offset = 0
    n = len(data)
    while True:
        header, body, padding, offset = split_packet(data, offset)
        packets.append(decode_packet(header, body, padding))
        if offset >= n:
            return packets


def parse_packet(data: bytes) -> RtcpPacket:
    """Decode ``data`` as exactly one RTCP packet."""
    header, body, padding, end = split_packet(data, 0)
    if end != len(data):
        raise RtcpParseError(f"{len(data) - end} octets after the RTCP packet")
    return decode_packet(header, body, padding)


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
