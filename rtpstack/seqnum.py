"""Wraparound arithmetic for RTP sequence numbers (16 bits) and timestamps (32 bits).

This is the one module of the project that masks with ``0xFFFF``: everything else calls it.
Comparison follows RFC 1982 serial number arithmetic; unwrapping extends a wrapping counter to
a monotonic 64-bit value given the last extended value seen.
"""

from __future__ import annotations

__all__ = [
    "SEQ_MOD",
    "TS_MOD",
    "SeqUnwrapper",
    "TimestampUnwrapper",
    "seq_add",
    "seq_diff",
    "seq_gt",
    "seq_lt",
    "ts_add",
    "ts_diff",
    "ts_gt",
    "ts_lt",
    "unwrap_seq",
    "unwrap_ts",
]

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
_SEQ_MASK = SEQ_MOD - 1
_TS_MASK = TS_MOD - 1
_SEQ_HALF = SEQ_MOD >> 1
_TS_HALF = TS_MOD >> 1


def seq_add(seq: int, delta: int) -> int:
    """``seq + delta`` modulo 2**16 (``delta`` may be negative)."""
    return (seq + delta) & _SEQ_MASK


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` in the range [-32768, 32767]."""
    d = (a - b) & _SEQ_MASK
    return d - SEQ_MOD if d >= _SEQ_HALF else d


def seq_gt(a: int, b: int) -> bool:
    """True when ``a`` comes after ``b`` (RFC 1982)."""
    return seq_diff(a, b) > 0


def seq_lt(a: int, b: int) -> bool:
    """True when ``a`` comes before ``b`` (RFC 1982)."""
    return seq_diff(a, b) < 0


def ts_add(ts: int, delta: int) -> int:
    """``ts + delta`` modulo 2**32 (``delta`` may be negative)."""
    return (ts + delta) & _TS_MASK


def ts_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` in the range [-2**31, 2**31 - 1]."""
    d = (a - b) & _TS_MASK
    return d - TS_MOD if d >= _TS_HALF else d


def ts_gt(a: int, b: int) -> bool:
    """True when timestamp ``a`` comes after ``b``."""
    return ts_diff(a, b) > 0


def ts_lt(a: int, b: int) -> bool:
    """True when timestamp ``a`` comes before ``b``."""
    return ts_diff(a, b) < 0


def unwrap_seq(seq: int, last_extended: int | None) -> int:
    """Extend 16-bit ``seq`` to 64 bits, choosing the value nearest ``last_extended``.

    The result is negative for a packet that precedes, across the wrap, the first one of a
    stream (seq 65535 arriving after a stream started at 0 is -1, not 65535): "nearest" wins
    over "non-negative", so reordering around the first packet is not mistaken for a jump of
    one whole cycle.
    """
    if last_extended is None:
        return seq & _SEQ_MASK
    return last_extended + seq_diff(seq, last_extended & _SEQ_MASK)


def unwrap_ts(ts: int, last_extended: int | None) -> int:
    """Extend 32-bit ``ts`` to 64 bits, choosing the value nearest ``last_extended``.

    Unlike sequence numbers, the result never goes below zero: a timestamp more than half the
    space "behind" a stream's first one is far likelier a jump (a probe with timestamp 0, a
    restarted encoder) than reordering, so it maps one cycle ahead and the stream goes on.
    """
    if last_extended is None:
        return ts & _TS_MASK
    ext = last_extended + ts_diff(ts, last_extended & _TS_MASK)
    return ext if ext >= 0 else ext + TS_MOD


class SeqUnwrapper:
    """Stateful unwrapper: feed 16-bit sequence numbers, get monotonic-ish 64-bit ones.

    Reordered packets unwrap relative to the highest value seen, so a late packet from just
    before a wrap maps below it rather than one cycle ahead.
    """

    __slots__ = ("highest",)

    def __init__(self) -> None:
        self.highest: int | None = None

    def unwrap(self, seq: int) -> int:
        """Return the extended value of ``seq`` and remember it if it is the highest."""
        ext = unwrap_seq(seq, self.highest)
        if self.highest is None or ext > self.highest:
            self.highest = ext
        return ext


class TimestampUnwrapper:
    """Stateful 32-bit RTP timestamp unwrapper (see :class:`SeqUnwrapper`)."""

    __slots__ = ("highest",)

    def __init__(self) -> None:
        self.highest: int | None = None

    def unwrap(self, ts: int) -> int:
        """Return the extended value of ``ts`` and remember it if it is the highest."""
        ext = unwrap_ts(ts, self.highest)
        if self.highest is None or ext > self.highest:
            self.highest = ext
        return ext
