"""Load-generator packets: RTP with a send timestamp the receiver reads in clear.

Every RTP packet the generator sends carries a one-byte-form header extension (RFC 8285)
whose first element (id :data:`SEND_TIME_ID`, 8 bytes) is ``time.monotonic_ns()`` at send
time, then, for audio, the RFC 6464 audio level (id 1). Both fit in 12 bytes, so the header is
always 28 bytes and the timestamp sits at byte :data:`SEND_TIME_OFFSET`. SRTP authenticates
but does not encrypt the header, and the router forwards header extensions unchanged, so a
subscriber reads the timestamp without decrypting; the router never reads a payload.
CLOCK_MONOTONIC is one clock for every process of the machine, so send and receive may be in
different processes (the C sink of ``tools/bench_router.py`` reads the same offset).
"""

from __future__ import annotations

import struct
from array import array

from rtpstack.seqnum import seq_diff

__all__ = [
    "HEADER_LEN",
    "SEND_TIME_ID",
    "SEND_TIME_OFFSET",
    "SEND_TIME_URI",
    "LatencySamples",
    "StreamCounter",
    "build_packet",
    "percentile",
    "read_send_time",
    "rr_packet",
]

#: Extension id of the send timestamp (one-byte form, 8 bytes of data).
SEND_TIME_ID = 2
#: The URI the generator declares for it when publishing (private to this project).
SEND_TIME_URI = "urn:rtpstack:loadgen:send-time-ns"
#: Byte offset of the 8-byte big-endian send time inside every generated packet.
SEND_TIME_OFFSET = 17
#: Fixed header (12) + extension header (4) + elements padded to 12 bytes.
HEADER_LEN = 28

_HEAD = struct.Struct(">BBHIIHHBQ")  # fixed header, 0xBEDE, 3 words, send-time elem, ns
_AUDIO_TAIL = struct.Struct(">BBB")  # audio-level element (id 1, 1 byte) + one padding byte
_VIDEO_TAIL = b"\x00\x00\x00"
_SEND_TIME = struct.Struct(">Q")
_RR = struct.Struct(">BBHI")


def build_packet(payload_type: int, marker: bool, seq: int, ts: int, ssrc: int,
                 send_ns: int, payload: bytes, audio_level: int | None = None) -> bytes:
    """One plain RTP packet with the send-time element (and the audio level, if given)."""
    head = _HEAD.pack(0x90, (0x80 if marker else 0) | payload_type, seq, ts, ssrc,
                      0xBEDE, 3, (SEND_TIME_ID << 4) | 7, send_ns)
    if audio_level is None:
        return head + _VIDEO_TAIL + payload
    return head + _AUDIO_TAIL.pack(0x10, audio_level & 0x7F, 0) + payload


def read_send_time(data: bytes) -> int | None:
    """The send time (monotonic ns) of a generated packet, or None if it carries none."""
    if (len(data) >= HEADER_LEN and data[0] & 0x10 and data[12] == 0xBE and data[13] == 0xDE
            and data[16] == (SEND_TIME_ID << 4) | 7):
        return int(_SEND_TIME.unpack_from(data, SEND_TIME_OFFSET)[0])
    return None


def rr_packet(rtcp_ssrc: int) -> bytes:
    """A plain RTCP receiver report with no report blocks (address learning, keep-alive)."""
    return _RR.pack(0x80, 201, 1, rtcp_ssrc)


class StreamCounter:
    """What one subscriber received of one stream: count, bytes, first/highest sequence."""

    __slots__ = ("bytes", "first_seq", "highest", "packets")

    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0
        self.first_seq = -1
        self.highest = 0  # extended, relative to first_seq

    def add(self, seq: int, size: int) -> None:
        """Account one packet with sequence number ``seq``."""
        self.packets += 1
        self.bytes += size
        if self.first_seq < 0:
            self.first_seq = seq
            return
        rel = seq_diff(seq, self.first_seq)
        if rel > self.highest:
            self.highest = rel

    @property
    def span(self) -> int:
        """Sequence numbers from the first to the highest seen (for loss by sequence)."""
        return self.highest + 1 if self.first_seq >= 0 else 0


class LatencySamples:
    """Bounded latency samples in ns: every ``stride``-th sample once ``limit`` is reached."""

    __slots__ = ("_n", "limit", "samples", "stride")

    def __init__(self, limit: int = 1_000_000) -> None:
        self.limit = limit
        self.samples = array("q")
        self.stride = 1
        self._n = 0

    def add(self, ns: int) -> None:
        """Record one latency."""
        self._n += 1
        if self._n % self.stride:
            return
        self.samples.append(ns)
        if len(self.samples) >= self.limit:
            self.samples = self.samples[::2]
            self.stride *= 2

    def percentiles(self, *ps: float) -> list[float]:
        """The given percentiles (0..100) in milliseconds (NaN without samples)."""
        ordered = sorted(self.samples)
        return [percentile(ordered, p) / 1e6 for p in ps]


def percentile(ordered: list[int] | list[float], p: float) -> float:
    """Nearest-rank percentile ``p`` (0..100) of an ascending list; NaN when empty."""
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100.0 * (len(ordered) - 1))))
    return float(ordered[k])
