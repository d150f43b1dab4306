"""RTP packets (RFC 3550 section 5.1) as typed, immutable values.

:class:`RtpPacket` is a frozen slotted dataclass with :meth:`RtpPacket.parse` and
``bytes(packet)``; parse followed by serialization reproduces the input byte for byte,
including the padding octets and the exact encoding of the header extension.

Validation (all :class:`~rtpstack.errors.RtpParseError`, messages asserted by the tests)::

    RTP packet too short: {n} octets, the fixed header needs 12
    RTP version {v} is not 2
    RTP CSRC list (CC={cc}) runs past the end of the packet
    RTP header extension header runs past the end of the packet
    RTP header extension (length field {words}) runs past the end of the packet
    RTP padding count is 0
    RTP padding count {p} exceeds the {n} octets after the header
    one-byte header extension element {id} runs past the end of the block
    two-byte header extension element {id} has no length octet
    two-byte header extension element {id} runs past the end of the block

The checks are the same as :func:`rtpstack.fastpath.parse_header`'s (inlined for speed); the
property tests in ``tests/test_fastpath.py`` hold both to the same results and messages.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from rtpstack.errors import RtpParseError
from rtpstack.fastpath import ONE_BYTE_PROFILE, Buffer, scan_values
from rtpstack.headerext import ExtensionElement, HeaderExtension

__all__ = ["RTP_HEADER_SIZE", "RtpPacket"]

RTP_HEADER_SIZE = 12

_FIXED = struct.Struct("!BBHII")
_EXT_HDR = struct.Struct("!HH")
_unpack_fixed = _FIXED.unpack_from
_unpack_ext = _EXT_HDR.unpack_from
_CSRC_STRUCTS = tuple(struct.Struct(f"!{n}I") for n in range(16))


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet.

    ``padding_size`` counts the padding octets including the final count octet (0 when the
    P bit is clear). ``padding_data`` holds the padding octets before the count octet exactly
    as received; leave it empty to have them serialized as zeros.
    """

    version: int = 2
    padding: bool = False
    marker: bool = False
    payload_type: int = 0
    sequence_number: int = 0
    timestamp: int = 0
    ssrc: int = 0
    csrcs: tuple[int, ...] = ()
    extension: HeaderExtension | None = None
    payload: bytes = b""
    padding_size: int = 0
    padding_data: bytes = b""

    @classmethod
    def parse(cls, data: Buffer) -> RtpPacket:
        """Parse one RTP packet; raises :class:`~rtpstack.errors.RtpParseError`.

        The checks are those of :func:`rtpstack.fastpath.parse_header`, inlined (this is
        the typed parser's hot loop); the property tests hold the two to the same answers.
        """
        if type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        if n < 12:
            raise RtpParseError(f"RTP packet too short: {n} octets, the fixed header needs 12")
        b0, b1, seq, ts, ssrc = _unpack_fixed(data)
        if b0 & 0xC0 != 0x80:
            raise RtpParseError(f"RTP version {b0 >> 6} is not 2")
        p: Any = _obj_new(_MutablePacket)
        p.version = 2
        p.marker = b1 > 127
        p.payload_type = b1 & 0x7F
        p.sequence_number = seq
        p.timestamp = ts
        p.ssrc = ssrc
        cc = b0 & 0x0F
        if cc:
            pos = 12 + (cc << 2)
            if pos > n:
                raise RtpParseError(f"RTP CSRC list (CC={cc}) runs past the end of the packet")
            p.csrcs = _CSRC_STRUCTS[cc].unpack_from(data, 12)
        else:
            pos = 12
            p.csrcs = ()
        if b0 & 0x10:
            if pos + 4 > n:
                raise RtpParseError("RTP header extension header runs past the end of the packet")
            profile, words = _unpack_ext(data, pos)
            i = pos + 4
            pos = i + (words << 2)
            if pos > n:
                raise RtpParseError(
                    f"RTP header extension (length field {words}) runs past the end of the packet"
                )
            if profile == ONE_BYTE_PROFILE:  # validate the elements (read on access)
                b = 0
                while i < pos:
                    b = data[i]
                    if b:
                        if b < 0x10 or b > 0xEF:  # ID 0 with a length, or ID 15: stop
                            break
                        i += 2 + (b & 0x0F)
                    else:
                        i += 1
                if i > pos:
                    raise RtpParseError(
                        f"one-byte header extension element {b >> 4} runs past the end "
                        "of the block"
                    )
            elif profile & 0xFFF0 == 0x1000:
                scan_values(data, profile, i, pos)
            e: Any = _obj_new(_MutableExtension)
            e.profile = profile
            e.data = data[pos - (words << 2) : pos]
            e.__class__ = HeaderExtension
            p.extension = e
        else:
            p.extension = None
        if b0 & 0x20:
            pad = data[-1]
            if pad == 0:
                raise RtpParseError("RTP padding count is 0")
            if pad > n - pos:
                raise RtpParseError(
                    f"RTP padding count {pad} exceeds the {n - pos} octets after the header"
                )
            p.padding = True
            p.payload = data[pos : n - pad]
            p.padding_size = pad
            p.padding_data = data[n - pad : -1]
        else:
            p.padding = False
            p.payload = data[pos:]
            p.padding_size = 0
            p.padding_data = b""
        p.__class__ = RtpPacket
        if cls is not RtpPacket:  # a subclass may not share the slot layout: copy
            return cls(*[getattr(p, name) for name in _FIELDS])
        return p  # type: ignore[no-any-return]

    @property
    def csrc_count(self) -> int:
        """The CC field: number of CSRCs."""
        return len(self.csrcs)

    @property
    def header_size(self) -> int:
        """Octets before the payload."""
        ext = self.extension
        return 12 + 4 * len(self.csrcs) + (4 + len(ext.data) if ext is not None else 0)

    def get_extension(self, ext_id: int) -> bytes | None:
        """Value of RFC 8285 element ``ext_id``, or ``None`` (also without an extension)."""
        ext = self.extension
        return None if ext is None else ext.get(ext_id)

    @property
    def extension_elements(self) -> tuple[ExtensionElement, ...]:
        """RFC 8285 elements in packet order (empty without an extension)."""
        ext = self.extension
        return () if ext is None else ext.elements

    def __bytes__(self) -> bytes:
        cc = len(self.csrcs)
        if cc > 15:
            raise ValueError(f"an RTP packet holds at most 15 CSRCs, not {cc}")
        psize = self.padding_size
        if self.padding != (psize > 0):
            raise ValueError(
                f"padding flag {self.padding} does not match padding_size {psize}"
            )
        if not 0 <= self.version <= 3 or not 0 <= self.payload_type <= 127:
            raise ValueError(
                f"RTP version {self.version} / payload type {self.payload_type} out of range"
            )
        ext = self.extension
        try:
            out = _FIXED.pack(
                (self.version << 6)
                | (0x20 if psize else 0)
                | (0x10 if ext is not None else 0)
                | cc,
                (0x80 if self.marker else 0) | self.payload_type,
                self.sequence_number,
                self.timestamp,
                self.ssrc,
            )
            if cc:
                out += _CSRC_STRUCTS[cc].pack(*self.csrcs)
        except struct.error as exc:
            raise ValueError(f"RTP header field out of range: {exc}") from None
        if ext is not None:
            out += bytes(ext)
        out += self.payload
        if psize:
            if psize > 255:
                raise ValueError(f"padding_size {psize} is more than 255")
            pad = self.padding_data
            if pad and len(pad) != psize - 1:
                raise ValueError(
                    f"padding_data is {len(pad)} octets, padding_size {psize} needs {psize - 1}"
                )
            out += (pad or bytes(psize - 1)) + bytes((psize,))
        return out


class _MutablePacket:
    """Same slot layout as :class:`RtpPacket`, without the frozen ``__setattr__``.

    ``RtpPacket.parse`` fills one of these with plain slot stores and then re-classes it as
    an ordinary ``RtpPacket``: a frozen dataclass ``__init__`` costs several times more
    (each field goes through ``object.__setattr__``), and parse speed matters here.
    """

    __slots__ = RtpPacket.__slots__
    version: int
    padding: bool
    marker: bool
    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    csrcs: tuple[int, ...]
    extension: HeaderExtension | None
    payload: bytes
    padding_size: int
    padding_data: bytes


class _MutableExtension:
    """Same slot layout as :class:`HeaderExtension` (see :class:`_MutablePacket`)."""

    __slots__ = HeaderExtension.__slots__
    profile: int
    data: bytes


_obj_new = object.__new__
_FIELDS = RtpPacket.__slots__
