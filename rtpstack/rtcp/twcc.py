"""Transport-wide congestion control feedback (RTPFB FMT 15).

Wire format from draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1: base
sequence number, packet status count, 24-bit reference time (units of 64 ms), feedback packet
count, then packet chunks and receive deltas.

* Packet chunks are run-length (``RunLengthChunk``: one symbol repeated up to 8191 times) or
  status vectors (``StatusVectorChunk``: 14 one-bit or 7 two-bit symbols). Chunks are kept as
  on the wire; a final chunk may describe more packets than ``status_count`` (the surplus is
  ignored when decoding, but re-serialized as received).
* Status symbols: 0 not received, 1 received with a small delta (1 octet, 0..255 ticks),
  2 received with a large or negative delta (2 octets signed), 3 reserved (no delta octets are
  read for it; decoded as received without a time).
* Deltas are in ticks of 250 us, each relative to the previous received packet, the first one
  relative to the reference time.

Octets between the last delta and the RTCP padding (some senders pad to 32 bits with zeros
without setting the P bit) are kept raw in ``trailing``.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from rtpstack.errors import RtcpParseError
from rtpstack.rtcp.common import PT_RTPFB, build_packet, check_single, frozen_factory
from rtpstack.rtcp.feedback import FMT_TWCC, feedback_ssrcs
from rtpstack.seqnum import seq_add

__all__ = [
    "REFERENCE_TIME_US",
    "SYMBOL_LARGE_DELTA",
    "SYMBOL_NOT_RECEIVED",
    "SYMBOL_RESERVED",
    "SYMBOL_SMALL_DELTA",
    "TICK_US",
    "RunLengthChunk",
    "StatusVectorChunk",
    "TransportCcFeedback",
    "TwccChunk",
    "TwccPacketStatus",
    "parse_chunk",
    "parse_recv_delta",
    "recv_delta_bytes",
]

SYMBOL_NOT_RECEIVED: Final = 0
SYMBOL_SMALL_DELTA: Final = 1
SYMBOL_LARGE_DELTA: Final = 2
SYMBOL_RESERVED: Final = 3
TICK_US: Final = 250
REFERENCE_TIME_US: Final = 64_000
_TICKS_PER_REFERENCE: Final = REFERENCE_TIME_US // TICK_US
_MAX_RUN: Final = 8191
_REF_MOD: Final = 1 << 24

_DELTA_SIZE: Final[dict[int, int]] = {SYMBOL_SMALL_DELTA: 1, SYMBOL_LARGE_DELTA: 2}
_FIXED = struct.Struct("!HHI")
_U16 = struct.Struct("!H")
_S16 = struct.Struct("!h")


@dataclass(frozen=True, slots=True)
class RunLengthChunk:
    """A run of ``run_length`` packets that share one status ``symbol``."""

    symbol: int
    run_length: int

    @property
    def symbols(self) -> tuple[int, ...]:
        """The statuses this chunk describes."""
        return (self.symbol,) * self.run_length

    def __bytes__(self) -> bytes:
        if not 0 <= self.symbol <= 3 or not 0 <= self.run_length <= _MAX_RUN:
            raise ValueError("run-length chunk needs symbol 0..3 and run length 0..8191")
        return _U16.pack(self.symbol << 13 | self.run_length)


_make_run = frozen_factory(RunLengthChunk)


@dataclass(frozen=True, slots=True)
class StatusVectorChunk:
    """14 one-bit (``symbol_size_bits`` 1) or 7 two-bit (2) statuses."""

    symbol_size_bits: int
    symbols: tuple[int, ...]

    def __bytes__(self) -> bytes:
        if self.symbol_size_bits == 1:
            if len(self.symbols) != 14 or any(s not in (0, 1) for s in self.symbols):
                raise ValueError("a one-bit status vector holds 14 symbols of 0 or 1")
            value = 0x8000
            for i, s in enumerate(self.symbols):
                value |= s << (13 - i)
        elif self.symbol_size_bits == 2:
            if len(self.symbols) != 7 or any(not 0 <= s <= 3 for s in self.symbols):
                raise ValueError("a two-bit status vector holds 7 symbols of 0..3")
            value = 0xC000
            for i, s in enumerate(self.symbols):
                value |= s << (12 - 2 * i)
        else:
            raise ValueError(f"symbol size must be 1 or 2 bits, got {self.symbol_size_bits}")
        return _U16.pack(value)


_make_vector = frozen_factory(StatusVectorChunk)
TwccChunk = RunLengthChunk | StatusVectorChunk


@functools.lru_cache(maxsize=4096)
def _chunk_from_value(value: int) -> TwccChunk:
    # chunks are immutable values, so the same 16 bits can share one object
    if not value & 0x8000:
        return _make_run(value >> 13 & 3, value & _MAX_RUN)
    if not value & 0x4000:
        return _make_vector(1, tuple(value >> (13 - i) & 1 for i in range(14)))
    return _make_vector(2, tuple(value >> (12 - 2 * i) & 3 for i in range(7)))


def parse_chunk(data: bytes, offset: int = 0) -> TwccChunk:
    """Decode the 2-octet packet chunk at ``offset``."""
    if len(data) - offset < 2:
        raise RtcpParseError("TWCC packet chunk truncated: need 2 octets")
    return _chunk_from_value(data[offset] << 8 | data[offset + 1])


def parse_recv_delta(data: bytes, symbol: int, offset: int = 0) -> int:
    """Decode one receive delta (ticks of 250 us) for status ``symbol`` 1 or 2."""
    size = 1 if symbol == SYMBOL_SMALL_DELTA else 2
    if symbol not in (SYMBOL_SMALL_DELTA, SYMBOL_LARGE_DELTA):
        raise ValueError(f"status symbol {symbol} carries no receive delta")
    if len(data) - offset < size:
        raise RtcpParseError(
            f"TWCC receive delta truncated: {max(len(data) - offset, 0)} of {size} octets present"
        )
    if size == 1:
        return data[offset]
    delta: int = _S16.unpack_from(data, offset)[0]
    return delta


def recv_delta_bytes(symbol: int, delta: int) -> bytes:
    """Encode one receive delta for status ``symbol`` 1 (unsigned octet) or 2 (signed 16)."""
    if symbol == SYMBOL_SMALL_DELTA:
        return bytes((delta,))
    if symbol == SYMBOL_LARGE_DELTA:
        return _S16.pack(delta)
    raise ValueError(f"status symbol {symbol} carries no receive delta")


@dataclass(frozen=True, slots=True)
class TwccPacketStatus:
    """What the feedback says about one transport-wide sequence number."""

    seq: int
    symbol: int
    delta: int | None
    """Receive delta in 250 us ticks, ``None`` when the status carries none."""
    arrival_us: int | None
    """Arrival time on the feedback's clock: reference time plus the summed deltas."""

    @property
    def received(self) -> bool:
        """True unless the status is "not received"."""
        return self.symbol != SYMBOL_NOT_RECEIVED


