"""Link layers: strip the link header of a captured frame and say which network protocol follows.

Supported: Ethernet II (with any number of 802.1Q / 802.1ad / QinQ tags, and PPPoE
sessions), Linux cooked capture
v1 (SLL) and v2 (SLL2), raw IP (link types 101, 12, 14, 228, 229), BSD null and OpenBSD
loopback. :func:`strip_link` returns ``(ethertype, network_bytes)``; frames that are not IP
return an ethertype the caller ignores. Malformed frames raise :class:`CaptureParseError`.
"""

from __future__ import annotations

import struct

from rtpstack.capture.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
)
from rtpstack.errors import CaptureParseError

__all__ = [
    "ETHERTYPE_IPV4",
    "ETHERTYPE_IPV6",
    "SUPPORTED_LINKTYPES",
    "ethernet_frame",
    "strip_link",
]

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
_PPPOE_SESSION = 0x8864
_VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
# BSD AF_INET6 differs per OS: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS)
_AF_INET = 2
_AF_INET6 = frozenset({10, 24, 28, 30})

SUPPORTED_LINKTYPES = frozenset(
    {
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_RAW,
        12,
        14,
        LINKTYPE_LOOP,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_LINUX_SLL2,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
    }
)


def _raw_ip(data: bytes) -> tuple[int, bytes]:
    if not data:
        raise CaptureParseError("empty raw IP frame")
    version = data[0] >> 4
    if version == 4:
        return ETHERTYPE_IPV4, data
    if version == 6:
        return ETHERTYPE_IPV6, data
    return 0, data


def _family(family: int, data: bytes) -> tuple[int, bytes]:
    if family == _AF_INET:
        return ETHERTYPE_IPV4, data
    if family in _AF_INET6:
        return ETHERTYPE_IPV6, data
    return 0, data


def strip_link(linktype: int, frame: bytes) -> tuple[int, bytes]:
    """Return ``(ethertype, payload)`` of a captured frame of the given link type."""
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            raise CaptureParseError(f"truncated Ethernet header ({len(frame)} bytes)")
        etype = struct.unpack_from("!H", frame, 12)[0]
        pos = 14
        while etype in _VLAN_TAGS:
            if len(frame) < pos + 4:
                raise CaptureParseError("truncated 802.1Q tag")
            etype = struct.unpack_from("!H", frame, pos + 2)[0]
            pos += 4
        if etype == _PPPOE_SESSION:
            if len(frame) < pos + 8:
                raise CaptureParseError("truncated PPPoE header")
            ppp = struct.unpack_from("!H", frame, pos + 6)[0]
            etype = {0x0021: ETHERTYPE_IPV4, 0x0057: ETHERTYPE_IPV6}.get(ppp, 0)
            pos += 8
        return etype, frame[pos:]
    if linktype in (LINKTYPE_RAW, 12, 14):
        return _raw_ip(frame)
    if linktype == LINKTYPE_IPV4:
        return ETHERTYPE_IPV4, frame
    if linktype == LINKTYPE_IPV6:
        return ETHERTYPE_IPV6, frame
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            raise CaptureParseError(f"truncated Linux cooked header ({len(frame)} bytes)")
        return struct.unpack_from("!H", frame, 14)[0], frame[16:]
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(frame) < 20:
            raise CaptureParseError(f"truncated Linux cooked v2 header ({len(frame)} bytes)")
        return struct.unpack_from("!H", frame, 0)[0], frame[20:]
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(frame) < 4:
            raise CaptureParseError(f"truncated loopback header ({len(frame)} bytes)")
        if linktype == LINKTYPE_LOOP:
            family = struct.unpack_from("!I", frame)[0]
        else:
            # host byte order of the capturing machine: the family is small, so look at which
            # end the non-zero bytes are
            family = struct.unpack_from("<I" if frame[0] else ">I", frame)[0]
        return _family(family, frame[4:])
    raise CaptureParseError(f"unsupported link type {linktype}")


def ethernet_frame(ip_packet: bytes, *, src_mac: bytes = b"\x02\0\0\0\0\x01",
                   dst_mac: bytes = b"\x02\0\0\0\0\x02") -> bytes:
    """Wrap an IPv4 or IPv6 packet in an Ethernet II header (for writing captures)."""
    etype = ETHERTYPE_IPV6 if ip_packet and ip_packet[0] >> 4 == 6 else ETHERTYPE_IPV4
    return dst_mac + src_mac + struct.pack("!H", etype) + ip_packet
