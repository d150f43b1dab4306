"""Table tests of the forwarding core's parts: receive statistics, cache, speaker detector."""

from __future__ import annotations

import pytest

from router.forwarding import ActiveSpeakerDetector, ReceiveStats, RetransmissionCache
from rtpstack.rtcp.ntp import ntp_from_unix, ntp_to_compact


@pytest.mark.parametrize(
    ("seqs", "expected", "lost", "highest"),
    [
        ([1, 2, 3, 4], 4, 0, 4),
        ([1, 2, 4, 5], 5, 1, 5),
        ([65534, 65535, 0, 1], 4, 0, 65536 + 1),  # wrap: extended highest counts cycles
        ([65535, 2], 4, 2, 65536 + 2),
        ([5, 4, 6], 3, 0, 6),  # reordering is not loss
        ([1, 1, 2], 2, -1, 2),  # a duplicate makes lost negative, as RFC 3550 allows
    ],
)
def test_receive_stats_loss_table(seqs: list[int], expected: int, lost: int,
                                  highest: int) -> None:
    st = ReceiveStats(90000)
    for i, s in enumerate(seqs):
        st.update(s, 3000 * i, 100, i / 30)
    assert (st.expected, st.lost) == (expected, lost)
    block = st.report_block(7, 1.0)
    assert block.extended_highest_seq == highest
    assert block.cumulative_lost == lost


def test_report_block_fraction_is_per_interval_and_lsr_dlsr() -> None:
    st = ReceiveStats(48000)
    for s in range(100):
        if s % 4 != 1:
            st.update(s, 960 * s, 50, s * 0.02)
    assert st.report_block(1, 2.0).fraction_lost == 25 * 256 // 100  # 64: a quarter lost
    for s in range(100, 200):
        st.update(s, 960 * s, 50, s * 0.02)
    block = st.report_block(1, 4.0)
    assert block.fraction_lost == 0 and block.cumulative_lost == 25
    ntp = ntp_from_unix(1_700_000_000.5)
    st.on_sender_report(ntp, 10.0)
    block = st.report_block(1, 10.25)
    assert block.lsr == ntp_to_compact(ntp) and block.dlsr == 65536 // 4


def test_jitter_follows_rfc3550_a8() -> None:
    st = ReceiveStats(8000)
    # Packets every 20 ms of media time arrive alternately 0 and 10 ms late: D = 80 ticks.
    for i in range(200):
        st.update(i, 160 * i, 10, i * 0.02 + (0.01 if i % 2 else 0.0))
    assert st.jitter == pytest.approx(80, rel=0.02)


@pytest.mark.parametrize(
    ("put_seq", "get_seq", "age", "hit"),
    [
        (10, 10, 0.5, True),
        (10, 10, 1.5, False),  # too old
        (10, 10 + 2048, 0.1, False),  # the slot holds another sequence number
        (65535, 65535, 0.0, True),
    ],
)
def test_cache_table(put_seq: int, get_seq: int, age: float, hit: bool) -> None:
    cache = RetransmissionCache(max_age=1.0, size=2048)
    cache.put(put_seq, b"pkt", 100.0)
    assert (cache.get(get_seq, 100.0 + age) == b"pkt") is hit


def test_cache_overwrites_by_slot() -> None:
    cache = RetransmissionCache(max_age=1.0, size=4)
    for s in range(8):
        cache.put(s, bytes([s]), 0.0)
    assert [cache.get(s, 0.0) for s in range(8)] == [None] * 4 + [bytes([s]) for s in range(4, 8)]


def test_speaker_detector_needs_threshold_and_hysteresis() -> None:
    det = ActiveSpeakerDetector(interval=0.2, alpha=0.5, min_loudness=37.0, hysteresis=6.0)
    det.track(1)
    det.track(2)
    now = 0.0

    def window(l1: int | None, l2: int | None) -> bool:
        nonlocal now
        for _ in range(10):
            if l1 is not None:
                det.add(1, l1)
            if l2 is not None:
                det.add(2, l2)
        now += 0.2
        return det.tick(now)

    assert not window(110, 110)  # both quieter than -90 dBov: no speaker
    assert det.current is None
    assert window(30, 110)  # stream 1 speaks
    assert det.current == 1
    assert [window(32, 30) for _ in range(10)] == [False] * 10  # 2 dB louder: within hysteresis
    changes = [window(110, 20) for _ in range(5)]
    assert changes.count(True) == 1 and det.current == 2
    assert det.loudness(2) > det.loudness(1)
    det.remove(2)
    assert det.current is None
    # The V bit (0x80) of the level byte is ignored: 0x8A is a loud -10 dBov.
    for _ in range(10):
        det.add(1, 0x80 | 10)
    assert det.tick(now + 0.2)
    assert det.current == 1
