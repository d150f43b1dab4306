"""A per-stream retransmission cache: the last ~1 s of authenticated plain RTP, by sequence.

Fixed slots indexed by sequence number keep insertion O(1) with no eviction pass; a lookup
hits only when the slot still holds that exact sequence number and is younger than ``max_age``.
"""

from __future__ import annotations

__all__ = ["RetransmissionCache"]


class RetransmissionCache:
    """Plain RTP packets of one stream, looked up by their 16-bit sequence number."""

    __slots__ = ("_pkts", "_seqs", "_times", "max_age", "size")

    def __init__(self, max_age: float = 1.0, size: int = 2048) -> None:
        self.max_age = max_age
        self.size = size
        self._seqs: list[int] = [-1] * size
        self._times: list[float] = [0.0] * size
        self._pkts: list[bytes | None] = [None] * size

    def put(self, seq: int, packet: bytes, now: float) -> None:
        """Store ``packet`` (plain RTP, header as received) under ``seq``."""
        i = seq % self.size
        self._seqs[i] = seq
        self._times[i] = now
        self._pkts[i] = packet

    def get(self, seq: int, now: float) -> bytes | None:
        """The packet stored under ``seq`` if it is still there and young enough, else None."""
        i = seq % self.size
        if self._seqs[i] != seq or now - self._times[i] > self.max_age:
            return None
        return self._pkts[i]
