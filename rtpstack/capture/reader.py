"""Open any capture file: pcap, pcapng or rtpdump, optionally gzip-compressed, sniffed by
content.

:func:`iter_packets` streams the packets of a file path or binary stream without ever holding
more than one record in memory.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from rtpstack.capture.pcap import PCAP_MAGIC_NS, PCAP_MAGIC_US, CapturedPacket, read_pcap
from rtpstack.capture.pcapng import BLOCK_SHB, read_pcapng
from rtpstack.capture.rtpdump import RTPDUMP_MAGIC, read_rtpdump
from rtpstack.errors import CaptureParseError

__all__ = ["CAPTURE_SUFFIXES", "is_capture_name", "iter_packets", "iter_stream"]

#: File name endings treated as captures when a directory is given.
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".rtpdump")


def is_capture_name(name: str) -> bool:
    """True when a file name looks like a capture (used to scan directories)."""
    return name.lower().endswith(CAPTURE_SUFFIXES)


def iter_stream(stream: BinaryIO) -> Iterator[CapturedPacket]:
    """Yield the packets of an open binary stream holding pcap, pcapng, rtpdump, or gzip of
    any of them."""
    head = stream.read(4)
    if not head:
        raise CaptureParseError("capture file is empty")
    if head[:2] == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=_Prefixed(head, stream), mode="rb") as gz:
            try:
                yield from iter_stream(cast(BinaryIO, gz))
            except (OSError, EOFError, zlib.error) as exc:
                raise CaptureParseError(f"corrupt gzip data: {exc}") from None
        return
    if len(head) < 4:
        raise CaptureParseError("truncated capture file header")
    le, be = struct.unpack("<I", head)[0], struct.unpack(">I", head)[0]
    if le == BLOCK_SHB:
        yield from read_pcapng(stream, head)
    elif head == RTPDUMP_MAGIC[:4]:
        yield from read_rtpdump(stream, head)
    elif le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) or be in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        yield from read_pcap(stream, head)
    else:
        raise CaptureParseError(f"not a pcap, pcapng or rtpdump file (magic 0x{be:08x})")


def iter_packets(path: str | Path) -> Iterator[CapturedPacket]:
    """Yield the packets of the capture file at ``path`` (OSError when it cannot be opened)."""
    with open(path, "rb") as f:
        yield from iter_stream(f)


class _Prefixed(io.RawIOBase):
    """A read-only stream that first returns ``head`` and then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if size is None:
            size = -1
        if self._head:
            if size < 0:
                data, self._head = self._head + self._stream.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            if len(data) < size:
                data += self._stream.read(size - len(data))
            return data
        return self._stream.read(size)
