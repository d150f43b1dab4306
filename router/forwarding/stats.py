"""Receive statistics per published stream (RFC 3550 §6.4.1, appendix A.3 and A.8).

Time is a parameter: ``now`` is seconds on any monotonic clock the caller uses consistently.
"""

from __future__ import annotations

from rtpstack.rtcp import ReportBlock
from rtpstack.rtcp.ntp import ntp_to_compact
from rtpstack.seqnum import SeqUnwrapper, ts_diff, unwrap_seq

__all__ = ["ReceiveStats"]

_U32_MOD = 1 << 32


class ReceiveStats:
    """Counts, loss and interarrival jitter of one incoming RTP stream, and its report block."""

    __slots__ = (
        "_expected_prior",
        "_received_prior",
        "_transit",
        "_unwrapper",
        "base_ext_seq",
        "bytes",
        "clock_rate",
        "jitter",
        "max_ext_seq",
        "received",
        "sr_arrival",
        "sr_ntp_mid",
    )

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self._unwrapper = SeqUnwrapper()
        self.base_ext_seq: int | None = None
        self.max_ext_seq = 0
        self.received = 0
        self.bytes = 0
        self.jitter = 0.0
        self._transit: int | None = None
        self._expected_prior = 0
        self._received_prior = 0
        #: Middle 32 bits of the NTP time of the last SR from the publisher (LSR), and when.
        self.sr_ntp_mid = 0
        self.sr_arrival: float | None = None

    def update(self, seq: int, ts: int, size: int, now: float) -> None:
        """Account one authenticated packet (``size`` is its plain length)."""
        unwrapper = self._unwrapper
        highest = unwrapper.highest
        ext = unwrap_seq(seq, highest)
        if highest is None or ext > highest:
            unwrapper.highest = ext
        if self.base_ext_seq is None:
            self.base_ext_seq = ext
            self.max_ext_seq = ext
        elif ext > self.max_ext_seq:
            self.max_ext_seq = ext
        elif ext < self.base_ext_seq:
            self.base_ext_seq = ext  # reordered start of the stream: not a duplicate, not loss
        self.received += 1
        self.bytes += size
        transit = int(now * self.clock_rate) - ts
        prev = self._transit
        if prev is not None:
            d = ts_diff(transit, prev)
            self.jitter += ((d if d >= 0 else -d) - self.jitter) / 16.0
        self._transit = transit

    @property
    def expected(self) -> int:
        """Packets expected from the first to the highest sequence number seen."""
        if self.base_ext_seq is None:
            return 0
        return self.max_ext_seq - self.base_ext_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost (may be negative with duplicates, as RFC 3550 allows)."""
        return self.expected - self.received

    def on_sender_report(self, ntp: int, now: float) -> None:
        """Remember the publisher's SR (64-bit NTP) for LSR/DLSR."""
        self.sr_ntp_mid = ntp_to_compact(ntp)
        self.sr_arrival = now

    def report_block(self, ssrc: int, now: float) -> ReportBlock:
        """An RFC 3550 report block about ``ssrc``; advances the fraction-lost interval."""
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        dlsr = 0
        if self.sr_arrival is not None:
            dlsr = max(0, round((now - self.sr_arrival) * 65536)) % _U32_MOD
        return ReportBlock(
            ssrc,
            fraction,
            max(-0x800000, min(0x7FFFFF, self.lost)),
            self.max_ext_seq % _U32_MOD,
            int(self.jitter) % _U32_MOD,
            self.sr_ntp_mid,
            dlsr,
        )
