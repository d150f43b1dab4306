"""The RTP forwarding fast path: read and rewrite headers in ``bytes``/``bytearray``.

Nothing here builds an object per packet: every function takes the datagram (``bytes``,
``bytearray`` or ``memoryview``) and returns plain ints, bools and tuples. The typed classes in
:mod:`rtpstack.rtp` and :mod:`rtpstack.headerext` are built on these functions, so both give
the same answers and raise the same :class:`~rtpstack.errors.RtpParseError` messages.

Two backends implement the same functions: the C extension ``rtpstack._fastpath`` when it was
built, else the pure-Python twin ``rtpstack._fastpath_py``. :data:`backend` names the active
one; ``RTPSTACK_FASTPATH_BACKEND=python`` forces Python, ``=c`` demands C (import fails when it
is not built), unset or ``auto`` takes C when available. Both give the same results, raise the
same exceptions with the same messages and leave the same bytes; the tests hold them to it.

Public API (names are stable; other layers call them):

``parse_header(data) -> (marker, payload_type, sequence_number, timestamp, ssrc,
ext_profile, ext_start, payload_start, payload_end)``
    Validate the whole RTP framing (RFC 3550 5.1: version 2, CSRC list, extension block,
    padding) and return the fixed-header fields plus offsets. ``marker`` is a bool.
    ``ext_profile`` is ``-1`` when the X bit is clear; otherwise the 16-bit profile
    (``0xBEDE`` one-byte form, ``0x100X`` two-byte form) and the extension data is
    ``data[ext_start:payload_start]``. The payload is ``data[payload_start:payload_end]``;
    padding (with its count octet) is ``data[payload_end:]``.
``header_length(data) -> int``
    Octets before the payload (12 + 4*CC + extension block); validates the header, not padding.
``scan_elements(data, profile, start, end) -> list[(id, offset, length)]``
    RFC 8285 elements of an extension block whose data is ``data[start:end]``; empty for
    profiles other than one-byte and two-byte form.
``scan_values(data, profile, start, end) -> list[(id, value)]``
    The same scan returning value bytes (what the typed classes use).
``extension_elements(data) -> list[(id, offset, length)]``
    ``parse_header`` + ``scan_elements`` in one call.
``find_extension(data, ext_id) -> (offset, length) | None``
    Where the value of element ``ext_id`` lies (first occurrence), or ``None``.
``read_packet(data) -> (marker, payload_type, sequence_number, timestamp, ssrc,
payload_start, payload_end, elements)``
    Everything a forwarder reads, in one call (``elements`` as from ``scan_elements``).
``rewrite_header(buf, ssrc, sequence_number, timestamp)``, ``set_ssrc``,
``set_sequence_number``, ``set_timestamp``, ``set_marker``, ``set_payload_type``
    Rewrite fields of a ``bytearray`` in place.
``write_extension(buf, ext_id, value) -> bool``
    Overwrite the value of element ``ext_id`` in place (same length only); False if absent.

Backend selection: :data:`backend`, :data:`ENV_VAR`, :func:`load_backend`,
:func:`available_backends`, :func:`select_backend`.

One-byte form rules (RFC 8285 4.2): octet 0x00 is padding; ID 15 stops processing of the
block; ID 0 with a non-zero length is not padding and also stops processing (as pion and
libwebrtc do). Two-byte form (4.3): octet 0x00 is padding, zero-length values are allowed.
An element whose value runs past the block is an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rtpstack._backends import BackendChooser
from rtpstack._fastpath_py import (
    ONE_BYTE_PROFILE,
    TWO_BYTE_PROFILE,
    TWO_BYTE_PROFILE_MASK,
    Buffer,
    ElementSpan,
    HeaderFields,
    PacketView,
)

__all__ = [
    "ENV_VAR",
    "FUNCTIONS",
    "ONE_BYTE_PROFILE",
    "TWO_BYTE_PROFILE",
    "TWO_BYTE_PROFILE_MASK",
    "Buffer",
    "ElementSpan",
    "HeaderFields",
    "PacketView",
    "available_backends",
    "backend",
    "extension_elements",
    "find_extension",
    "header_length",
    "load_backend",
    "parse_header",
    "read_packet",
    "rewrite_header",
    "scan_elements",
    "scan_values",
    "select_backend",
    "set_marker",
    "set_payload_type",
    "set_sequence_number",
    "set_ssrc",
    "set_timestamp",
    "write_extension",
]

#: The environment variable that picks the backend ("c", "python" or "auto").
ENV_VAR = "RTPSTACK_FASTPATH_BACKEND"


#: The functions every backend provides (the public fast-path API).
FUNCTIONS = (
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
)


_CHOOSER = BackendChooser("fast-path", ENV_VAR, "rtpstack._fastpath", "rtpstack._fastpath_py")
load_backend = _CHOOSER.load_backend
available_backends = _CHOOSER.available_backends
select_backend = _CHOOSER.select_backend

_impl = select_backend()

#: The name of the active backend: "c" or "python".
backend: str = _impl.NAME

if TYPE_CHECKING:  # both backends have these signatures (rtpstack/_fastpath.pyi for C)
    from rtpstack._fastpath_py import (
        extension_elements,
        find_extension,
        header_length,
        parse_header,
        read_packet,
        rewrite_header,
        scan_elements,
        scan_values,
        set_marker,
        set_payload_type,
        set_sequence_number,
        set_ssrc,
        set_timestamp,
        write_extension,
    )
else:
    extension_elements = _impl.extension_elements
    find_extension = _impl.find_extension
    header_length = _impl.header_length
    parse_header = _impl.parse_header
    read_packet = _impl.read_packet
    rewrite_header = _impl.rewrite_header
    scan_elements = _impl.scan_elements
    scan_values = _impl.scan_values
    set_marker = _impl.set_marker
    set_payload_type = _impl.set_payload_type
    set_sequence_number = _impl.set_sequence_number
    set_ssrc = _impl.set_ssrc
    set_timestamp = _impl.set_timestamp
    write_extension = _impl.write_extension
