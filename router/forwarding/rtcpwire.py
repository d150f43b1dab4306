"""The few RTCP packets the router builds and reads, on bytes (RFC 3550, RFC 4585, RFC 5104).

The router terminates RTCP per hop, so it needs to read only headers, SR sender info, report
blocks and feedback FCI, and to build RR, SR, SDES CNAME, PLI, FIR and generic NACK. These work
on plain (already unprotected) RTCP bytes with precompiled ``struct`` formats.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from rtpstack.errors import RtcpParseError
from rtpstack.seqnum import seq_add, seq_diff

__all__ = [
    "FMT_FIR",
    "FMT_NACK",
    "FMT_PLI",
    "NTP_UNIX_OFFSET",
    "PT_APP",
    "PT_BYE",
    "PT_PSFB",
    "PT_RR",
    "PT_RTPFB",
    "PT_SDES",
    "PT_SR",
    "RtcpMalformed",
    "build_fir",
    "build_nack",
    "build_pli",
    "build_rr",
    "build_sdes_cname",
    "build_sr",
    "iter_compound",
    "nack_seqs",
    "ntp_from_seconds",
]

PT_SR = 200
PT_RR = 201
PT_SDES = 202
PT_BYE = 203
PT_APP = 204
PT_RTPFB = 205
PT_PSFB = 206
FMT_NACK = 1
FMT_PLI = 1
FMT_FIR = 4
#: Seconds from the NTP epoch (1900) to the Unix epoch (1970).
NTP_UNIX_OFFSET = 2208988800

_HDR = struct.Struct(">BBH")
_HDR_SSRC = struct.Struct(">BBHI")
_SR_INFO = struct.Struct(">IQIII")
_FB = struct.Struct(">BBHII")
_FIR_FCI = struct.Struct(">IB3x")
_NACK_FCI = struct.Struct(">HH")


class RtcpMalformed(RtcpParseError):
    """A compound RTCP packet whose headers or lengths do not add up."""


def ntp_from_seconds(seconds: float) -> int:
    """64-bit NTP timestamp for ``seconds`` since the Unix epoch."""
    whole = int(seconds)
    frac = int((seconds - whole) * 4294967296.0) & 0xFFFFFFFF
    return (((whole + NTP_UNIX_OFFSET) & 0xFFFFFFFF) << 32) | frac


def iter_compound(data: bytes) -> list[tuple[int, int, int, int]]:
    """Split a compound RTCP packet into ``(pt, count_or_fmt, start, end)`` per part.

    Raises :class:`RtcpMalformed` when a part is not version 2 or overruns the datagram.
    """
    parts: list[tuple[int, int, int, int]] = []
    off = 0
    n = len(data)
    if n < 4:
        raise RtcpMalformed(f"RTCP packet too short: {n} bytes")
    while off < n:
        if n - off < 4:
            raise RtcpMalformed(f"truncated RTCP header at offset {off}")
        b0, pt, length = _HDR.unpack_from(data, off)
        if b0 >> 6 != 2:
            raise RtcpMalformed(f"RTCP version {b0 >> 6} at offset {off}")
        end = off + 4 + 4 * length
        if end > n:
            raise RtcpMalformed(f"RTCP length {length} overruns the packet at offset {off}")
        parts.append((pt, b0 & 0x1F, off, end))
        off = end
    return parts


def nack_seqs(data: bytes, start: int, end: int) -> list[int]:
    """The sequence numbers a generic NACK (FCI from ``start + 12`` to ``end``) asks for."""
    seqs: list[int] = []
    for off in range(start + 12, end - 3, 4):
        pid, blp = _NACK_FCI.unpack_from(data, off)
        seqs.append(pid)
        bit = 0
        while blp:
            if blp & 1:
                seqs.append(seq_add(pid, bit + 1))
            blp >>= 1
            bit += 1
    return seqs


def build_rr(sender_ssrc: int, blocks: Iterable[bytes] = ()) -> bytes:
    """A receiver report with up to 31 pre-built 24-byte report blocks."""
    body = b"".join(blocks)
    count = len(body) // 24
    if count > 31:
        raise ValueError(f"too many report blocks for one RR: {count}")
    return _HDR_SSRC.pack(0x80 | count, PT_RR, 1 + 6 * count, sender_ssrc) + body


def build_sr(
    ssrc: int, ntp: int, rtp_ts: int, packets: int, octets: int, blocks: Iterable[bytes] = ()
) -> bytes:
    """A sender report with sender info and up to 31 report blocks."""
    body = b"".join(blocks)
    count = len(body) // 24
    if count > 31:
        raise ValueError(f"too many report blocks for one SR: {count}")
    info = _SR_INFO.pack(
        ssrc, ntp & 0xFFFFFFFFFFFFFFFF, rtp_ts, packets & 0xFFFFFFFF, octets & 0xFFFFFFFF
    )
    return _HDR.pack(0x80 | count, PT_SR, 6 + 6 * count) + info + body


def build_sdes_cname(ssrc: int, cname: bytes) -> bytes:
    """An SDES packet with one chunk carrying a CNAME item."""
    if len(cname) > 255:
        raise ValueError("CNAME longer than 255 bytes")
    chunk = struct.pack(">IBB", ssrc, 1, len(cname)) + cname + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    return _HDR.pack(0x81, PT_SDES, len(chunk) // 4) + chunk


def build_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    """A picture loss indication (RFC 4585 §6.3.1)."""
    return _FB.pack(0x80 | FMT_PLI, PT_PSFB, 2, sender_ssrc, media_ssrc)


def build_fir(sender_ssrc: int, media_ssrc: int, seq_nr: int) -> bytes:
    """A full intra request (RFC 5104 §4.3.1) with one FCI entry for ``media_ssrc``."""
    return _FB.pack(0x80 | FMT_FIR, PT_PSFB, 4, sender_ssrc, 0) + _FIR_FCI.pack(
        media_ssrc, seq_nr & 0xFF
    )


def build_nack(sender_ssrc: int, media_ssrc: int, seqs: Iterable[int]) -> bytes:
    """A generic NACK (RFC 4585 §6.2.1) covering ``seqs`` with as few FCI entries as fit."""
    todo = sorted(set(seqs))
    if not todo:
        raise ValueError("a NACK needs at least one sequence number")
    first = todo[0]
    todo.sort(key=lambda s: seq_diff(s, first))
    fci = bytearray()
    i = 0
    while i < len(todo):
        pid = todo[i]
        blp = 0
        i += 1
        while i < len(todo) and 1 <= seq_diff(todo[i], pid) <= 16:
            blp |= 1 << (seq_diff(todo[i], pid) - 1)
            i += 1
        fci += _NACK_FCI.pack(pid, blp)
    return _FB.pack(0x80 | FMT_NACK, PT_RTPFB, 2 + len(fci) // 4, sender_ssrc, media_ssrc) + fci
