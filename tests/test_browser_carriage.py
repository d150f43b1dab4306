"""The client's codec carriage (``carriage="codec"``, for sessions with browsers): VP8 payload
descriptors, the clear VP8 header as SFrame metadata, and a sans-IO round trip of real VP8
frames from the project's capture through two client cores and real libsrtp."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtpstack import fastpath
from rtpstack.client.capture_source import CaptureSource
from rtpstack.client.carriage import (
    Vp8DescriptorError,
    clear_prefix_length,
    vp8_packetize,
    vp8_payload,
    vp8_strip,
)
from rtpstack.client.core import ClientCore, TrackConfig, TransportInfo
from rtpstack.client.events import ENCRYPTION_SECRET_MISMATCH
from rtpstack.client.hop import HopCrypto
from rtpstack.errors import RtpParseError

VP8_PCAP = Path(__file__).resolve().parent.parent / "pcaps" / "ffmpeg_vp8_pcmu.pcapng"
SECRET = "correct horse battery staple"


@pytest.mark.parametrize(("payload", "start", "body"), [
    (b"\x10abc", True, b"abc"),                       # S, PID 0, no extension
    (b"\x00abc", False, b"abc"),                      # continuation
    (b"\x11abc", False, b"abc"),                      # S but partition 1: not a frame start
    (b"\x90\x80\x05abc", True, b"abc"),               # X, I with a 7-bit picture id
    (b"\x90\x80\x85\x01abc", True, b"abc"),           # I with a 15-bit picture id
    (b"\x90\xe0\x85\x01\x07\x40abc", True, b"abc"),   # I (15 bit), L, T
    (b"\x80\x10\x40abc", False, b"abc"),              # K only
])
def test_vp8_descriptor(payload: bytes, start: bool, body: bytes) -> None:
    assert vp8_payload(payload) == (start, body)


@pytest.mark.parametrize(("payload", "message"), [
    (b"", "VP8 payload is empty"),
    (b"\x90", "VP8 payload descriptor is cut short"),
    (b"\x90\x80", "VP8 payload descriptor is cut short"),
    (b"\x90\xc0\x85", "VP8 payload descriptor is cut short"),
])
def test_vp8_descriptor_errors(payload: bytes, message: str) -> None:
    with pytest.raises(Vp8DescriptorError, match=f"^{message}$") as err:
        vp8_payload(payload)
    assert isinstance(err.value, RtpParseError)


def test_packetize_and_prefix() -> None:
    frame = bytes(range(256)) * 10
    payloads = vp8_packetize(frame, 1200)
    assert [p[0] for p in payloads] == [0x10, 0x00, 0x00]
    assert all(len(p) <= 1200 for p in payloads)
    assert b"".join(vp8_strip(p) for p in payloads) == frame
    assert clear_prefix_length("video", b"\x00" * 30) == 10     # P bit 0: key frame
    assert clear_prefix_length("video", b"\x01" * 30) == 3      # delta frame
    assert clear_prefix_length("video", b"\x00\x00") == 2       # never more than the frame
    assert clear_prefix_length("audio", b"\x00" * 30) == 0


def _pair(secret_b: str = SECRET) -> tuple[ClientCore, ClientCore]:
    key_a, key_b = os.urandom(28), os.urandom(28)
    # b unprotects what a protects: the router's hop is left out (no SSRC rewrite needed)
    a = ClientCore(TransportInfo("127.0.0.1", 9, "AEAD_AES_128_GCM", key_a, key_b, 1),
                   session_id="s", participant_id="a", e2ee=True, carriage="codec")
    b = ClientCore(TransportInfo("127.0.0.1", 9, "AEAD_AES_128_GCM", key_b, key_a, 2),
                   session_id="s", participant_id="b", e2ee=True, carriage="codec")
    a.set_encryption_secret(SECRET)
    b.set_encryption_secret(secret_b)
    return a, b


def test_codec_carriage_round_trip_of_real_vp8() -> None:
    src = CaptureSource.from_file(VP8_PCAP, kind="video", depacketize=vp8_strip)
    a, b = _pair()
    a.add_track(TrackConfig("v", "video", 1111, 96, 90_000))
    b.add_subscription(1111, publisher="a", kind="video")
    reader = HopCrypto(b.transport.router_key, a.transport.client_key)
    sent = [f.data for f in src.frames[:10]]
    for i, frame in enumerate(sent):
        datagrams = a.send_frame("v", frame, timestamp=i * 6000)
        for n, d in enumerate(datagrams):
            plain = reader.unprotect(d)
            _m, pt, _seq, _ts, _ssrc, _xp, _xs, start, end = fastpath.parse_header(plain)
            payload = plain[start:end]
            assert pt == 96
            assert payload[0] == (0x10 if n == 0 else 0x00)
            if n == 0:                        # the VP8 header is readable on the wire
                keep = 10 if frame[0] & 1 == 0 else 3
                assert payload[1:1 + keep] == frame[:keep]
                assert frame[keep:keep + 16] not in plain
            b.receive(d, now=i / 15)
    got = [f.data for f in b.pop_frames()]
    assert got == sent
    assert a.send_stats()["v"].frames == 10
    assert b.receive_stats()[1111].frames_decoded == 10


def test_codec_carriage_audio_and_wrong_secret() -> None:
    a, b = _pair("a different secret")
    a.add_track(TrackConfig("m", "audio", 2222, 111, 48_000))
    b.add_subscription(2222, publisher="a", kind="audio")
    for i in range(3):
        datagrams = a.send_frame("m", b"\xfc" + bytes(80), timestamp=i * 960,
                                 audio_level=(True, 30))
        assert len(datagrams) == 1
        b.receive(datagrams[0], now=i * 0.02)
    assert b.pop_frames() == []
    assert b.receive_stats()[2222].frames_failed == 3
    assert [e.type for e in b.pop_events()] == [ENCRYPTION_SECRET_MISMATCH]


def test_unknown_carriage_refused() -> None:
    with pytest.raises(ValueError, match="carriage must be one of sframe, codec, got 'rtp'"):
        ClientCore(TransportInfo("127.0.0.1", 9, "AEAD_AES_128_GCM", os.urandom(28),
                                 os.urandom(28), 1), session_id="s", participant_id="a",
                   e2ee=True, carriage="rtp")  # type: ignore[arg-type]
