"""The RTCP common header (RFC 3550 6.4) and the framing every RTCP packet shares.

Every packet starts with a 4-octet header: version (2 bits, must be 2), padding bit, a 5-bit
count (report count, source count, APP subtype or feedback message type, depending on the
packet type), the 8-bit packet type and a 16-bit length in 32-bit words minus one. When the
padding bit is set the last octet of the packet counts the padding octets (itself included).

The packet classes keep the padding octets exactly as received (``padding`` field, the count
octet included), so ``bytes(Packet.parse(data)) == data`` holds even for odd padding contents.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from rtpstack.errors import RtcpParseError

__all__ = [
    "HEADER_SIZE",
    "PT_APP",
    "PT_BYE",
    "PT_PSFB",
    "PT_RR",
    "PT_RTPFB",
    "PT_SDES",
    "PT_SR",
    "PT_XR",
    "RTCP_VERSION",
    "RawRtcpPacket",
    "RtcpHeader",
    "RtcpParseError",
    "build_packet",
    "check_single",
    "frozen_factory",
    "make_padding",
    "split_packet",
]

RTCP_VERSION: Final = 2
HEADER_SIZE: Final = 4

PT_SR: Final = 200
PT_RR: Final = 201
PT_SDES: Final = 202
PT_BYE: Final = 203
PT_APP: Final = 204
PT_RTPFB: Final = 205
PT_PSFB: Final = 206
PT_XR: Final = 207

_HDR = struct.Struct("!BBH")
_T = TypeVar("_T")


def frozen_factory(cls: type[_T]) -> Callable[..., _T]:
    """A positional constructor for a frozen slotted dataclass, for parsers.

    ``frozen_factory(C)(*values)`` equals ``C(*values)`` when every field is given in order
    (the class must have no ``__post_init__``), but sets the slots through their descriptors
    instead of the frozen ``__init__``'s ``object.__setattr__`` calls: about twice as fast,
    which matters when a compound packet builds a dozen small values.
    """
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls!r} is not a dataclass without __post_init__")
    names = [f.name for f in dataclasses.fields(cls)]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for name in names:
        namespace[f"_set_{name}"] = cls.__dict__[name].__set__
    lines = [f"def make({', '.join(names)}):", "    obj = _new(_cls)"]
    lines += [f"    _set_{name}(obj, {name})" for name in names]
    lines.append("    return obj")
    exec("\n".join(lines), namespace)
    factory: Callable[..., _T] = namespace["make"]
    return factory


@dataclass(frozen=True, slots=True)
class RtcpHeader:
    """The 4-octet RTCP common header, as found on the wire."""

    padding: bool
    count: int
    packet_type: int
    length: int
    version: int = RTCP_VERSION

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> RtcpHeader:
        """Read the header at ``offset``; checks only its size and the version."""
        have = len(data) - offset
        if have < HEADER_SIZE:
            raise RtcpParseError(f"RTCP header truncated: need 4 octets, have {max(have, 0)}")
        b0, pt, length = _HDR.unpack_from(data, offset)
        version = b0 >> 6
        if version != RTCP_VERSION:
            raise RtcpParseError(f"RTCP version must be 2, got {version}")
        return cls(bool(b0 & 0x20), b0 & 0x1F, pt, length, version)

    @property
    def size(self) -> int:
        """Total packet size in octets that the length field announces."""
        return (self.length + 1) * 4

    def __bytes__(self) -> bytes:
        return _HDR.pack(
            (self.version << 6) | (0x20 if self.padding else 0) | (self.count & 0x1F),
            self.packet_type,
            self.length,
        )


def split_packet(data: bytes, offset: int = 0) -> tuple[int, int, bytes, bytes, int]:
    """Frame one packet at ``offset``.

    Returns ``(packet_type, count, body, padding, next_offset)`` where ``body`` is what follows
    the header with the padding removed and ``padding`` the removed octets (empty when P=0).
    """
    have = len(data) - offset
    if have < HEADER_SIZE:
        raise RtcpParseError(f"RTCP header truncated: need 4 octets, have {max(have, 0)}")
    b0, pt, length = _HDR.unpack_from(data, offset)
    if b0 >> 6 != RTCP_VERSION:
        raise RtcpParseError(f"RTCP version must be 2, got {b0 >> 6}")
    end = offset + 4 * length + 4
    if end > len(data):
        raise RtcpParseError(f"RTCP length field says {end - offset} octets, only {have} left")
    body = data[offset + HEADER_SIZE : end]
    if b0 & 0x20:
        count = body[-1] if body else 0
        if count == 0:
            raise RtcpParseError("RTCP padding bit set but padding count is 0")
        if count > len(body):
            raise RtcpParseError(
                f"RTCP padding count {count} exceeds the {len(body)} octets after the header"
            )
        return pt, b0 & 0x1F, body[:-count], body[-count:], end
    return pt, b0 & 0x1F, body, b"", end


def check_single(data: bytes, packet_type: int) -> tuple[int, bytes, bytes]:
    """Frame ``data`` as exactly one packet of ``packet_type`` (for the ``parse`` methods).

    Returns the header's count field, the body and the padding.
    """
    pt, count, body, padding, end = split_packet(data, 0)
    if pt != packet_type:
        raise RtcpParseError(f"RTCP packet type {packet_type} expected, got {pt}")
    if end != len(data):
        raise RtcpParseError(f"{len(data) - end} octets after the RTCP packet")
    return count, body, padding


def make_padding(n: int) -> bytes:
    """Conventional padding of ``n`` octets (zeros, then the count): for building packets."""
    if not 1 <= n <= 255:
        raise ValueError(f"padding size must be 1..255, got {n}")
    return bytes(n - 1) + bytes((n,))


def build_packet(count: int, packet_type: int, body: bytes, padding: bytes = b"") -> bytes:
    """Header + body + padding; the length field is computed.

    Raises ``ValueError`` when the result is not a whole number of 32-bit words, or when the
    padding's last octet does not give its size.
    """
    if not 0 <= count <= 31:
        raise ValueError(f"RTCP count field must be 0..31, got {count}")
    if padding and padding[-1] != len(padding):
        raise ValueError(f"padding of {len(padding)} octets ends with count {padding[-1]}")
    total = HEADER_SIZE + len(body) + len(padding)
    if total % 4:
        raise ValueError(f"RTCP packet of {total} octets is not a multiple of 4 (add padding)")
    words = total // 4 - 1
    if words > 0xFFFF:
        raise ValueError(f"RTCP packet of {total} octets is too long")
    b0 = (RTCP_VERSION << 6) | (0x20 if padding else 0) | count
    return _HDR.pack(b0, packet_type, words) + body + padding


@dataclass(frozen=True, slots=True)
class RawRtcpPacket:
    """A packet of a type this package does not decode, kept as received."""

    packet_type: int
    count: int
    body: bytes
    padding: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> RawRtcpPacket:
        """Frame exactly one packet of any type without decoding its body."""
        pt, count, body, padding, end = split_packet(data, 0)
        if end != len(data):
            raise RtcpParseError(f"{len(data) - end} octets after the RTCP packet")
        return cls(pt, count, body, padding)

    def __bytes__(self) -> bytes:
        return build_packet(self.count, self.packet_type, self.body, self.padding)
