"""TURN unwrapping: RTP/RTCP carried in ChannelData messages or in Send/Data indications.

WebRTC captures taken at a TURN client or server show media inside TURN framing (RFC 8656):
ChannelData (channel numbers 0x4000-0x4FFF, 4-byte header) or STUN Send/Data indications
with a DATA attribute. Over TCP/TLS several messages may share one segment; :func:`split_stream`
cuts a segment into messages. :func:`unwrap` returns the application payload, or ``None``.
"""

from __future__ import annotations

import struct

__all__ = [
    "STUN_DATA_INDICATION",
    "STUN_MAGIC_COOKIE",
    "STUN_SEND_INDICATION",
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


def split_stream(segment: bytes) -> list[bytes]:
    """Cut a TURN-over-TCP segment into whole STUN / ChannelData messages.

    Stops at the first bytes that are neither (for example the middle of a message split
    across segments; no TCP stream reassembly is attempted).
    """
    out: list[bytes] = []
    pos = 0
    while pos + 4 <= len(segment):
        rest = segment[pos:]
        if is_stun(rest):
            size = 20 + struct.unpack_from("!H", rest, 2)[0]
        elif 0x40 <= rest[0] <= 0x4F:
            length = struct.unpack_from("!H", rest, 2)[0]
            size = 4 + length + (-length % 4)  # padded to 4 over stream transports
            if len(rest) < 4 + length:
                break
            size = min(size, len(rest))
        else:
            break
        if size > len(rest):
            break
        out.append(rest[:size])
        pos += size
    return out
