"""The pure-Python backend of :mod:`rtpstack.fastpath` (the reference twin of ``_fastpath.c``).

Import :mod:`rtpstack.fastpath`, not this module: it picks the C extension when it was built
and this module otherwise. The C extension also calls back into this module for the calls it
does not handle natively (keyword arguments, buffer types other than ``bytes``, ``bytearray``
and unsigned-byte memoryviews, arguments that are not plain ``int``), so both backends give
the same results and raise the same exceptions with the same messages.

Nothing here builds an object per packet: every function takes the datagram (``bytes``,
``bytearray`` or anything ``struct`` can read) and returns plain ints, bools and tuples. The
typed classes in :mod:`rtpstack.rtp` and :mod:`rtpstack.headerext` are built on these
functions, so both give the same answers and raise the same :class:`RtpParseError` messages.

The API and the tuple layouts are documented in :mod:`rtpstack.fastpath`.

One-byte form rules (RFC 8285 4.2): octet 0x00 is padding; ID 15 stops processing of the
block; ID 0 with a non-zero length is not padding and also stops processing (as pion and
libwebrtc do). Two-byte form (4.3): octet 0x00 is padding, zero-length values are allowed.
An element whose value runs past the block is an error.
"""

from __future__ import annotations

import struct

from rtpstack.errors import RtpParseError

__all__ = [
    "NAME",
    "ONE_BYTE_PROFILE",
    "TWO_BYTE_PROFILE",
    "TWO_BYTE_PROFILE_MASK",
    "Buffer",
    "ElementSpan",
    "HeaderFields",
    "PacketView",
    "extension_elements",
    "find_extension",
    "header_length",
    "parse_header",
    "read_packet",
    "rewrite_header",
    "scan_elements",
    "scan_values",
    "set_marker",
    "set_payload_type",
    "set_sequence_number",
    "set_ssrc",
    "set_timestamp",
    "write_extension",
]

#: The backend's name, as in :data:`rtpstack.fastpath.backend`.
NAME = "python"

ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE = 0x1000
TWO_BYTE_PROFILE_MASK = 0xFFF0

Buffer = bytes | bytearray | memoryview
ElementSpan = tuple[int, int, int]
HeaderFields = tuple[bool, int, int, int, int, int, int, int, int]
PacketView = tuple[bool, int, int, int, int, int, int, list[ElementSpan]]

_FIXED = struct.Struct("!BBHII")
_FIXED_EXT = struct.Struct("!BBHIIHH")
_EXT_HDR = struct.Struct("!HH")
_SEQ_TS_SSRC = struct.Struct("!HII")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

_unpack_fixed = _FIXED.unpack_from
_unpack_ext = _EXT_HDR.unpack_from
_unpack_fixed_ext = _FIXED_EXT.unpack_from


def parse_header(data: Buffer) -> HeaderFields:
    """Validate the RTP framing of ``data`` and return its fields and offsets.

    See the module docstring for the tuple layout. Raises :class:`RtpParseError`.
    """
    n = len(data)
    if n < 12:
        raise RtpParseError(f"RTP packet too short: {n} octets, the fixed header needs 12")
    b0, b1, seq, ts, ssrc = _unpack_fixed(data)
    if b0 < 0x80 or b0 > 0xBF:
        raise RtpParseError(f"RTP version {b0 >> 6} is not 2")
    pos = 12 + ((b0 & 0x0F) << 2)
    if pos > n:
        raise RtpParseError(
            f"RTP CSRC list (CC={b0 & 0x0F}) runs past the end of the packet"
        )
    if b0 & 0x10:
        if pos + 4 > n:
            raise RtpParseError("RTP header extension header runs past the end of the packet")
        profile, words = _unpack_ext(data, pos)
        ext_start = pos + 4
        pos = ext_start + (words << 2)
        if pos > n:
            raise RtpParseError(
                f"RTP header extension (length field {words}) runs past the end of the packet"
            )
    else:
        profile = -1
        ext_start = pos
    end = n
    if b0 & 0x20:
        pad = data[n - 1]
        if pad == 0:
            raise RtpParseError("RTP padding count is 0")
        if pad > n - pos:
            raise RtpParseError(
                f"RTP padding count {pad} exceeds the {n - pos} octets after the header"
            )
        end = n - pad
    return (b1 > 127, b1 & 0x7F, seq, ts, ssrc, profile, ext_start, pos, end)


