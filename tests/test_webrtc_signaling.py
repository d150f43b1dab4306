"""WebRTC over the router's signaling: join variant, offer -> answer, slots for subscriptions."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from router.config import PortRange, RouterConfig
from router.media import RouterMediaPlane, create_media_plane
from router.mediaplane import NullMediaPlane
from router.testing import RouterHarness, SignalingClient
from tests.sdp_samples import CHROMIUM_OFFER

pytestmark = pytest.mark.timeout(30)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[RouterHarness]:
    config = RouterConfig(port=0, media_ports=PortRange(*(2 * [_free_udp_port()])),
                          archive_dir=str(tmp_path / "a"), log_level="warning")
    async with RouterHarness(config, create_media_plane(config)) as h:
        yield h


async def _join(h: RouterHarness, sid: str, name: str, transport: str | None) -> SignalingClient:
    sock = await h.connect(await h.token(sid, participant_id=name, role="publisher"), name)
    msg: dict[str, Any] = {"type": "join"}
    if transport is not None:
        msg["transport"] = transport
    sock.joined = await sock.request(msg)
    return sock


def _track(kind: str, ssrc: int, name: str = "VP8", pt: int = 100) -> dict[str, Any]:
    rate = 90000 if kind == "video" else 48000
    return {"kind": kind, "ssrcs": [ssrc], "codec": {"name": name, "payload_type": pt,
                                                      "clock_rate": rate}}


async def test_offer_answer_publications_and_slots(harness: RouterHarness) -> None:
    sid = (await harness.create_session(media_mode="routed", e2ee=False))["session_id"]
    native = await _join(harness, sid, "native", None)
    assert native.joined["transport"]["protocol"] == "udp/srtp"
    web = await _join(harness, sid, "web", "webrtc")
    t = web.joined["transport"]
    assert t == {"protocol": "webrtc", "host": "127.0.0.1", "port": t["port"], "ice_lite": True}
    assert "client_key" not in t

    answer = await web.request({"type": "offer", "sdp": CHROMIUM_OFFER})
    assert answer["type"] == "answer", answer
    assert "a=ice-lite" in answer["sdp"] and f" {t['port']} typ host" in answer["sdp"]
    streams = answer["streams"]
    assert [(s["mid"], s["kind"], s["ssrcs"]) for s in streams] == [
        ("0", "audio", [2203955021]), ("1", "video", [3115276473])]
    assert streams[1]["rtx_ssrcs"] == [1710216587]
    assert [s["mid"] for s in answer["slots"]] == ["2", "3"]
    assert answer["rejected"] == []
    created = [await native.wait_for("stream_created") for _ in range(2)]
    assert {c["stream"]["stream_id"] for c in created} == {s["stream_id"] for s in streams}

    again = await web.request({"type": "offer", "sdp": CHROMIUM_OFFER})
    assert again["error"] == "renegotiation_unsupported"

    # The native client publishes two videos and an audio; the page subscribes.
    v1 = (await native.request({"type": "publish", "track": _track("video", 11)}))["stream"]
    v2 = (await native.request({"type": "publish", "track": _track("video", 12)}))["stream"]
    v3 = (await native.request({"type": "publish", "track": _track("video", 13)}))["stream"]
    au = (await native.request({"type": "publish",
                                "track": _track("audio", 14, "opus", 111)}))["stream"]
    s1 = await web.request({"type": "subscribe", "stream_id": v1["stream_id"]})
    s2 = await web.request({"type": "subscribe", "stream_id": v2["stream_id"]})
    slots = {s["mid"]: s["ssrc"] for s in answer["slots"]}
    assert (s1["mid"], s1["ssrc"]) == ("2", slots["2"])
    assert (s2["mid"], s2["ssrc"]) == ("3", slots["3"])
    full = await web.request({"type": "subscribe", "stream_id": v3["stream_id"]})
    assert full["error"] == "no_free_slot"
    no_audio_slot = await web.request({"type": "subscribe", "stream_id": au["stream_id"]})
    assert no_audio_slot["error"] == "no_free_slot"
    media = harness.media
    assert isinstance(media, RouterMediaPlane)
    (cpid,) = [p for p in media.core.participants if p.endswith("\x00web")]
    part = media.core.participants[cpid]
    pt_map = part.subs[slots["2"]].pt_map
    assert pt_map is not None and pt_map[100] == 96 and pt_map[5] == 5  # VP8: 100 -> 96
    # Unsubscribing frees the slot; the next subscription gets it.
    await web.request({"type": "unsubscribe", "subscription_id": s1["subscription_id"]})
    s3 = await web.request({"type": "subscribe", "stream_id": v3["stream_id"]})
    assert (s3["mid"], s3["ssrc"]) == ("2", slots["2"])
    # The native subscriber sees the page's streams like any other (no mid, no pt map).
    n1 = await native.request({"type": "subscribe", "stream_id": streams[1]["stream_id"]})
    assert n1["type"] == "subscribed" and "mid" not in n1
    # Trickled candidates are accepted and ignored.
    await web.send({"type": "candidate", "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"})
    assert (await web.request({"type": "ping"}))["type"] == "pong"
    # Leaving removes the ICE/DTLS state and releases the slots.
    await web.request({"type": "leave"})
    assert await native.wait_for("participant_left")
    assert media.webrtc.peers == {} and cpid not in media.core.participants


async def test_e2ee_session_needs_encrypted_declaration(harness: RouterHarness) -> None:
    sid = (await harness.create_session(media_mode="routed", e2ee=True))["session_id"]
    web = await _join(harness, sid, "web", "webrtc")
    refused = await web.request({"type": "offer", "sdp": CHROMIUM_OFFER})
    assert refused["error"] == "encryption_required"
    session = (await harness.api("GET", f"/v1/sessions/{sid}"))[1]
    assert session["streams"] == []
    bad = await web.request({"type": "offer", "sdp": CHROMIUM_OFFER, "encrypted": "yes"})
    assert bad["error"] == "invalid_request"
    ok = await web.request({"type": "offer", "sdp": CHROMIUM_OFFER, "encrypted": True})
    assert ok["type"] == "answer" and all(s["encrypted"] for s in ok["streams"])


async def test_invalid_offers_and_transport_names(harness: RouterHarness) -> None:
    sid = (await harness.create_session(media_mode="routed", e2ee=False))["session_id"]
    web = await _join(harness, sid, "web", "webrtc")
    bad = await web.request({"type": "offer", "sdp": "v=0\r\nbogus\r\n"})
    assert bad["error"] == "invalid_offer"
    assert bad["message"] == "malformed SDP: line 2: expected '<letter>=<value>', got 'bogus'"
    missing = await web.request({"type": "offer"})
    assert missing["error"] == "invalid_offer"
    good = await web.request({"type": "offer", "sdp": CHROMIUM_OFFER})
    assert good["type"] == "answer"  # a refused offer leaves the participant able to offer
    other = await harness.connect(await harness.token(sid, participant_id="x"), "x")
    wrong = await other.request({"type": "join", "transport": "carrier-pigeon"})
    assert wrong["error"] == "invalid_request"
    native = await _join(harness, sid, "native", None)
    routed = await native.request({"type": "offer", "sdp": CHROMIUM_OFFER})
    assert routed["error"] == "routed_session"  # only WebRTC participants offer to the router


async def test_media_plane_without_webrtc_refuses_the_join() -> None:
    config = RouterConfig(port=0, log_level="warning")
    async with RouterHarness(config, NullMediaPlane()) as h:
        sid = (await h.create_session(media_mode="routed", e2ee=False))["session_id"]
        sock = await h.connect(await h.token(sid, participant_id="web"), "web")
        refused = await sock.request({"type": "join", "transport": "webrtc"})
        assert refused["error"] == "webrtc_unsupported"
