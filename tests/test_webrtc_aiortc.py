"""aiortc (from PyPI) as an ordinary WebRTC peer of a routed, non-e2ee session.

One real router in process (control plane + the real media plane on 127.0.0.1), a native
Python client (:class:`rtpstack.client.Client`) publishing real VP8 from
``pcaps/ffmpeg_vp8_pcmu.pcapng``, and an aiortc ``RTCPeerConnection`` that joins with
``"transport": "webrtc"``, offers one receive-only video slot plus its own camera-like track,
and gets the router's ICE-lite / DTLS-SRTP answer. Proof in both directions: aiortc decodes
the native client's VP8 frames (320x240), and the native client receives aiortc's VP8 frames.
Loopback quirks (INTEROP.md): host addresses forced to 127.0.0.1, ``iceServers=[]``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from router.config import PortRange, RouterConfig
from router.media import RouterMediaPlane
from router.testing import RouterHarness, SignalingClient
from rtpstack.client import Client
from rtpstack.client.capture_source import CaptureSource
from rtpstack.client.carriage import vp8_strip

aiortc = pytest.importorskip("aiortc", reason="aiortc is not installed in this environment")
aioice_ice = pytest.importorskip("aioice.ice", reason="aioice is not installed")
from aiortc.mediastreams import (  # noqa: E402
    AudioStreamTrack,
    MediaStreamError,
    VideoStreamTrack,
)

pytestmark = pytest.mark.timeout(90)

VP8_PCAP = Path(__file__).resolve().parent.parent / "pcaps" / "ffmpeg_vp8_pcmu.pcapng"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[RouterHarness]:
    from router.media import create_media_plane

    config = RouterConfig(port=0, media_ports=PortRange(*(2 * [_free_udp_port()])),
                          archive_dir=str(tmp_path / "archives"), log_level="warning")
    async with RouterHarness(config, create_media_plane(config)) as h:
        yield h


@pytest.fixture(autouse=True)
def _loopback_only() -> Any:
    with mock.patch.object(aioice_ice, "get_host_addresses",
                           lambda use_ipv4, use_ipv6: ["127.0.0.1"]):
        yield


async def _until(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())


class AiortcPeer:
    """An aiortc peer connection driven through the router's signaling."""

    def __init__(self, sock: SignalingClient) -> None:
        self.sock = sock
        self.pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        self.frames: list[tuple[int, int]] = []
        self.audio_frames: list[tuple[int, int]] = []
        self.tracks: list[Any] = []
        self._readers: list[asyncio.Task[None]] = []
        self.answer: dict[str, Any] = {}

        def on_track(track: Any) -> None:
            self.tracks.append(track)
            self._readers.append(asyncio.ensure_future(self._read(track)))

        self.pc.on("track", on_track)

    async def _read(self, track: Any) -> None:
        for _ in range(10_000):  # bounded; cancelled at close
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if track.kind == "video":
                self.frames.append((frame.width, frame.height))
            else:
                self.audio_frames.append((frame.sample_rate, frame.samples))

    async def negotiate(self, *, send_video: bool, video_slots: int,
                        send_audio: bool = False, audio_slots: int = 0) -> dict[str, Any]:
        if send_audio:
            self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        if send_video:
            self.pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        for _ in range(audio_slots):
            self.pc.addTransceiver("audio", direction="recvonly")
        for _ in range(video_slots):
            self.pc.addTransceiver("video", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await self.sock.request(
            {"type": "offer", "sdp": self.pc.localDescription.sdp}, timeout=10)
        assert answer["type"] == "answer", answer
        await self.pc.setRemoteDescription(
            aiortc.RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        self.answer = answer
        return answer

    async def close(self) -> None:
        for t in self._readers:
            t.cancel()
        await self.pc.close()


async def _webrtc_join(harness: RouterHarness, sid: str, name: str) -> SignalingClient:
    token = await harness.token(sid, participant_id=name, role="publisher")
    sock = await harness.connect(token, name)
    joined = await sock.request({"type": "join", "transport": "webrtc"})
    assert joined["type"] == "joined", joined
    assert joined["transport"]["protocol"] == "webrtc"
    return sock


async def test_aiortc_and_native_client_exchange_vp8(harness: RouterHarness) -> None:
    sid = (await harness.create_session(media_mode="routed", e2ee=False))["session_id"]
    base = str(harness.client.make_url("")).rstrip("/")
    py = Client(base, await harness.token(sid, participant_id="python", role="publisher"),
                carriage="codec", auto_subscribe=True)
    await py.connect()
    py.keep_frames = True
    peer: AiortcPeer | None = None
    try:
        source = CaptureSource.from_file(VP8_PCAP, kind="video", depacketize=vp8_strip)
        local = await py.publish("video", source=source)

        sock = await _webrtc_join(harness, sid, "aio")
        peer = AiortcPeer(sock)
        answer = await peer.negotiate(send_video=True, video_slots=1)
        # aiortc's sending m-line became a publication; its recvonly m-line a slot.
        (stream,) = answer["streams"]
        assert stream["kind"] == "video" and stream["codec"]["name"] == "VP8"
        (slot,) = answer["slots"]
        assert slot["kind"] == "video"
        assert "a=ice-lite" in answer["sdp"] and "a=setup:passive" in answer["sdp"]

        assert await _until(lambda: peer is not None and peer.pc.connectionState == "connected",
                            15), peer.pc.connectionState
        sub = await sock.request({"type": "subscribe", "stream_id": local.stream_id})
        assert sub["type"] == "subscribed", sub
        assert sub["ssrc"] == slot["ssrc"] and sub["mid"] == slot["mid"]

        # The native client sends the capture (looped) until aiortc decoded enough frames and
        # the native client got aiortc's frames; bounded by rounds and by time.
        def done() -> bool:
            got = [f for f in py.frames if f.publisher == "aio" and f.kind == "video"]
            return peer is not None and len(peer.frames) >= 15 and len(got) >= 10

        for _ in range(30):
            await py.run_media(0.5, max_frames=20)
            if done():
                break
        assert peer.frames, "aiortc decoded no frame from the native client"
        assert len(peer.frames) >= 15
        assert set(peer.frames) == {(320, 240)}  # the capture's real VP8 frames
        got = [f for f in py.frames if f.publisher == "aio" and f.kind == "video"]
        assert len(got) >= 10, "the native client received no frames from aiortc"
        keyframes = [f.data for f in got if f.data[0] & 1 == 0]
        assert keyframes and all(k[3:6] == b"\x9d\x01\x2a" for k in keyframes)

        stats = await peer.pc.getStats()
        transports = [s for s in stats.values() if s.type == "transport"]
        assert transports and transports[0].dtlsState == "connected"
        media = harness.media
        assert isinstance(media, RouterMediaPlane)
        assert media.webrtc.counters["dtls_connected"] == 1
        (webrtc_peer,) = media.webrtc.peers.values()
        # aiortc offers AEAD_AES_256_GCM, AEAD_AES_128_GCM, AES128_CM_SHA1_80: the router
        # supports the latter two and its first choice wins.
        assert webrtc_peer.dtls.profile is not None
        assert webrtc_peer.dtls.profile.value == "AEAD_AES_128_GCM"
        assert webrtc_peer.agent.nominated is not None
        assert media.webrtc.counters["stun_answered"] >= 1
    finally:
        if peer is not None:
            await peer.close()
        await py.close()


async def test_aiortc_and_native_client_exchange_audio(harness: RouterHarness) -> None:
    sid = (await harness.create_session(media_mode="routed", e2ee=False))["session_id"]
    base = str(harness.client.make_url("")).rstrip("/")
    py = Client(base, await harness.token(sid, participant_id="python", role="publisher"),
                carriage="codec", auto_subscribe=True)
    await py.connect()
    py.keep_frames = True
    peer: AiortcPeer | None = None
    try:
        # PCMU (static payload type 0) from the capture; aiortc offers PCMU as 0 too, but its
        # opus is 96: each side receives what its own offer negotiated.
        source = CaptureSource.from_file(VP8_PCAP, kind="audio")
        local = await py.publish("audio", source=source)
        peer = AiortcPeer(await _webrtc_join(harness, sid, "aio"))
        answer = await peer.negotiate(send_video=False, video_slots=0, send_audio=True,
                                      audio_slots=1)
        (stream,) = answer["streams"]
        assert (stream["kind"], stream["codec"]["name"]) == ("audio", "opus")
        assert stream["header_extensions"] == {
            "2": "urn:ietf:params:rtp-hdrext:ssrc-audio-level"}
        assert await _until(lambda: peer is not None and peer.pc.connectionState == "connected",
                            15), peer.pc.connectionState
        sub = await peer.sock.request({"type": "subscribe", "stream_id": local.stream_id})
        assert sub["type"] == "subscribed" and sub["mid"] == answer["slots"][0]["mid"]

        def done() -> bool:
            got = [f for f in py.frames if f.publisher == "aio" and f.kind == "audio"]
            return peer is not None and len(peer.audio_frames) >= 25 and len(got) >= 25

        for _ in range(20):
            await py.run_media(0.5, max_frames=40)
            if done():
                break
        assert len(peer.audio_frames) >= 25, "aiortc decoded no PCMU from the native client"
        assert {rate for rate, _ in peer.audio_frames} == {8000}  # PCMU decoded at 8 kHz
        got = [f for f in py.frames if f.publisher == "aio" and f.kind == "audio"]
        assert len(got) >= 25, "the native client received no audio from aiortc"
    finally:
        if peer is not None:
            await peer.close()
        await py.close()