def header_length(data: Buffer) -> int:
    """Octets before the payload: 12 + 4*CC (+ 4 + 4*length with an extension).

    Validates version, CSRC list and extension bounds (not padding).
    """
    n = len(data)
    if n < 12:
        raise RtpParseError(f"RTP packet too short: {n} octets, the fixed header needs 12")
    b0 = data[0]
    if b0 < 0x80 or b0 > 0xBF:
        raise RtpParseError(f"RTP version {b0 >> 6} is not 2")
    pos = 12 + ((b0 & 0x0F) << 2)
    if pos > n:
        raise RtpParseError(
            f"RTP CSRC list (CC={b0 & 0x0F}) runs past the end of the packet"
        )
    if b0 & 0x10:
        if pos + 4 > n:
            raise RtpParseError("RTP header extension header runs past the end of the packet")
        words = (data[pos + 2] << 8) | data[pos + 3]
        pos += 4 + (words << 2)
        if pos > n:
            raise RtpParseError(
                f"RTP header extension (length field {words}) runs past the end of the packet"
            )
    return pos


def scan_elements(data: Buffer, profile: int, start: int, end: int) -> list[ElementSpan]:
    """RFC 8285 elements in ``data[start:end]`` as ``(id, value_offset, value_length)``.

    Returns an empty list for profiles other than 0xBEDE and 0x100X (their data is opaque).
    Raises :class:`RtpParseError` when an element runs past ``end``.
    """
    out: list[ElementSpan] = []
    i = start
    if profile == ONE_BYTE_PROFILE:
        while i < end:
            b = data[i]
            if b:
                if b < 0x10 or b > 0xEF:  # ID 0 with a length, or ID 15: stop
                    break
                j = i + 2 + (b & 0x0F)
                if j > end:
                    raise RtpParseError(
                        f"one-byte header extension element {b >> 4} runs past the end "
                        "of the block"
                    )
                out.append((b >> 4, i + 1, j - i - 1))
                i = j
            else:
                i += 1
    elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
        while i < end:
            eid = data[i]
            if eid == 0:
                i += 1
                continue
            if i + 1 >= end:
                raise RtpParseError(
                    f"two-byte header extension element {eid} has no length octet"
                )
            ln = data[i + 1]
            i += 2
            if i + ln > end:
                raise RtpParseError(
                    f"two-byte header extension element {eid} runs past the end of the block"
                )
            out.append((eid, i, ln))
            i += ln
    return out


def scan_values(data: bytes, profile: int, start: int, end: int) -> list[tuple[int, bytes]]:
    """Like :func:`scan_elements`, but returns ``(id, value_bytes)`` pairs.

    Same rules and errors; used by the typed classes (``data`` must be ``bytes``).
    """
    out: list[tuple[int, bytes]] = []
    i = start
    if profile == ONE_BYTE_PROFILE:
        while i < end:
            b = data[i]
            if b:
                if b < 0x10 or b > 0xEF:  # ID 0 with a length, or ID 15: stop
                    break
                j = i + 2 + (b & 0x0F)
                if j > end:
                    raise RtpParseError(
                        f"one-byte header extension element {b >> 4} runs past the end "
                        "of the block"
                    )
                out.append((b >> 4, data[i + 1 : j]))
                i = j
            else:
                i += 1
    elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
        while i < end:
            eid = data[i]
            if eid == 0:
                i += 1
                continue
            if i + 1 >= end:
                raise RtpParseError(
                    f"two-byte header extension element {eid} has no length octet"
                )
            i += 2
            j = i + data[i - 1]
            if j > end:
                raise RtpParseError(
                    f"two-byte header extension element {eid} runs past the end of the block"
                )
            out.append((eid, data[i:j]))
            i = j
    return out


def read_packet(data: Buffer) -> PacketView:
    """Everything a forwarder reads from one packet, without building objects.

    Returns ``(marker, payload_type, sequence_number, timestamp, ssrc, payload_start,
    payload_end, elements)`` where ``elements`` is a list of ``(id, offset, length)``.
    Same validation and messages as :func:`parse_header` and :func:`scan_elements`. The
    common WebRTC shape (version 2, X=1, no CSRCs, one-byte form) is read with one 16-octet
    unpack and an inlined element loop; everything else goes through the general functions.
    """
    try:
        b0, b1, seq, ts, ssrc, profile, words = _unpack_fixed_ext(data)
    except struct.error:
        b0 = 0  # shorter than 16 octets: take the general path below
    if b0 & 0xDF != 0x90 or profile != 0xBEDE:  # v2, X=1, CC=0 (P may be set), one-byte
        marker, pt, seq, ts, ssrc, profile, i, pos, end = parse_header(data)
        if profile < 0:
            return (marker, pt, seq, ts, ssrc, pos, end, [])
        return (marker, pt, seq, ts, ssrc, pos, end, scan_elements(data, profile, i, pos))
    n = len(data)
    pos = 16 + (words << 2)
    if pos > n:
        raise RtpParseError(
            f"RTP header extension (length field {words}) runs past the end of the packet"
        )
    out: list[ElementSpan] = []
    i = 16
    while i < pos:
        b = data[i]
        if b:
            if b < 0x10 or b > 0xEF:  # ID 0 with a length, or ID 15: stop
                break
            j = i + 2 + (b & 0x0F)
            if j > pos:
                raise RtpParseError(
                    f"one-byte header extension element {b >> 4} runs past the end of the block"
                )
            out.append((b >> 4, i + 1, j - i - 1))
            i = j
        else:
            i += 1
    if b0 & 0x20:
        pad = data[n - 1]
        if pad == 0:
            raise RtpParseError("RTP padding count is 0")
        if pad > n - pos:
            raise RtpParseError(
                f"RTP padding count {pad} exceeds the {n - pos} octets after the header"
            )
        return (b1 > 127, b1 & 0x7F, seq, ts, ssrc, pos, n - pad, out)
    return (b1 > 127, b1 & 0x7F, seq, ts, ssrc, pos, n, out)


