"""rtpdump files (rtptools' ``rtpdump -F dump``), read as a capture.

Layout: a text line ``#!rtpplay1.0 ADDRESS/PORT\\n``, a 16-byte binary header (start time
seconds and microseconds, source address, source port, padding), then records of
``length`` (2 bytes, including this 8-byte record header), ``plen`` (RTP length; 0 means the
record holds RTCP), ``offset`` (milliseconds since the start) and the packet. Each record is
yielded as a raw-IP :class:`CapturedPacket` (IPv4 + UDP from the recorded source to the
file's address/port) so the rest of the pipeline treats it like any capture.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import BinaryIO

from rtpstack.capture.ip import udp_ip_packet
from rtpstack.capture.pcap import LINKTYPE_RAW, CapturedPacket, read_exact
from rtpstack.errors import CaptureParseError

__all__ = ["RTPDUMP_MAGIC", "read_rtpdump"]

RTPDUMP_MAGIC = b"#!rtpplay1.0 "
_MAX_LINE = 256


def read_rtpdump(stream: BinaryIO, head: bytes = b"") -> Iterator[CapturedPacket]:
    """Yield the packets of an rtpdump file (``head``: bytes already read from ``stream``)."""
    line = bytearray(head)
    while not line.endswith(b"\n"):
        if len(line) > _MAX_LINE:
            raise CaptureParseError("rtpdump header line too long")
        ch = stream.read(1)
        if not ch:
            raise CaptureParseError("truncated rtpdump header line")
        line += ch
    if not line.startswith(RTPDUMP_MAGIC):
        raise CaptureParseError("not an rtpdump file")
    dest, _, port_s = line[len(RTPDUMP_MAGIC):].decode("ascii", "replace").strip().partition("/")
    try:
        socket.inet_aton(dest)
        dport = int(port_s)
    except (OSError, ValueError):
        raise CaptureParseError(f"bad rtpdump address {dest}/{port_s}") from None
    hdr = read_exact(stream, 16)
    if len(hdr) < 16:
        raise CaptureParseError("truncated rtpdump file header")
    sec, usec, source, sport, _pad = struct.unpack("!IIIHH", hdr)
    src = socket.inet_ntoa(struct.pack("!I", source))
    start_ns = sec * 1_000_000_000 + usec * 1000
    offset = len(line) + 16
    index = 0
    while True:
        rh = read_exact(stream, 8)
        if not rh:
            return
        if len(rh) < 8:
            raise CaptureParseError(f"truncated rtpdump record header at offset {offset}")
        length, plen, ms = struct.unpack("!HHI", rh)
        if length < 8:
            raise CaptureParseError(f"bad rtpdump record length {length} at offset {offset}")
        data = read_exact(stream, length - 8)
        if len(data) < length - 8:
            raise CaptureParseError(
                f"truncated rtpdump record at offset {offset}: need {length - 8} bytes, "
                f"have {len(data)}"
            )
        if plen:
            data = data[:plen]
        index += 1
        ip = udp_ip_packet(src, sport, dest, dport if plen else dport + 1, data, ident=index)
        yield CapturedPacket(index, start_ns + ms * 1_000_000, LINKTYPE_RAW, ip, len(ip))
        offset += length
