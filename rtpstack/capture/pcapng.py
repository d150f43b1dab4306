"""pcapng files: a streaming reader and a writer.

The reader follows sections (each Section Header Block may switch byte order), keeps one
interface table per section with each interface's link type, ``if_tsresol`` and
``if_tsoffset``, and yields Enhanced, Simple and obsolete Packet Blocks with their
``opt_comment`` options. Blocks of other types are skipped. One block is in memory at a time.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from rtpstack.capture.pcap import MAX_PACKET_SIZE, CapturedPacket, read_exact
from rtpstack.errors import CaptureParseError

__all__ = [
    "BLOCK_EPB",
    "BLOCK_IDB",
    "BLOCK_SHB",
    "BLOCK_SPB",
    "BYTE_ORDER_MAGIC",
    "Interface",
    "PcapngWriter",
    "read_pcapng",
]

BLOCK_SHB = 0x0A0D0D0A
BLOCK_IDB = 0x00000001
BLOCK_OPB = 0x00000002
BLOCK_SPB = 0x00000003
BLOCK_EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D

_OPT_END = 0
_OPT_COMMENT = 1
_IF_TSRESOL = 9
_IF_TSOFFSET = 14
#: Largest block accepted (packet plus options); bigger means a corrupt length.
_MAX_BLOCK = MAX_PACKET_SIZE + 65536


@dataclass(frozen=True, slots=True)
class Interface:
    """One Interface Description Block: link type, snap length and timestamp scaling."""

    linktype: int
    snaplen: int
    #: ticks per second of this interface's timestamps (10**6 unless if_tsresol says)
    ticks_per_second: int = 1_000_000
    #: seconds added to every timestamp (if_tsoffset)
    offset_seconds: int = 0

    def to_ns(self, ticks: int) -> int:
        """Convert a raw timestamp of this interface to nanoseconds since the epoch."""
        tps = self.ticks_per_second
        if tps == 1_000_000_000:
            ns = ticks
        elif 1_000_000_000 % tps == 0:
            ns = ticks * (1_000_000_000 // tps)
        else:
            ns = ticks * 1_000_000_000 // tps
        return ns + self.offset_seconds * 1_000_000_000


def _options(body: bytes, start: int, endian: str) -> Iterator[tuple[int, bytes]]:
    """Walk a TLV option list; stops quietly at opt_endofopt or at a truncated option."""
    pos = start
    fmt = endian + "HH"
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(fmt, body, pos)
        pos += 4
        if code == _OPT_END:
            return
        if pos + length > len(body):
            return
        yield code, body[pos : pos + length]
        pos += (length + 3) & ~3


def _interface(body: bytes, endian: str) -> Interface:
    if len(body) < 8:
        raise CaptureParseError("pcapng interface description block too short")
    linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", body)
    tps = 1_000_000
    offset = 0
    for code, value in _options(body, 8, endian):
        if code == _IF_TSRESOL and len(value) >= 1:
            r = value[0]
            exp = r & 0x7F
            if exp > 60:
                raise CaptureParseError(f"pcapng if_tsresol {r:#x} out of range")
            tps = (1 << exp) if r & 0x80 else 10**exp
        elif code == _IF_TSOFFSET and len(value) >= 8:
            offset = struct.unpack_from(endian + "q", value)[0]
    return Interface(linktype, snaplen, tps, offset)


def _comments(body: bytes, start: int, endian: str) -> tuple[str, ...]:
    return tuple(
        v.decode("utf-8", "replace") for c, v in _options(body, start, endian) if c == _OPT_COMMENT
    )


def read_pcapng(stream: BinaryIO, head: bytes = b"") -> Iterator[CapturedPacket]:
    """Yield the packets of a pcapng file (``head``: bytes already read from ``stream``)."""
    offset = 0
    endian = "<"
    interfaces: list[Interface] = []
    index = 0
    first = True
    while True:
        bh = head + read_exact(stream, 8 - len(head)) if head else read_exact(stream, 8)
        head = b""
        if not bh:
            if first:
                raise CaptureParseError("truncated pcapng section header")
            return
        if len(bh) < 8:
            raise CaptureParseError(f"truncated pcapng block header at offset {offset}")
        btype_le = struct.unpack_from("<I", bh)[0]
        if btype_le == BLOCK_SHB:
            bom = read_exact(stream, 4)
            if len(bom) < 4:
                raise CaptureParseError(f"truncated pcapng section header at offset {offset}")
            if struct.unpack("<I", bom)[0] == BYTE_ORDER_MAGIC:
                endian = "<"
            elif struct.unpack(">I", bom)[0] == BYTE_ORDER_MAGIC:
                endian = ">"
            else:
                raise CaptureParseError(f"bad pcapng byte-order magic at offset {offset + 8}")
            prefix = bom
        elif first:
            raise CaptureParseError("pcapng file does not start with a section header block")
        else:
            prefix = b""
        first = False
        btype, blen = struct.unpack(endian + "II", bh)
        if blen < 12 or blen % 4 or blen > _MAX_BLOCK:
            raise CaptureParseError(f"bad pcapng block length {blen} at offset {offset}")
        rest = read_exact(stream, blen - 8 - len(prefix))
        if len(rest) < blen - 8 - len(prefix):
            raise CaptureParseError(
                f"truncated pcapng block at offset {offset}: need {blen} bytes, "
                f"have {8 + len(prefix) + len(rest)}"
            )
        body = (prefix + rest)[:-4]
        trailer = struct.unpack_from(endian + "I", rest, len(rest) - 4)[0]
        if trailer != blen:
            raise CaptureParseError(
                f"pcapng block at offset {offset}: trailing length {trailer} != {blen}"
            )
        if btype == BLOCK_SHB:
            interfaces = []
        elif btype == BLOCK_IDB:
            interfaces.append(_interface(body, endian))
        elif btype in (BLOCK_EPB, BLOCK_OPB):
            if len(body) < 20:
                raise CaptureParseError(f"pcapng packet block too short at offset {offset}")
            if btype == BLOCK_EPB:
                if_id, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(endian + "5I", body)
            else:
                if_id, _drops, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(
                    endian + "HH4I", body
                )
            if if_id >= len(interfaces):
                raise CaptureParseError(
                    f"pcapng packet at offset {offset} names unknown interface {if_id}"
                )
            if 20 + caplen > len(body):
                raise CaptureParseError(
                    f"pcapng packet at offset {offset}: captured length {caplen} exceeds block"
                )
            iface = interfaces[if_id]
            index += 1
            yield CapturedPacket(
                index,
                iface.to_ns((ts_hi << 32) | ts_lo),
                iface.linktype,
                body[20 : 20 + caplen],
                origlen,
                if_id,
                _comments(body, 20 + ((caplen + 3) & ~3), endian),
            )
        elif btype == BLOCK_SPB:
            if not interfaces:
                raise CaptureParseError(f"pcapng simple packet at offset {offset} before any IDB")
            if len(body) < 4:
                raise CaptureParseError(f"pcapng packet block too short at offset {offset}")
            origlen = struct.unpack_from(endian + "I", body)[0]
            caplen = min(origlen, len(body) - 4)
            if interfaces[0].snaplen:
                caplen = min(caplen, interfaces[0].snaplen)
            index += 1
            # a simple packet block carries no timestamp
            yield CapturedPacket(index, 0, interfaces[0].linktype, body[4 : 4 + caplen], origlen)
        # every other block type (statistics, name resolution, custom...) is skipped
        offset += blen


def _opt(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    blen = len(body) + 12
    return struct.pack("<II", btype, blen) + body + struct.pack("<I", blen)


class PcapngWriter:
    """Write a pcapng file (little-endian, nanosecond timestamps) to a binary stream.

    Call :meth:`add_interface` for each link the packets come from (the first is added with
    ``linktype`` when given), then :meth:`write` per packet.
    """

    def __init__(
        self,
        stream: BinaryIO,
        linktype: int | None = None,
        *,
        application: str = "rtpstack",
        comment: str | None = None,
    ) -> None:
        self._stream = stream
        self._interfaces = 0
        opts = b""
        if comment:
            opts += _opt(_OPT_COMMENT, comment.encode())
        opts += _opt(4, application.encode())  # shb_userappl
        opts += _opt(_OPT_END, b"")
        shb = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + opts
        stream.write(_block(BLOCK_SHB, shb))
        if linktype is not None:
            self.add_interface(linktype)

    def add_interface(self, linktype: int, snaplen: int = 262144, name: str | None = None) -> int:
        """Describe an interface (nanosecond resolution); returns its id."""
        opts = b""
        if name:
            opts += _opt(2, name.encode())  # if_name
        opts += _opt(_IF_TSRESOL, bytes([9])) + _opt(_OPT_END, b"")
        self._stream.write(_block(BLOCK_IDB, struct.pack("<HHI", linktype, 0, snaplen) + opts))
        self._interfaces += 1
        return self._interfaces - 1

    def write(
        self,
        data: bytes,
        timestamp_ns: int,
        interface: int = 0,
        comment: str | None = None,
        orig_len: int | None = None,
    ) -> None:
        """Append one Enhanced Packet Block."""
        if not 0 <= interface < self._interfaces:
            raise ValueError(f"unknown interface {interface}")
        body = struct.pack(
            "<5I",
            interface,
            timestamp_ns >> 32,
            timestamp_ns % (1 << 32),
            len(data),
            len(data) if orig_len is None else orig_len,
        )
        body += data + b"\0" * (-len(data) % 4)
        if comment:
            body += _opt(_OPT_COMMENT, comment.encode()) + _opt(_OPT_END, b"")
        self._stream.write(_block(BLOCK_EPB, body))