_make_status = frozen_factory(TwccPacketStatus)


def _symbol_for(delta: int | None) -> int:
    if delta is None:
        return SYMBOL_NOT_RECEIVED
    if 0 <= delta <= 255:
        return SYMBOL_SMALL_DELTA
    if -32768 <= delta <= 32767:
        return SYMBOL_LARGE_DELTA
    raise ValueError(f"receive delta {delta} ticks does not fit 16 bits")


def _encode_chunks(symbols: Sequence[int]) -> list[TwccChunk]:
    chunks: list[TwccChunk] = []
    n = len(symbols)
    i = 0
    while i < n:
        s = symbols[i]
        run = 1
        while i + run < n and run < _MAX_RUN and symbols[i + run] == s:
            run += 1
        if run >= 14 or i + run == n:
            chunks.append(RunLengthChunk(s, run))
            i += run
            continue
        window = list(symbols[i : i + 14])
        if all(x <= 1 for x in window):
            chunks.append(StatusVectorChunk(1, tuple(window + [0] * (14 - len(window)))))
            i += 14
        else:
            window = window[:7]
            chunks.append(StatusVectorChunk(2, tuple(window + [0] * (7 - len(window)))))
            i += 7
    return chunks


@dataclass(frozen=True, slots=True)
class TransportCcFeedback:
    """Transport-wide congestion control feedback (RTPFB FMT 15)."""

    sender_ssrc: int
    media_ssrc: int
    base_seq: int
    status_count: int
    reference_time: int
    """24-bit reference time in units of 64 ms, as on the wire (unsigned)."""
    fb_count: int
    chunks: tuple[TwccChunk, ...] = ()
    deltas: tuple[int, ...] = ()
    """One delta (ticks) per status 1 or 2, in sequence order."""
    trailing: bytes = b""
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_RTPFB
    fmt: ClassVar[int] = FMT_TWCC
    feedback: ClassVar[str] = "TWCC"

    @classmethod
    def parse(cls, data: bytes) -> TransportCcFeedback:
        """Parse exactly one transport-cc feedback packet."""
        count, body, padding = check_single(data, PT_RTPFB)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> TransportCcFeedback:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        if count != FMT_TWCC:
            raise RtcpParseError(f"TWCC needs FMT 15, got {count}")
        sender, media = feedback_ssrcs("RTPFB", body)
        if len(body) < 16:
            raise RtcpParseError(
                f"TWCC FCI too short: {len(body) - 8} octets, its fixed part needs 8"
            )
        base_seq, status_count, ref_fb = _FIXED.unpack_from(body, 8)
        pos = 16
        end = len(body)
        chunks: list[TwccChunk] = []
        statuses: list[int] = []
        while len(statuses) < status_count:
            if pos + 2 > end:
                raise RtcpParseError(
                    f"TWCC packet chunks truncated: {len(statuses)} of {status_count} "
                    "statuses described"
                )
            chunk = _chunk_from_value(body[pos] << 8 | body[pos + 1])
            pos += 2
            chunks.append(chunk)
            statuses.extend(chunk.symbols)
        deltas: list[int] = []
        for symbol in statuses[:status_count]:
            if symbol == SYMBOL_SMALL_DELTA:
                if pos >= end:
                    raise RtcpParseError(
                        f"TWCC receive delta {len(deltas)} truncated: 0 of 1 octets present"
                    )
                deltas.append(body[pos])
                pos += 1
            elif symbol == SYMBOL_LARGE_DELTA:
                if pos + 2 > end:
                    raise RtcpParseError(
                        f"TWCC receive delta {len(deltas)} truncated: "
                        f"{end - pos} of 2 octets present"
                    )
                deltas.append(_S16.unpack_from(body, pos)[0])
                pos += 2
        return _make_twcc(
            sender,
            media,
            base_seq,
            status_count,
            ref_fb >> 8,
            ref_fb & 0xFF,
            tuple(chunks),
            tuple(deltas),
            body[pos:],
            padding,
        )

    @property
    def statuses(self) -> list[int]:
        """The status symbol of each of the ``status_count`` packets."""
        out: list[int] = []
        for chunk in self.chunks:
            out.extend(chunk.symbols)
            if len(out) >= self.status_count:
                break
        return out[: self.status_count]

    def packets(self) -> list[TwccPacketStatus]:
        """Per-packet results: sequence number (wrapping), status, delta and arrival time."""
        deltas = iter(self.deltas)
        ticks = self.reference_time * _TICKS_PER_REFERENCE
        base = self.base_seq
        make = _make_status
        out: list[TwccPacketStatus] = []
        for i, symbol in enumerate(self.statuses):
            if symbol in _DELTA_SIZE:
                delta = next(deltas)
                ticks += delta
                out.append(make(seq_add(base, i), symbol, delta, ticks * TICK_US))
            else:
                out.append(make(seq_add(base, i), symbol, None, None))
        return out

    @classmethod
    def build(
        cls,
        sender_ssrc: int,
        media_ssrc: int,
        base_seq: int,
        fb_count: int,
        reference_time: int,
        deltas: Sequence[int | None],
    ) -> TransportCcFeedback:
        """Encode per-packet deltas (ticks; ``None`` = not received) from ``base_seq`` on."""
        symbols = [_symbol_for(d) for d in deltas]
        chunks = _encode_chunks(symbols)
        size = 16 + 2 * len(chunks) + sum(_DELTA_SIZE.get(s, 0) for s in symbols)
        return cls(
            sender_ssrc,
            media_ssrc,
            base_seq,
            len(symbols),
            reference_time,
            fb_count,
            tuple(chunks),
            tuple(d for d in deltas if d is not None),
            bytes(-size % 4),
        )

    @classmethod
    def from_arrivals(
        cls,
        sender_ssrc: int,
        media_ssrc: int,
        base_seq: int,
        fb_count: int,
        arrivals_us: Sequence[int | None],
    ) -> TransportCcFeedback:
        """Encode arrival times (us, ``None`` = lost) of packets ``base_seq``, ``base_seq+1``...

        The reference time is the first arrival rounded down to 64 ms; arrival times are
        carried at 250 us resolution (rounded down), without drift between packets.
        """
        first = next((a for a in arrivals_us if a is not None), 0)
        ref = first // REFERENCE_TIME_US
        prev = ref * _TICKS_PER_REFERENCE
        deltas: list[int | None] = []
        for arrival in arrivals_us:
            if arrival is None:
                deltas.append(None)
                continue
            ticks = arrival // TICK_US
            deltas.append(ticks - prev)
            prev = ticks
        return cls.build(sender_ssrc, media_ssrc, base_seq, fb_count, ref % _REF_MOD, deltas)

    def __bytes__(self) -> bytes:
        if not 0 <= self.reference_time < _REF_MOD or not 0 <= self.fb_count <= 255:
            raise ValueError("reference time must fit 24 bits and feedback count 8 bits")
        parts = [
            struct.pack("!II", self.sender_ssrc, self.media_ssrc),
            _FIXED.pack(self.base_seq, self.status_count, self.reference_time << 8 | self.fb_count),
            *(bytes(c) for c in self.chunks),
        ]
        statuses = self.statuses
        with_delta = [s for s in statuses if s in (SYMBOL_SMALL_DELTA, SYMBOL_LARGE_DELTA)]
        if len(statuses) != self.status_count or len(with_delta) != len(self.deltas):
            raise ValueError("TWCC chunks, status count and deltas do not agree")
        for symbol, delta in zip(with_delta, self.deltas, strict=True):
            parts.append(recv_delta_bytes(symbol, delta))
        parts.append(self.trailing)
        body = b"".join(parts)
        return build_packet(FMT_TWCC, PT_RTPFB, body, self.padding)


_make_twcc = frozen_factory(TransportCcFeedback)
