"""Classic libpcap files: a streaming reader and a writer.

Both timestamp flavours (microsecond magic ``0xA1B2C3D4`` and nanosecond magic ``0xA1B23C4D``)
are read in either byte order. The reader pulls one record at a time from a binary file object,
so memory stays constant whatever the file size. Every malformed input raises
:class:`CaptureParseError` with an exact message.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from rtpstack.errors import CaptureParseError

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV4",
    "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_LOOP",
    "LINKTYPE_NULL",
    "LINKTYPE_RAW",
    "MAX_PACKET_SIZE",
    "PCAP_MAGIC_NS",
    "PCAP_MAGIC_US",
    "CapturedPacket",
    "PcapWriter",
    "read_exact",
    "read_pcap",
]

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D

#: Largest packet record accepted; anything bigger is a corrupt length field.
MAX_PACKET_SIZE = 256 * 1024


@dataclass(frozen=True, slots=True)
class CapturedPacket:
    """One packet record of a capture file, whatever its format.

    ``timestamp_ns`` is nanoseconds since the Unix epoch (as written in the file, after the
    interface's resolution and offset are applied); ``index`` counts records from 1 like
    Wireshark's frame numbers.
    """

    index: int
    timestamp_ns: int
    linktype: int
    data: bytes
    orig_len: int
    interface: int = 0
    comments: tuple[str, ...] = ()

    @property
    def time(self) -> float:
        """Timestamp in seconds since the epoch, as a float."""
        return self.timestamp_ns / 1e9


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads; returns fewer only at end of file."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


_HDR_LE = struct.Struct("<IHHiIII")
_HDR_BE = struct.Struct(">IHHiIII")
_REC_LE = struct.Struct("<IIII")
_REC_BE = struct.Struct(">IIII")


def read_pcap(stream: BinaryIO, head: bytes = b"") -> Iterator[CapturedPacket]:
    """Yield the packets of a classic pcap file.

    ``head`` holds bytes already consumed from ``stream`` (format sniffing); they are treated
    as the start of the file.
    """
    header = head + read_exact(stream, 24 - len(head))
    if len(header) < 4:
        raise CaptureParseError("truncated pcap file header")
    magic_le = struct.unpack_from("<I", header)[0]
    magic_be = struct.unpack_from(">I", header)[0]
    if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        hdr, rec, magic = _HDR_LE, _REC_LE, magic_le
    elif magic_be in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        hdr, rec, magic = _HDR_BE, _REC_BE, magic_be
    else:
        raise CaptureParseError(f"not a pcap file (magic 0x{magic_be:08x})")
    if len(header) < 24:
        raise CaptureParseError("truncated pcap file header")
    _m, major, _minor, _zone, _sigfigs, _snaplen, network = hdr.unpack(header)
    if major != 2:
        raise CaptureParseError(f"unsupported pcap version {major}")
    linktype = network & 0x0FFFFFFF
    frac_scale = 1 if magic == PCAP_MAGIC_NS else 1000
    offset = 24
    index = 0
    while True:
        rh = read_exact(stream, 16)
        if not rh:
            return
        if len(rh) < 16:
            raise CaptureParseError(f"truncated pcap record header at offset {offset}")
        sec, frac, incl, orig = rec.unpack(rh)
        if incl > MAX_PACKET_SIZE:
            raise CaptureParseError(
                f"pcap record at offset {offset} claims {incl} bytes (limit {MAX_PACKET_SIZE})"
            )
        data = read_exact(stream, incl)
        if len(data) < incl:
            raise CaptureParseError(
                f"truncated pcap packet at offset {offset}: need {incl} bytes, have {len(data)}"
            )
        index += 1
        yield CapturedPacket(index, sec * 1_000_000_000 + frac * frac_scale, linktype, data, orig)
        offset += 16 + incl


class PcapWriter:
    """Write a classic pcap file (nanosecond timestamps, little-endian) to a binary stream."""

    def __init__(
        self, stream: BinaryIO, linktype: int = LINKTYPE_ETHERNET, snaplen: int = 262144
    ) -> None:
        self._stream = stream
        self.linktype = linktype
        stream.write(_HDR_LE.pack(PCAP_MAGIC_NS, 2, 4, 0, 0, snaplen, linktype))

    def write(self, data: bytes, timestamp_ns: int, orig_len: int | None = None) -> None:
        """Append one packet record."""
        sec, frac = divmod(timestamp_ns, 1_000_000_000)
        length = len(data) if orig_len is None else orig_len
        self._stream.write(_REC_LE.pack(sec, frac, len(data), length))
        self._stream.write(data)
