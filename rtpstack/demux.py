"""Classify one datagram arriving on a shared port (RFC 7983, RFC 5761, RFC 8656).

The first octet decides (RFC 7983 section 7)::

    0..3      STUN                (and at least the 20-octet STUN header)
    16..19    ZRTP                -> UNKNOWN here (not supported)
    20..63    DTLS                (and at least the 13-octet record header)
    64..79    TURN ChannelData    (4-octet header; the length field must fit the datagram)
    128..191  RTP or RTCP         second octet 192..223 -> RTCP (RFC 5761 section 4),
                                  otherwise RTP; RTP needs 12 octets, RTCP 8
    other     UNKNOWN

:func:`classify` never raises; :func:`classify_strict` raises :class:`DemuxError` for what
``classify`` calls UNKNOWN, with a message saying why.
"""

from __future__ import annotations

import enum

from rtpstack.errors import DemuxError

__all__ = ["PacketKind", "classify", "classify_strict"]


class PacketKind(enum.Enum):
    """What a datagram on a multiplexed port carries."""

    STUN = "stun"
    DTLS = "dtls"
    RTP = "rtp"
    RTCP = "rtcp"
    TURN_CHANNEL = "turn-channel"
    UNKNOWN = "unknown"


_STUN = PacketKind.STUN
_DTLS = PacketKind.DTLS
_RTP = PacketKind.RTP
_RTCP = PacketKind.RTCP
_TURN = PacketKind.TURN_CHANNEL
_UNKNOWN = PacketKind.UNKNOWN


def _why(data: bytes | bytearray | memoryview) -> tuple[PacketKind, str]:
    n = len(data)
    if n == 0:
        return _UNKNOWN, "empty datagram"
    b = data[0]
    if b >= 128:
        if b > 191:
            return _UNKNOWN, f"first octet {b} is not in any RFC 7983 range"
        if n >= 2 and 192 <= data[1] <= 223:
            if n < 8:
                return _UNKNOWN, f"RTCP datagram too short: {n} octets, need 8"
            return _RTCP, ""
        if n < 12:
            return _UNKNOWN, f"RTP datagram too short: {n} octets, need 12"
        return _RTP, ""
    if b <= 3:
        if n < 20:
            return _UNKNOWN, f"STUN datagram too short: {n} octets, need 20"
        return _STUN, ""
    if 20 <= b <= 63:
        if n < 13:
            return _UNKNOWN, f"DTLS datagram too short: {n} octets, need 13"
        return _DTLS, ""
    if 64 <= b <= 79:
        if n < 4:
            return _UNKNOWN, f"TURN ChannelData too short: {n} octets, need 4"
        length = (data[2] << 8) | data[3]
        if length > n - 4:
            return _UNKNOWN, f"TURN ChannelData length {length} exceeds the {n - 4} data octets"
        return _TURN, ""
    if 16 <= b <= 19:
        return _UNKNOWN, f"first octet {b} is ZRTP, which is not supported"
    return _UNKNOWN, f"first octet {b} is not in any RFC 7983 range"


def classify(data: bytes | bytearray | memoryview) -> PacketKind:
    """Kind of one datagram by its first octets; never raises (UNKNOWN for anything odd)."""
    n = len(data)
    if n >= 12:  # the common case, decided without building a message
        b = data[0]
        if 128 <= b <= 191:
            return _RTCP if 192 <= data[1] <= 223 else _RTP
    return _why(data)[0]


def classify_strict(data: bytes | bytearray | memoryview) -> PacketKind:
    """Like :func:`classify`, but raises :class:`DemuxError` instead of returning UNKNOWN."""
    kind, why = _why(data)
    if kind is _UNKNOWN:
        raise DemuxError(f"cannot demultiplex datagram: {why}")
    return kind