def extension_elements(data: Buffer) -> list[ElementSpan]:
    """All RFC 8285 elements of the packet as ``(id, value_offset, value_length)``."""
    h = parse_header(data)
    if h[5] < 0:
        return []
    return scan_elements(data, h[5], h[6], h[7])


def find_extension(data: Buffer, ext_id: int) -> tuple[int, int] | None:
    """``(value_offset, value_length)`` of the first element ``ext_id``, or ``None``."""
    for eid, off, ln in extension_elements(data):
        if eid == ext_id:
            return (off, ln)
    return None


def rewrite_header(buf: bytearray, ssrc: int, sequence_number: int, timestamp: int) -> None:
    """Overwrite SSRC, sequence number and timestamp of the packet in ``buf`` in place.

    Values are range-checked first, so ``buf`` is unchanged when this raises ``ValueError``.
    """
    if 0 <= ssrc <= 0xFFFFFFFF and 0 <= sequence_number <= 0xFFFF and 0 <= timestamp <= 0xFFFFFFFF:
        try:
            _SEQ_TS_SSRC.pack_into(buf, 2, sequence_number, timestamp, ssrc)
            return
        except struct.error as exc:
            raise ValueError(f"cannot rewrite RTP header: {exc}") from None
    raise ValueError(
        f"cannot rewrite RTP header: SSRC {ssrc}, sequence number {sequence_number} or "
        f"timestamp {timestamp} out of range"
    )


def _set(s: struct.Struct, buf: bytearray, offset: int, value: int, limit: int, what: str) -> None:
    if not 0 <= value <= limit:
        raise ValueError(f"cannot set {what}: {value} is not in 0..{limit}")
    try:
        s.pack_into(buf, offset, value)
    except struct.error as exc:
        raise ValueError(f"cannot set {what}: {exc}") from None


def set_ssrc(buf: bytearray, ssrc: int) -> None:
    """Overwrite the SSRC (octets 8-11) in place."""
    _set(_U32, buf, 8, ssrc, 0xFFFFFFFF, "SSRC")


def set_sequence_number(buf: bytearray, sequence_number: int) -> None:
    """Overwrite the sequence number (octets 2-3) in place."""
    _set(_U16, buf, 2, sequence_number, 0xFFFF, "sequence number")


def set_timestamp(buf: bytearray, timestamp: int) -> None:
    """Overwrite the timestamp (octets 4-7) in place."""
    _set(_U32, buf, 4, timestamp, 0xFFFFFFFF, "timestamp")


def set_marker(buf: bytearray, marker: bool) -> None:
    """Set or clear the marker bit in place."""
    buf[1] = (buf[1] | 0x80) if marker else (buf[1] & 0x7F)


def set_payload_type(buf: bytearray, payload_type: int) -> None:
    """Overwrite the 7-bit payload type in place, keeping the marker bit."""
    if not 0 <= payload_type <= 127:
        raise ValueError(f"payload type {payload_type} is not in 0..127")
    buf[1] = (buf[1] & 0x80) | payload_type


def write_extension(buf: bytearray, ext_id: int, value: bytes) -> bool:
    """Overwrite the value of element ``ext_id`` in place; False when it is absent.

    The new value must have the element's current length (the block is not resized).
    """
    span = find_extension(buf, ext_id)
    if span is None:
        return False
    off, ln = span
    if len(value) != ln:
        raise ValueError(
            f"extension {ext_id} value is {ln} octets, cannot write {len(value)} in place"
        )
    buf[off : off + ln] = value
    return True
