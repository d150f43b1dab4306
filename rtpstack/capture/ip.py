"""IPv4 (with fragment reassembly), IPv6 (with extension headers), UDP and TCP.

:class:`IpDecoder` turns the network-layer bytes of one frame into a :class:`Segment` (the
transport 5-tuple and its payload), or ``None`` when the frame carries something else or is a
fragment still waiting for its siblings. It is sans-IO: the frame's capture time is passed in
and drives the expiry of incomplete fragment sets. :func:`udp_ip_packet` builds the reverse
direction for the capture writer.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from rtpstack.capture.link import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from rtpstack.errors import CaptureParseError

__all__ = [
    "PROTO_TCP",
    "PROTO_UDP",
    "FragmentReassembler",
    "IpDecoder",
    "Segment",
    "udp_ip_packet",
]

PROTO_TCP = 6
PROTO_UDP = 17
_IPV6_EXT = frozenset({0, 43, 60, 135, 139, 140})  # hop-by-hop, routing, dest opts, mobility...
_IPV6_FRAG = 44
_IPV6_AH = 51
_IPV6_NONE = 59


@dataclass(frozen=True, slots=True)
class Segment:
    """A transport payload with its addresses (``protocol`` is 17 for UDP, 6 for TCP)."""

    src: str
    sport: int
    dst: str
    dport: int
    protocol: int
    payload: bytes
    #: TCP sequence number of the first payload byte (0 for UDP)
    tcp_seq: int = 0


class FragmentReassembler:
    """Collect IP fragments and return whole datagrams; bounded in entries and in time.

    Keys identify the datagram (addresses, id, protocol). Incomplete sets older than
    ``timeout_ns`` (capture time) are dropped, and at most ``max_pending`` sets are kept.
    """

    def __init__(self, timeout_ns: int = 30_000_000_000, max_pending: int = 256) -> None:
        self.timeout_ns = timeout_ns
        self.max_pending = max_pending
        self._pending: dict[tuple[object, ...], tuple[int, dict[int, bytes], int | None]] = {}
        #: how many incomplete datagrams were given up (timeout or table full)
        self.expired = 0

    def feed(
        self, key: tuple[object, ...], offset: int, more: bool, data: bytes, now_ns: int
    ) -> bytes | None:
        """Add one fragment (``offset`` in bytes); return the datagram once complete."""
        self._expire(now_ns)
        first_seen, parts, total = self._pending.get(key, (now_ns, {}, None))
        parts[offset] = data
        if not more:
            total = offset + len(data)
        if key not in self._pending and len(self._pending) >= self.max_pending:
            oldest = min(self._pending, key=lambda k: self._pending[k][0])
            del self._pending[oldest]
            self.expired += 1
        self._pending[key] = (first_seen, parts, total)
        if total is None:
            return None
        out = bytearray()
        for off in sorted(parts):
            if off > len(out):
                return None  # a hole remains
            chunk = parts[off]
            if off + len(chunk) > len(out):
                out[off:] = chunk
        if len(out) < total:
            return None
        del self._pending[key]
        return bytes(out[:total])

    def _expire(self, now_ns: int) -> None:
        if not self._pending:
            return
        stale = [k for k, v in self._pending.items() if now_ns - v[0] > self.timeout_ns]
        for k in stale:
            del self._pending[k]
            self.expired += 1


_V4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")


class IpDecoder:
    """Decode IPv4/IPv6 + UDP/TCP, reassembling fragments across calls."""

    def __init__(self, reassembler: FragmentReassembler | None = None) -> None:
        self.reassembler = reassembler or FragmentReassembler()

    def decode(self, ethertype: int, data: bytes, now_ns: int) -> Segment | None:
        """Return the transport segment in ``data``, or ``None`` (not IP, not UDP/TCP, or an
        incomplete fragment). Malformed headers raise :class:`CaptureParseError`."""
        if ethertype == ETHERTYPE_IPV4:
            return self._ipv4(data, now_ns)
        if ethertype == ETHERTYPE_IPV6:
            return self._ipv6(data, now_ns)
        return None

    def _ipv4(self, data: bytes, now_ns: int) -> Segment | None:
        if len(data) < 20:
            raise CaptureParseError(f"truncated IPv4 header ({len(data)} bytes)")
        vihl, _tos, total, ident, frag, _ttl, proto, _csum, s, d = _V4.unpack_from(data)
        if vihl >> 4 != 4:
            raise CaptureParseError(f"bad IPv4 version {vihl >> 4}")
        ihl = (vihl & 15) * 4
        if ihl < 20 or total < ihl:
            raise CaptureParseError(f"bad IPv4 header length {ihl} (total {total})")
        if len(data) < total:
            raise CaptureParseError(f"truncated IPv4 packet: need {total} bytes, have {len(data)}")
        payload = data[ihl:total]  # drops Ethernet trailer padding
        more = bool(frag & 0x2000)
        offset = (frag & 0x1FFF) * 8
        src, dst = socket.inet_ntop(socket.AF_INET, s), socket.inet_ntop(socket.AF_INET, d)
        if more or offset:
            whole = self.reassembler.feed((4, s, d, ident, proto), offset, more, payload, now_ns)
            if whole is None:
                return None
            payload = whole
        return _transport(proto, src, dst, payload)

    def _ipv6(self, data: bytes, now_ns: int) -> Segment | None:
        if len(data) < 40:
            raise CaptureParseError(f"truncated IPv6 header ({len(data)} bytes)")
        if data[0] >> 4 != 6:
            raise CaptureParseError(f"bad IPv6 version {data[0] >> 4}")
        plen, nxt = struct.unpack_from("!HB", data, 4)
        if len(data) < 40 + plen:
            raise CaptureParseError(
                f"truncated IPv6 packet: need {40 + plen} bytes, have {len(data)}"
            )
        src = socket.inet_ntop(socket.AF_INET6, data[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, data[24:40])
        pos, end = 40, 40 + plen
        frag: tuple[int, bool, int] | None = None
        while True:
            if nxt in _IPV6_EXT or nxt == _IPV6_AH:
                if pos + 2 > end:
                    raise CaptureParseError("truncated IPv6 extension header")
                hlen = (data[pos + 1] + 2) * 4 if nxt == _IPV6_AH else (data[pos + 1] + 1) * 8
                nxt = data[pos]
                pos += hlen
                if pos > end:
                    raise CaptureParseError("truncated IPv6 extension header")
            elif nxt == _IPV6_FRAG:
                if pos + 8 > end:
                    raise CaptureParseError("truncated IPv6 fragment header")
                nxt2, _r, offm, ident = struct.unpack_from("!BBHI", data, pos)
                frag = (offm & 0xFFF8, bool(offm & 1), ident)
                nxt = nxt2
                pos += 8
            else:
                break
        if nxt == _IPV6_NONE:
            return None
        payload = data[pos:end]
        if frag is not None and (frag[0] or frag[1]):
            key = (6, data[8:24], data[24:40], frag[2], nxt)
            whole = self.reassembler.feed(key, frag[0], frag[1], payload, now_ns)
            if whole is None:
                return None
            payload = whole
        return _transport(nxt, src, dst, payload)


def _transport(proto: int, src: str, dst: str, payload: bytes) -> Segment | None:
    if proto == PROTO_UDP:
        if len(payload) < 8:
            raise CaptureParseError(f"truncated UDP header ({len(payload)} bytes)")
        sport, dport, ulen, _csum = _UDP.unpack_from(payload)
        if ulen < 8:
            ulen = len(payload)  # 0 = jumbogram or lazy writer: trust the IP length
        if ulen > len(payload):
            raise CaptureParseError(
                f"truncated UDP datagram: need {ulen} bytes, have {len(payload)}"
            )
        return Segment(src, sport, dst, dport, PROTO_UDP, payload[8:ulen])
    if proto == PROTO_TCP:
        if len(payload) < 20:
            raise CaptureParseError(f"truncated TCP header ({len(payload)} bytes)")
        sport, dport, seq = struct.unpack_from("!HHI", payload)
        hlen = (payload[12] >> 4) * 4
        if hlen < 20 or hlen > len(payload):
            raise CaptureParseError(f"bad TCP header length {hlen}")
        return Segment(src, sport, dst, dport, PROTO_TCP, payload[hlen:], seq)
    return None


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total % 65536) + (total >> 16)
    return 65535 - total


def udp_ip_packet(src: str, sport: int, dst: str, dport: int, payload: bytes,
                  ident: int = 0) -> bytes:
    """Build an IPv4 or IPv6 packet holding one UDP datagram, with valid checksums."""
    ulen = 8 + len(payload)
    if ":" in src:
        s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
        pseudo = s + d + struct.pack("!IxxxB", ulen, PROTO_UDP)
        csum = _checksum(pseudo + _UDP.pack(sport, dport, ulen, 0) + payload) or 65535
        hdr = struct.pack("!IHBB", 6 << 28, ulen, PROTO_UDP, 64) + s + d
        return hdr + _UDP.pack(sport, dport, ulen, csum) + payload
    s, d = socket.inet_pton(socket.AF_INET, src), socket.inet_pton(socket.AF_INET, dst)
    pseudo = s + d + struct.pack("!xBH", PROTO_UDP, ulen)
    csum = _checksum(pseudo + _UDP.pack(sport, dport, ulen, 0) + payload) or 65535
    hdr = _V4.pack(0x45, 0, 20 + ulen, ident % 65536, 0x4000, 64, PROTO_UDP, 0, s, d)
    hdr = hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:]
    return hdr + _UDP.pack(sport, dport, ulen, csum) + payload
