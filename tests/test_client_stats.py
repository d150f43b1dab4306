"""Receive statistics and synthetic sources of the client: tables of inputs and expected counts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtpstack.client.sources import AudioSource, VideoSource, frame_label
from rtpstack.client.stats import ReceiveStreamState
from tests.conftest import PCAPS

# (name, sequence numbers in arrival order, packets, expected, lost, duplicates, missing, recovered)
CASES = [
    ("in order", [10, 11, 12, 13], 4, 4, 0, 0, set(), 0),
    ("one gap", [10, 11, 13, 14], 4, 5, 1, 0, {12}, 0),
    ("gap then late arrival", [10, 11, 13, 12], 4, 4, 0, 0, set(), 1),
    ("duplicate", [10, 11, 11, 12], 3, 3, 0, 1, set(), 0),
    ("wrap", [65534, 65535, 0, 1], 4, 4, 0, 0, set(), 0),
    ("gap across wrap", [65534, 1, 2], 3, 5, 2, 0, {65535 + 0, 65536}, 0),
    ("reordered across wrap", [65535, 1, 0], 3, 3, 0, 0, set(), 1),
    ("late before first", [20, 21, 19], 3, 3, 0, 0, set(), 0),
]


@pytest.mark.parametrize(("name", "seqs", "packets", "expected", "lost", "dups", "missing",
                          "recovered"), CASES, ids=[c[0] for c in CASES])
def test_receive_counters(name: str, seqs: list[int], packets: int, expected: int, lost: int,
                          dups: int, missing: set[int], recovered: int) -> None:
    st = ReceiveStreamState(1)
    for i, seq in enumerate(seqs):
        st.on_packet(seq, 3000 * i, 100, i / 30)
    snap = st.snapshot()
    assert (snap.packets, snap.expected, snap.lost, snap.duplicates, snap.recovered) == (
        packets, expected, lost, dups, recovered)
    assert st.missing == missing


def test_report_block_fraction_lost_per_interval() -> None:
    st = ReceiveStreamState(1)
    for seq in [0, 1, 2, 3, 8, 9]:  # 10 expected, 6 received
        st.on_packet(seq, 0, 100, 0.0)
    fraction, lost, highest, _jitter = st.report_block_values()
    assert (fraction, lost, highest) == ((4 << 8) // 10, 4, 9)
    for seq in range(10, 20):  # next interval: no loss
        st.on_packet(seq, 0, 100, 0.0)
    assert st.report_block_values()[:3] == (0, 4, 19)


def test_jitter_is_zero_for_perfect_timing_and_grows_with_variation() -> None:
    steady = ReceiveStreamState(1, clock_rate=90_000)
    shaky = ReceiveStreamState(2, clock_rate=90_000)
    for i in range(50):
        steady.on_packet(i, 3000 * i, 100, i / 30)
        shaky.on_packet(i, 3000 * i, 100, i / 30 + (0.01 if i % 2 else 0.0))
    assert steady.snapshot().jitter == pytest.approx(0.0, abs=1e-6)
    assert shaky.snapshot().jitter > 500  # ~10 ms at 90 kHz is 900 units


def test_missing_window_is_bounded() -> None:
    st = ReceiveStreamState(1)
    st.on_packet(0, 0, 100, 0.0)
    st.on_packet(5000, 0, 100, 0.0)
    assert len(st.missing) == 512 and max(st.missing) == 4999


def test_audio_source_is_opus_like() -> None:
    src = AudioSource()
    frames = [src.frame(i) for i in range(50)]
    assert all(len(f.data) == 100 for f in frames)
    assert frames[1].timestamp - frames[0].timestamp == 960
    assert frames[49].due == pytest.approx(0.98)
    assert all(f.voice and 0 <= f.audio_level <= 127 for f in frames)
    assert not AudioSource(talking=False).frame(3).voice
    assert [frame_label(f.data) for f in frames[:3]] == [0, 1, 2]


@pytest.mark.parametrize("bitrate", [100_000, 300_000, 1_500_000])
def test_video_source_matches_its_bitrate(bitrate: int) -> None:
    src = VideoSource(bitrate=bitrate, fps=30, keyframe_interval=60)
    total = sum(len(src.frame(i).data) for i in range(60))  # two seconds
    assert total * 8 / 2.0 == pytest.approx(bitrate, rel=0.01)
    key, delta = src.sizes()
    assert key == pytest.approx(4 * delta, rel=0.01)
    assert src.frame(0).keyframe and not src.frame(1).keyframe
    assert src.frame(1, force_keyframe=True).keyframe
    assert src.frame(30).timestamp == 90_000


def test_sources_refuse_negative_indexes() -> None:
    with pytest.raises(ValueError, match="frame index must be >= 0, got -1"):
        VideoSource().frame(-1)
    with pytest.raises(ValueError, match="frame index must be >= 0, got -1"):
        AudioSource().frame(-1)


def test_capture_source_groups_a_real_vp8_stream_into_frames() -> None:
    from rtpstack.client.capture_source import CaptureSource

    path = PCAPS / "ffmpeg_vp8_pcmu.pcapng"
    expected = {int(s["ssrc"], 16): s for s in json.loads(
        (PCAPS / "ffmpeg_vp8_pcmu.pcapng.expected.json").read_text())["streams"]}
    video = CaptureSource.from_file(path, kind="video")
    audio = CaptureSource.from_file(path, kind="audio")
    v, a = expected[video.ssrc], expected[audio.ssrc]
    assert (video.payload_type, video.clock_rate) == (96, 90_000)
    assert (audio.payload_type, audio.clock_rate) == (0, 8_000)
    assert len(video.frames) == v["markers"]  # ffmpeg marks the last packet of each frame
    assert len(audio.frames) == a["packets"]  # one PCMU packet per frame
    assert sum(len(f.data) for f in video.frames) == v["payload_bytes"]
    assert sum(len(f.data) for f in audio.frames) == a["payload_bytes"]
    assert audio.frames[1].timestamp - audio.frames[0].timestamp == 160  # 20 ms at 8 kHz
    # looping: frame n+len is frame n, later by the capture's duration and timestamp span
    n = len(video.frames)
    again = video.frame(n + 3)
    assert again.data == video.frame(3).data
    assert again.due == pytest.approx(video.frame(3).due + video.duration)
    assert again.timestamp == video.frame(3).timestamp + video.ts_span


def test_capture_source_without_the_stream_is_a_clear_error() -> None:
    from rtpstack.client.capture_source import CaptureSource, CaptureSourceError

    with pytest.raises(CaptureSourceError, match="no RTP video stream found in"):
        CaptureSource.from_file(PCAPS / "ffmpeg_vp8_pcmu.pcapng", kind="video", ssrc=1)


@given(
    start=st.integers(0, 65535),
    n=st.integers(1, 300),
    data=st.data(),
)
@settings(max_examples=200, deadline=None)
def test_receive_counters_match_a_model(start: int, n: int, data: st.DataObject) -> None:
    """Any arrival order with loss, duplicates and reordering (also across the wrap)."""
    offsets = list(range(n))
    kept = data.draw(st.lists(st.sampled_from(offsets), min_size=1, max_size=2 * n))
    first_ext = kept[0]
    # reordering far before the first packet is outside what a receiver can know: keep it near
    kept = [o for o in kept if o >= first_ext - 100]
    st_ = ReceiveStreamState(1)
    for i, off in enumerate(kept):
        st_.on_packet((start + off) % 65536, 0, 10, i * 0.01)
    unique = set(kept)
    snap = st_.snapshot()
    assert snap.packets == len(unique)
    assert snap.duplicates == len(kept) - len(unique)
    assert snap.expected == max(unique) - min(unique) + 1
    assert snap.lost == snap.expected - len(unique)
    gaps = set(range(min(unique), max(unique) + 1)) - unique
    assert st_.highest is not None
    base = st_.highest - max(unique)  # extended = offset + base
    missing = {m - base for m in st_.missing}
    assert missing <= gaps
    # every gap after the first packet (within the 512-packet window) is known to be missing
    assert {g for g in gaps if g > kept[0] and g >= max(unique) - 512} <= missing
