"""Source description (SDES, PT 202, RFC 3550 6.5).

Each chunk is an SSRC followed by items (type, length, value) and ended by a null octet plus
zero octets up to the next 32-bit boundary. Item values are kept as raw bytes (``value``);
``text`` decodes them as UTF-8. PRIV items (type 8) split into ``prefix`` and ``priv_value`` on
demand (a malformed prefix length is kept, and only those two properties raise). Item types
this module does not name are kept as they are.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final

from rtpstack.errors import RtcpParseError
from rtpstack.rtcp.common import PT_SDES, build_packet, check_single, frozen_factory

__all__ = [
    "SDES_CNAME",
    "SDES_EMAIL",
    "SDES_END",
    "SDES_LOC",
    "SDES_NAME",
    "SDES_NOTE",
    "SDES_PHONE",
    "SDES_PRIV",
    "SDES_TOOL",
    "SDES_TYPE_NAMES",
    "SdesChunk",
    "SdesItem",
    "SourceDescription",
]

SDES_END: Final = 0
SDES_CNAME: Final = 1
SDES_NAME: Final = 2
SDES_EMAIL: Final = 3
SDES_PHONE: Final = 4
SDES_LOC: Final = 5
SDES_TOOL: Final = 6
SDES_NOTE: Final = 7
SDES_PRIV: Final = 8

SDES_TYPE_NAMES: Final[dict[int, str]] = {
    SDES_CNAME: "CNAME",
    SDES_NAME: "NAME",
    SDES_EMAIL: "EMAIL",
    SDES_PHONE: "PHONE",
    SDES_LOC: "LOC",
    SDES_TOOL: "TOOL",
    SDES_NOTE: "NOTE",
    SDES_PRIV: "PRIV",
}

_SSRC = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class SdesItem:
    """One SDES item: type and raw value (at most 255 octets)."""

    type: int
    value: bytes

    @property
    def name(self) -> str:
        """``CNAME`` ... ``PRIV``, or ``TYPE<n>`` for an unknown type."""
        return SDES_TYPE_NAMES.get(self.type, f"TYPE{self.type}")

    @property
    def text(self) -> str:
        """The value decoded as UTF-8 (undecodable octets replaced)."""
        return self.value.decode("utf-8", errors="replace")

    @property
    def prefix(self) -> bytes:
        """PRIV items: the prefix string (raises ``ValueError`` for other types)."""
        return self._priv()[0]

    @property
    def priv_value(self) -> bytes:
        """PRIV items: the value after the prefix."""
        return self._priv()[1]

    def _priv(self) -> tuple[bytes, bytes]:
        if self.type != SDES_PRIV:
            raise ValueError(f"SDES item type {self.type} is not PRIV")
        if not self.value or self.value[0] >= len(self.value):
            raise ValueError("PRIV item prefix length does not fit the item")
        n = self.value[0]
        return self.value[1 : 1 + n], self.value[1 + n :]

    @classmethod
    def text_item(cls, item_type: int, text: str) -> SdesItem:
        """An item whose value is ``text`` in UTF-8."""
        return cls(item_type, text.encode("utf-8"))

    @classmethod
    def priv(cls, prefix: bytes, value: bytes) -> SdesItem:
        """A PRIV item (RFC 3550 6.5.8)."""
        if len(prefix) > 255:
            raise ValueError("PRIV prefix longer than 255 octets")
        return cls(SDES_PRIV, bytes((len(prefix),)) + prefix + value)

    def __bytes__(self) -> bytes:
        if self.type == SDES_END or not 0 <= self.type <= 255:
            raise ValueError(f"SDES item type must be 1..255, got {self.type}")
        if len(self.value) > 255:
            raise ValueError(f"SDES item value longer than 255 octets: {len(self.value)}")
        return bytes((self.type, len(self.value))) + self.value


_make_item = frozen_factory(SdesItem)


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """An SSRC/CSRC and its items."""

    ssrc: int
    items: tuple[SdesItem, ...] = ()

    @property
    def cname(self) -> str | None:
        """The CNAME text, if the chunk carries one."""
        for item in self.items:
            if item.type == SDES_CNAME:
                return item.text
        return None

    def __bytes__(self) -> bytes:
        raw = _SSRC.pack(self.ssrc) + b"".join(bytes(i) for i in self.items) + b"\x00"
        return raw + bytes(-len(raw) % 4)


_make_chunk = frozen_factory(SdesChunk)


def _parse_chunk(body: bytes, offset: int, index: int) -> tuple[SdesChunk, int]:
    n = len(body)
    if n - offset < 4:
        raise RtcpParseError(
            f"SDES chunk {index} truncated: SSRC needs 4 octets, {n - offset} left"
        )
    (ssrc,) = _SSRC.unpack_from(body, offset)
    pos = offset + 4
    items: list[SdesItem] = []
    while True:
        if pos >= n:
            raise RtcpParseError(f"SDES chunk {index}: item list not terminated by a null octet")
        item_type = body[pos]
        if item_type == SDES_END:
            pos += 1
            break
        if pos + 2 > n:
            raise RtcpParseError(f"SDES item truncated: type {item_type} has no length octet")
        length = body[pos + 1]
        if pos + 2 + length > n:
            raise RtcpParseError(
                f"SDES item truncated: type {item_type} needs {length} octets, {n - pos - 2} left"
            )
        value = body[pos + 2 : pos + 2 + length]
        items.append(_make_item(item_type, value))
        pos += 2 + length
    end = pos + (-(pos - offset) % 4)
    if end > n:
        raise RtcpParseError(f"SDES chunk {index}: padding to 32 bits runs past the packet")
    if any(body[pos:end]):
        raise RtcpParseError(f"SDES chunk {index}: octets after the end item must be zero")
    return _make_chunk(ssrc, tuple(items)), end


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES (PT 202): up to 31 chunks."""

    chunks: tuple[SdesChunk, ...] = ()
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_SDES

    @classmethod
    def parse(cls, data: bytes) -> SourceDescription:
        """Parse exactly one SDES packet."""
        count, body, padding = check_single(data, PT_SDES)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> SourceDescription:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        chunks: list[SdesChunk] = []
        pos = 0
        for index in range(count):
            chunk, pos = _parse_chunk(body, pos, index)
            chunks.append(chunk)
        if pos != len(body):
            raise RtcpParseError(f"SDES: {len(body) - pos} octets after the last chunk")
        return _make_sdes(tuple(chunks), padding)

    def __bytes__(self) -> bytes:
        if len(self.chunks) > 31:
            raise ValueError(f"at most 31 SDES chunks fit one packet, got {len(self.chunks)}")
        body = b"".join(bytes(c) for c in self.chunks)
        return build_packet(len(self.chunks), PT_SDES, body, self.padding)


_make_sdes = frozen_factory(SourceDescription)
