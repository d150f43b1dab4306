"""Wraparound arithmetic: table-driven edge cases plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtpstack import seqnum


@pytest.mark.parametrize(
    ("a", "b", "diff"),
    [
        (1, 0, 1),
        (0, 1, -1),
        (0, 65535, 1),
        (65535, 0, -1),
        (32767, 0, 32767),
        (32768, 0, -32768),
        (100, 65500, 136),
    ],
)
def test_seq_diff_table(a: int, b: int, diff: int) -> None:
    assert seqnum.seq_diff(a, b) == diff
    assert seqnum.seq_gt(a, b) == (diff > 0)
    assert seqnum.seq_lt(a, b) == (diff < 0)


def test_ts_diff_wraps() -> None:
    assert seqnum.ts_diff(5, 0xFFFFFFFB) == 10
    assert seqnum.ts_add(0xFFFFFFFF, 2) == 1
    assert seqnum.ts_gt(5, 0xFFFFFFFB)


def test_unwrap_across_many_wraps() -> None:
    u = seqnum.SeqUnwrapper()
    out = [u.unwrap(i & 0xFFFF) for i in range(200_000)]
    assert out == list(range(200_000))


def test_unwrap_reordered_around_wrap() -> None:
    u = seqnum.SeqUnwrapper()
    seqs = [65533, 65534, 0, 65535, 1, 2]
    assert [u.unwrap(s) for s in seqs] == [65533, 65534, 65536, 65535, 65537, 65538]
    assert u.highest == 65538


def test_unwrap_packet_before_the_first_across_the_wrap_is_negative() -> None:
    u = seqnum.SeqUnwrapper()
    assert u.unwrap(0) == 0
    assert u.unwrap(65535) == -1  # one before the first packet, not a whole cycle ahead
    assert u.highest == 0
    assert u.unwrap(1) == 1
    t = seqnum.TimestampUnwrapper()
    assert t.unwrap(10) == 10
    assert t.unwrap(0xFFFFFFF0) == 0xFFFFFFF0  # timestamps stay non-negative (see unwrap_ts)


def test_timestamp_unwrapper() -> None:
    u = seqnum.TimestampUnwrapper()
    assert u.unwrap(0xFFFFFF00) == 0xFFFFFF00
    assert u.unwrap(0x100) == 0x1_0000_0100


@given(st.integers(0, 65535), st.integers(-32768, 32767))
def test_seq_add_then_diff_roundtrips(a: int, delta: int) -> None:
    assert seqnum.seq_diff(seqnum.seq_add(a, delta), a) == delta


@given(st.integers(-(2**48), 2**48), st.integers(-32768, 32767))
def test_unwrap_recovers_nearby_value(base: int, delta: int) -> None:
    target = base + delta
    assert seqnum.unwrap_seq(target & 0xFFFF, base) == target
