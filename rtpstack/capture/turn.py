"""TURN unwrapping: RTP/RTCP carried in ChannelData messages or in Send/Data indications.

WebRTC captures taken at a TURN client or server show media inside TURN framing (RFC 8656):
ChannelData (channel numbers 0x4000-0x4FFF, 4-byte header) or STUN Send/Data indications
with a DATA attribute. Over TCP several messages may share one segment and one message may
span segments; :class:`TcpMessageReassembler` follows the TCP sequence numbers and returns
whole messages. :func:`unwrap` returns the application payload, or ``None``.
"""

from __future__ import annotations

import struct

from rtpstack.seqnum import ts_add, ts_diff

__all__ = [
    "STUN_DATA_INDICATION",
    "STUN_MAGIC_COOKIE",
    "STUN_SEND_INDICATION",
    "TcpMessageReassembler",
    "is_channel_data",
    "is_stun",
    "split_stream",
    "unwrap",
]

STUN_MAGIC_COOKIE = 0x2112A442
STUN_SEND_INDICATION = 0x0016
STUN_DATA_INDICATION = 0x0017
_ATTR_DATA = 0x0013


def is_stun(data: bytes) -> bool:
    """True when ``data`` starts like a STUN message (RFC 5389 header with magic cookie)."""
    return (
        len(data) >= 20
        and data[0] < 4
        and struct.unpack_from("!I", data, 4)[0] == STUN_MAGIC_COOKIE
        and struct.unpack_from("!H", data, 2)[0] % 4 == 0
    )


def is_channel_data(data: bytes, *, exact: bool = True) -> bool:
    """True when ``data`` is one ChannelData message (``exact``: nothing but padding after)."""
    if len(data) < 4 or not 0x40 <= data[0] <= 0x4F:
        return False
    length = struct.unpack_from("!H", data, 2)[0]
    if len(data) < 4 + length:
        return False
    return not exact or len(data) - 4 - length < 4


def _data_attribute(msg: bytes) -> bytes | None:
    mlen = struct.unpack_from("!H", msg, 2)[0]
    end = min(len(msg), 20 + mlen)
    pos = 20
    while pos + 4 <= end:
        atype, alen = struct.unpack_from("!HH", msg, pos)
        if atype == _ATTR_DATA:
            if pos + 4 + alen > end:
                return None
            return msg[pos + 4 : pos + 4 + alen]
        pos += 4 + alen + (-alen % 4)
    return None


def unwrap(data: bytes) -> bytes | None:
    """The payload inside one ChannelData message or Send/Data indication, else ``None``."""
    if is_channel_data(data, exact=False):
        length = struct.unpack_from("!H", data, 2)[0]
        return data[4 : 4 + length]
    if is_stun(data) and struct.unpack_from("!H", data)[0] in (
        STUN_SEND_INDICATION,
        STUN_DATA_INDICATION,
    ):
        return _data_attribute(data)
    return None


def _frames(buf: bytes | bytearray) -> tuple[list[bytes], int, bool]:
    """Whole messages at the start of ``buf``: (messages, bytes consumed, stopped on garbage)."""
    out: list[bytes] = []
    pos = 0
    while pos + 4 <= len(buf):
        rest = bytes(buf[pos : pos + 4])
        if rest[0] < 4:
            if pos + 20 > len(buf):
                return out, pos, False
            if not is_stun(bytes(buf[pos : pos + 20])):
                return out, pos, True
            size = 20 + struct.unpack_from("!H", rest, 2)[0]
        elif 0x40 <= rest[0] <= 0x4F:
            length = struct.unpack_from("!H", rest, 2)[0]
            size = 4 + length + (-length % 4)  # padded to 4 over stream transports
        else:
            return out, pos, True
        if pos + size > len(buf):
            return out, pos, False
        out.append(bytes(buf[pos : pos + size]))
        pos += size
    return out, pos, False


def split_stream(segment: bytes) -> list[bytes]:
    """Cut one TURN-over-TCP segment into whole STUN / ChannelData messages (no state:
    a message continued in the next segment is left out; see :class:`TcpMessageReassembler`)."""
    return _frames(segment)[0]


class TcpMessageReassembler:
    """Reassemble STUN/ChannelData messages from TCP segments, per direction of a connection.

    Follows TCP sequence numbers: retransmitted bytes are skipped, a gap (lost segment) or
    bytes that are not TURN framing drop the partial message and resynchronise on the next
    segment. Bounded: ``max_flows`` directions, ``max_buffer`` bytes pending in each.
    """

    def __init__(self, max_flows: int = 1024, max_buffer: int = 65_536 + 8) -> None:
        self.max_flows = max_flows
        self.max_buffer = max_buffer
        self._flows: dict[tuple[str, int, str, int], tuple[int, bytearray]] = {}
        #: bytes given up (gaps, garbage, overflows)
        self.discarded = 0

    def feed(self, key: tuple[str, int, str, int], seq: int, data: bytes) -> list[bytes]:
        """Add one segment's payload (``seq``: its first byte); return completed messages."""
        state = self._flows.pop(key, None)
        if state is None:
            if len(self._flows) >= self.max_flows:
                del self._flows[next(iter(self._flows))]
            next_seq, buf = seq, bytearray()
        else:
            next_seq, buf = state
        d = ts_diff(seq, next_seq)
        if d < 0:  # retransmission or overlap: keep only the new bytes
            data = data[-d:] if -d < len(data) else b""
        elif d > 0:  # a segment is missing: the partial message cannot be completed
            self.discarded += len(buf)
            buf = bytearray()
        # TCP sequence numbers are 32-bit serial numbers, like RTP timestamps
        next_seq = ts_add(seq if d >= 0 else next_seq, len(data))
        buf += data
        msgs, used, garbage = _frames(buf)
        del buf[:used]
        if garbage or len(buf) > self.max_buffer:
            self.discarded += len(buf)
            buf = bytearray()
        self._flows[key] = (next_seq, buf)
        return msgs
