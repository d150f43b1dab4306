"""Per-stream statistics kept by the client (sans-IO: arrival times are parameters).

:class:`ReceiveStreamState` follows one received stream: packets, bytes, duplicates, loss per
RFC 3550 A.3 (expected minus received, from extended sequence numbers), interarrival jitter per
RFC 3550 A.8, the sequence numbers currently missing (for NACK), and the frame counters the
decoder updates (decoded, failed to decrypt, incomplete). :meth:`ReceiveStreamState.snapshot`
returns an immutable :class:`ReceiveStats` for callers.

:class:`SendStreamState` counts what a publisher sent and the feedback it got.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtpstack.seqnum import SeqUnwrapper

__all__ = [
    "ReceiveStats",
    "ReceiveStreamState",
    "SendStats",
    "SendStreamState",
]

_MISSING_WINDOW = 512  # extended sequence numbers older than this behind the highest are given up


@dataclass(frozen=True, slots=True)
class ReceiveStats:
    """A snapshot of one received stream's statistics."""

    ssrc: int
    kind: str
    publisher: str
    packets: int
    bytes: int
    duplicates: int
    expected: int
    lost: int
    jitter: float
    """Interarrival jitter in RTP timestamp units (RFC 3550 A.8)."""
    frames_decoded: int
    frames_failed: int
    reassembly_dropped: int
    """Packets the reassembler gave up on (their frame never completed)."""
    nacks_sent: int
    plis_sent: int
    recovered: int
    """Packets that arrived after being counted missing (reordered or retransmitted)."""


@dataclass(frozen=True, slots=True)
class SendStats:
    """A snapshot of one published stream's statistics."""

    ssrc: int
    kind: str
    frames: int
    keyframes: int
    packets: int
    bytes: int
    nacks_received: int
    plis_received: int
    retransmitted: int


class ReceiveStreamState:
    """Mutable receive state for one stream; feed it with :meth:`on_packet`."""

    def __init__(self, ssrc: int, *, kind: str = "", publisher: str = "",
                 clock_rate: int = 90_000) -> None:
        self.ssrc = ssrc
        self.kind = kind
        self.publisher = publisher
        self.clock_rate = clock_rate
        self.packets = 0
        self.bytes = 0
        self.duplicates = 0
        self.frames_decoded = 0
        self.frames_failed = 0
        self.reassembly_dropped = 0
        self.nacks_sent = 0
        self.plis_sent = 0
        self.recovered = 0
        self._unwrapper = SeqUnwrapper()
        self._first: int | None = None
        self._seen: set[int] = set()
        self.missing: set[int] = set()
        """Extended sequence numbers not yet received, within a window behind the highest."""
        self._jitter = 0.0
        self._last_transit: float | None = None
        # RR interval bookkeeping (RFC 3550 A.3)
        self._expected_prior = 0
        self._received_prior = 0

    @property
    def highest(self) -> int | None:
        """Highest extended sequence number seen, or None before the first packet."""
        return self._unwrapper.highest

    def on_packet(self, seq: int, timestamp: int, size: int, now: float) -> bool:
        """Account one arriving packet; False when it is a duplicate (to be dropped)."""
        prev_highest = self._unwrapper.highest
        ext = self._unwrapper.unwrap(seq)
        if ext in self._seen:
            self.duplicates += 1
            return False
        if prev_highest is None or self._first is None:
            self._first = ext
        elif ext > prev_highest + 1:
            self.missing.update(range(max(prev_highest + 1, ext - _MISSING_WINDOW), ext))
        elif ext < prev_highest:
            if ext in self.missing:
                self.missing.discard(ext)
                self.recovered += 1
            self._first = min(self._first, ext)
        self._seen.add(ext)
        highest = self._unwrapper.highest
        assert highest is not None
        if len(self._seen) > 4 * _MISSING_WINDOW:
            floor = highest - 2 * _MISSING_WINDOW
            self._seen = {s for s in self._seen if s >= floor}
        if self.missing and ext == highest and ext % 64 == 0:  # amortized: every 64 packets
            floor = highest - _MISSING_WINDOW
            self.missing = {s for s in self.missing if s >= floor}
        self.packets += 1
        self.bytes += size
        # interarrival jitter, RFC 3550 A.8 (arrival converted to RTP clock units)
        transit = now * self.clock_rate - timestamp
        if self._last_transit is not None:
            d = abs(transit - self._last_transit)
            if d < 2**31:
                self._jitter += (d - self._jitter) / 16.0
        self._last_transit = transit
        return True

    @property
    def expected(self) -> int:
        """Packets expected from the first to the highest sequence number (RFC 3550 A.3)."""
        if self._first is None or self.highest is None:
            return 0
        return self.highest - self._first + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost: expected minus received (never negative)."""
        return max(0, self.expected - self.packets)

    def report_block_values(self) -> tuple[int, int, int, int]:
        """(fraction lost 0..255, cumulative lost, extended highest seq, jitter) for an RR.

        Advances the per-interval counters, as RFC 3550 A.3 describes.
        """
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self.packets - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.packets
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        highest = self.highest if self.highest is not None else 0
        return fraction, min(self.lost, 0x7FFFFF), highest % (1 << 32), int(self._jitter)

    def snapshot(self) -> ReceiveStats:
        """An immutable copy of the counters."""
        return ReceiveStats(
            ssrc=self.ssrc, kind=self.kind, publisher=self.publisher, packets=self.packets,
            bytes=self.bytes, duplicates=self.duplicates, expected=self.expected,
            lost=self.lost, jitter=self._jitter, frames_decoded=self.frames_decoded,
            frames_failed=self.frames_failed, reassembly_dropped=self.reassembly_dropped,
            nacks_sent=self.nacks_sent, plis_sent=self.plis_sent,
            recovered=self.recovered,
        )


class SendStreamState:
    """Mutable counters for one published stream."""

    def __init__(self, ssrc: int, kind: str) -> None:
        self.ssrc = ssrc
        self.kind = kind
        self.frames = 0
        self.keyframes = 0
        self.packets = 0
        self.bytes = 0
        self.nacks_received = 0
        self.plis_received = 0
        self.retransmitted = 0

    def snapshot(self) -> SendStats:
        """An immutable copy of the counters."""
        return SendStats(
            ssrc=self.ssrc, kind=self.kind, frames=self.frames, keyframes=self.keyframes,
            packets=self.packets,
            bytes=self.bytes, nacks_received=self.nacks_received,
            plis_received=self.plis_received, retransmitted=self.retransmitted,
        )
