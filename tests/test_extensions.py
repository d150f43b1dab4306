"""Typed header-extension codecs: value tables, round trips, exact decode errors, URIs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtpstack import extensions as X
from rtpstack.errors import RtpParseError

# (codec, element octets, decoded value); every row is decoded and re-encoded.
TABLE: list[tuple[X.ExtensionCodec[Any], str, object]] = [
    (X.MID, "30", "0"),
    (X.MID, "617564696f", "audio"),
    (X.MID, "c3a9", "\u00e9"),
    (X.RID, "6869", "hi"),
    (X.RID, "715f2d31", "q_-1"),
    (X.REPAIRED_RID, "6c6f77", "low"),
    (X.ABS_SEND_TIME, "000000", 0),
    (X.ABS_SEND_TIME, "65341e", 0x65341E),
    (X.ABS_SEND_TIME, "ffffff", 0xFFFFFF),
    (X.TRANSPORT_CC, "0000", 0),
    (X.TRANSPORT_CC, "0102", 258),
    (X.TRANSPORT_CC, "ffff", 65535),
    (X.AUDIO_LEVEL, "00", X.AudioLevel(voice=False, level=0)),
    (X.AUDIO_LEVEL, "7f", X.AudioLevel(voice=False, level=127)),
    (X.AUDIO_LEVEL, "80", X.AudioLevel(voice=True, level=0)),
    (X.AUDIO_LEVEL, "d0", X.AudioLevel(voice=True, level=80)),
    (X.VIDEO_ORIENTATION, "00", X.VideoOrientation(camera=False, flip=False, rotation=0)),
    (X.VIDEO_ORIENTATION, "01", X.VideoOrientation(camera=False, flip=False, rotation=90)),
    (X.VIDEO_ORIENTATION, "02", X.VideoOrientation(camera=False, flip=False, rotation=180)),
    (X.VIDEO_ORIENTATION, "0f", X.VideoOrientation(camera=True, flip=True, rotation=270)),
    (X.VIDEO_ORIENTATION, "08", X.VideoOrientation(camera=True, flip=False, rotation=0)),
    (X.PLAYOUT_DELAY, "000000", X.PlayoutDelay(0, 0)),
    (X.PLAYOUT_DELAY, "010100", X.PlayoutDelay(16, 256)),
    (X.PLAYOUT_DELAY, "fff001", X.PlayoutDelay(4095, 1)),
    (X.ABS_CAPTURE_TIME, "0123456789abcdef", X.AbsoluteCaptureTime(0x0123456789ABCDEF)),
    (X.ABS_CAPTURE_TIME, "00000001800000000000000080000000",
     X.AbsoluteCaptureTime(0x180000000, 0x80000000)),
    (X.ABS_CAPTURE_TIME, "0000000000000000ffffffff00000000",
     X.AbsoluteCaptureTime(0, -(1 << 32))),
]


@pytest.mark.parametrize(("codec", "raw_hex", "value"), TABLE)
def test_decode_encode_table(codec: X.ExtensionCodec[Any], raw_hex: str, value: object) -> None:
    raw = bytes.fromhex(raw_hex)
    assert codec.decode(raw) == value
    assert codec.encode(value) == raw


@pytest.mark.parametrize(
    ("codec", "raw_hex", "message"),
    [
        (X.ABS_SEND_TIME, "0102", "abs-send-time element needs 3 octets, got 2"),
        (X.TRANSPORT_CC, "01", "transport-cc element needs 2 octets, got 1"),
        (X.AUDIO_LEVEL, "", "audio-level element needs 1 octets, got 0"),
        (X.VIDEO_ORIENTATION, "", "video-orientation element needs 1 octets, got 0"),
        (X.PLAYOUT_DELAY, "0101", "playout-delay element needs 3 octets, got 2"),
        (X.ABS_CAPTURE_TIME, "01020304", "abs-capture-time element needs 8 octets, got 4"),
        (X.MID, "", "mid element needs 1-255 octets, got 0"),
        (X.MID, "ff", "mid element is not UTF-8"),
        (X.RID, "612062", "rid element 'a b' is not a valid RID"),
        (X.REPAIRED_RID, "", "repaired-rid element needs 1-255 octets, got 0"),
    ],
)
def test_decode_errors(codec: X.ExtensionCodec[Any], raw_hex: str, message: str) -> None:
    with pytest.raises(RtpParseError) as exc:
        codec.decode(bytes.fromhex(raw_hex))
    assert str(exc.value) == message


def test_trailing_octets_ignored_by_fixed_size_codecs() -> None:
    assert X.TRANSPORT_CC.decode(bytes.fromhex("000200ffff")) == 2
    assert X.PLAYOUT_DELAY.decode(bytes.fromhex("010100ffff")) == X.PlayoutDelay(16, 256)
    assert X.ABS_CAPTURE_TIME.decode(bytes(12)) == X.AbsoluteCaptureTime(0, None)


@pytest.mark.parametrize(
    ("codec", "value"),
    [
        (X.ABS_SEND_TIME, 1 << 24),
        (X.TRANSPORT_CC, -1),
        (X.AUDIO_LEVEL, X.AudioLevel(True, 128)),
        (X.VIDEO_ORIENTATION, X.VideoOrientation(False, False, 45)),
        (X.PLAYOUT_DELAY, X.PlayoutDelay(4096, 0)),
        (X.ABS_CAPTURE_TIME, X.AbsoluteCaptureTime(1 << 64)),
        (X.ABS_CAPTURE_TIME, X.AbsoluteCaptureTime(0, 1 << 63)),
        (X.MID, ""),
        (X.RID, "no spaces"),
    ],
)
def test_encode_rejects_out_of_range(codec: X.ExtensionCodec[Any], value: object) -> None:
    with pytest.raises(ValueError):
        codec.encode(value)


def test_uris_and_lookup() -> None:
    assert X.MID.uri == "urn:ietf:params:rtp-hdrext:sdes:mid"
    assert X.RID.uri == "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
    assert X.REPAIRED_RID.uri == "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
    assert X.AUDIO_LEVEL.uri == "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
    assert X.VIDEO_ORIENTATION.uri == "urn:3gpp:video-orientation"
    assert X.ABS_SEND_TIME.uri == "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
    assert X.PLAYOUT_DELAY.uri == "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
    assert X.ABS_CAPTURE_TIME.uri == (
        "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
    )
    assert X.TRANSPORT_CC.uri == (
        "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
    )
    assert len({c.uri for c in X.CODECS}) == len(X.CODECS) == 9
    for c in X.CODECS:
        assert X.codec_for_uri(c.uri) is c
    assert X.codec_for_uri("urn:unknown") is None


def test_abs_send_time_seconds() -> None:
    assert X.abs_send_time_to_seconds(0x65341E) == pytest.approx(25.300896, abs=1e-6)
    assert X.abs_send_time_from_seconds(1.5) == 3 << 17
    assert X.abs_send_time_from_seconds(64.25) == X.abs_send_time_from_seconds(0.25)  # wraps
    assert X.PlayoutDelay(16, 256).min_ms == 160 and X.PlayoutDelay(16, 256).max_ms == 2560


@given(st.binary(max_size=20))
def test_decoders_raise_only_rtp_parse_error(raw: bytes) -> None:
    for codec in X.CODECS:
        try:
            value = codec.decode(raw)
        except RtpParseError:
            continue
        assert codec.decode(codec.encode(value)) == value
        if codec is not X.VIDEO_ORIENTATION:  # CVO's 4 reserved bits are not kept
            # re-encodes to a prefix of the input (trailing octets are ignored)
            assert raw.startswith(codec.encode(value))
