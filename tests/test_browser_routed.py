"""The browser page in routed e2ee sessions of a real router (control plane + media plane
in process, WebRTC: ICE-lite, DTLS-SRTP), driven in headless Chromium by Playwright:

* two pages with the same secret (one on ``RTCRtpScriptTransform``, one on the legacy
  ``createEncodedStreams``) each decode the other's video (``framesDecoded`` grows,
  ``getStats`` shows the SRTP cipher), and a third page with another secret decodes nothing
  and shows ``encryption_secret_mismatch`` (and the others show it for the third);
* a page and the Python client (``carriage="codec"``, real VP8 frames from the project's
  capture) decode each other's video; a screenshot of a page with two remote videos is saved
  as ``artifacts/browser-e2ee.png``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from router.config import PortRange, RouterConfig
from router.testing import RouterHarness
from rtpstack.client import CaptureSource, Client, ReceiveStats
from rtpstack.client.carriage import vp8_strip
from tests.browser.harness import ARTIFACTS, require_browser, run_driver

pytestmark = [pytest.mark.timeout(150), pytest.mark.peer]

ROOT = Path(__file__).resolve().parent.parent
VP8_PCAP = ROOT / "pcaps" / "ffmpeg_vp8_pcmu.pcapng"
SECRET = "correct horse battery staple"
OTHER = "not the same secret at all"
SCREENSHOT = ARTIFACTS / "browser-e2ee.png"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require_webrtc_router() -> None:
    if not (ROOT / "router" / "webrtc" / "__init__.py").is_file():
        pytest.skip("the router has no WebRTC support yet (router/webrtc/)")


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[RouterHarness]:
    _require_webrtc_router()
    media_mod = pytest.importorskip(
        "router.media", reason="the real media plane (router/media.py) is not in this tree")
    config = RouterConfig(port=0, media_ports=PortRange(*(2 * [_free_udp_port()])),
                          archive_dir=str(tmp_path / "archives"), log_level="warning")
    async with RouterHarness(config, media_mod.create_media_plane(config)) as h:
        yield h


async def _page_url(h: RouterHarness, session_id: str, name: str, secret: str) -> str:
    token = await h.token(session_id, participant_id=name, role="publisher")
    base = str(h.client.make_url("/"))
    return f"{base}#token={quote(token)}&secret={quote(secret)}"


def _why(out: dict[str, Any]) -> str:
    """What each page saw and logged, for a failure message."""
    lines = []
    for name, stats in out["pages"].items():
        lines.append(f"{name}: remotes={stats.get('remotes')} workers={stats.get('workers')}")
        lines.extend(f"  {line}" for line in out["console"].get(name, [])[-25:])
    return "\n".join(lines)


def _decoding(stats: dict[str, Any], peer: str, at_least: int) -> bool:
    r = stats.get("remotes", {}).get(peer)
    return bool(r) and r["framesDecoded"] >= at_least and r["e2ee"] == "encryption_secret_match"


async def test_two_pages_decode_each_other_and_a_third_secret_does_not(
        harness: RouterHarness) -> None:
    tools = require_browser()
    sid = (await harness.create_session(media_mode="routed", e2ee=True))["session_id"]
    pages = [{"name": n, "url": await _page_url(harness, sid, n, s)}
             for n, s in (("alice", SECRET), ("bob", SECRET), ("eve", OTHER))]
    pages[1]["url"] = pages[1]["url"].replace("/#", "/?transform=legacy#")  # createEncodedStreams
    until = ("const want = {alice: 'bob', bob: 'alice'}[stats.participantId];"
             "const r = stats.remotes[want];"
             "return !!r && r.framesDecoded >= 20 && r.e2ee === 'encryption_secret_match';")
    out = await run_driver(tools, {"pages": pages, "until": until,
                                   "until_pages": ["alice", "bob"],
                                   "min_seconds": 6, "max_seconds": 60}, timeout=100)
    assert out["errors"] == [], out["errors"]
    assert out["ok"], _why(out)
    alice, bob, eve = (out["pages"][n] for n in ("alice", "bob", "eve"))
    assert (alice["mode"], bob["mode"]) == ("script", "legacy")
    for me, peer in ((alice, "bob"), (bob, "alice")):
        assert me["joined"] and me["e2ee"] is True
        assert _decoding(me, peer, 20), me["remotes"]
        # DTLS 1.2 (FEFD) with the router, SRTP keyed from it
        assert me["srtpCipher"] in ("SRTP_AEAD_AES_128_GCM", "SRTP_AES128_CM_HMAC_SHA1_80")
        assert (me["dtlsState"], me["tlsVersion"]) == ("connected", "FEFD"), me["transports"]
        # eve's frames reach alice and bob but do not open
        assert me["remotes"]["eve"]["e2ee"] == "encryption_secret_mismatch"
        assert me["remotes"]["eve"]["framesDecoded"] == 0
    # the router handed each join its own SFrame sender index, and the pages use it
    indexes = {p["senderIndex"] for p in (alice, bob, eve)}
    assert len(indexes) == 3 and all(int(i) < 2**32 for i in indexes)
    assert set(eve["remotes"]) == {"alice", "bob"}
    for peer in ("alice", "bob"):
        r = eve["remotes"][peer]
        assert r["packetsReceived"] > 20, r              # media arrives ...
        assert r["framesDecoded"] == 0                   # ... and nothing decodes
        assert r["e2ee"] == "encryption_secret_mismatch"


async def test_page_and_python_client_decode_each_other(harness: RouterHarness) -> None:
    tools = require_browser()
    sid = (await harness.create_session(media_mode="routed", e2ee=True))["session_id"]
    base = str(harness.client.make_url("")).rstrip("/")
    token = await harness.token(sid, participant_id="python", role="publisher")
    py = Client(base, token, carriage="codec", auto_subscribe=True)
    # mallory holds another secret: the pages' frames must reach her as ciphertext only
    token_m = await harness.token(sid, participant_id="mallory", role="subscriber")
    mallory = Client(base, token_m, carriage="codec", auto_subscribe=True)
    await py.connect()
    await mallory.connect()
    try:
        py.keep_frames = mallory.keep_frames = True
        await py.set_encryption_secret(SECRET)
        await mallory.set_encryption_secret(OTHER)
        source = CaptureSource.from_file(VP8_PCAP, kind="video", depacketize=vp8_strip)
        await py.publish("video", source=source)
        pages = [{"name": n, "url": await _page_url(harness, sid, n, SECRET)}
                 for n in ("alice", "bob")]
        until = ("const r = stats.remotes;"
                 "return !!r.python && r.python.framesDecoded >= 20 &&"
                 " r.python.e2ee === 'encryption_secret_match' &&"
                 " Object.values(r).filter((x) => x.framesDecoded >= 10).length >= 2;")
        driver = asyncio.create_task(run_driver(tools, {
            "pages": pages, "until": until, "until_pages": ["alice"], "min_seconds": 4,
            "max_seconds": 60, "screenshot": {"page": "alice", "path": str(SCREENSHOT)},
        }, timeout=100))
        # the client sends its capture (looped) while the pages run, bounded in time
        # statistics are kept per stream as last seen: a stream's counters go when it ends
        py_seen: dict[int, ReceiveStats] = {}
        mallory_seen: dict[int, ReceiveStats] = {}
        while not driver.done():
            await py.run_media(1.0, max_frames=20)
            py_seen.update(py.stats().received)
            mallory_seen.update(mallory.stats().received)
        out = driver.result()
    finally:
        await py.close()
        await mallory.close()
    assert out["errors"] == [], out["errors"]
    assert out["ok"], _why(out)
    alice = out["pages"]["alice"]
    assert "mallory" not in alice["remotes"]          # a subscriber publishes nothing
    r = alice["remotes"]["python"]
    assert r["framesDecoded"] >= 20 and r["frameWidth"] == 320 and r["frameHeight"] == 240
    assert alice["remotes"]["bob"]["framesDecoded"] >= 10
    # the Python client decrypted the pages' frames: real VP8 from Chromium's encoder
    got = [f for f in py.frames if f.publisher in ("alice", "bob") and f.kind == "video"]
    assert len(got) >= 20
    keyframes = [f.data for f in got if f.data[0] & 1 == 0]
    assert keyframes and all(k[3:6] == b"\x9d\x01\x2a" for k in keyframes)
    from_pages = [st for st in py_seen.values() if st.publisher in ("alice", "bob")]
    assert {st.kind for st in from_pages} == {"audio", "video"}
    assert all(st.frames_failed == 0 and st.frames_decoded > 0 for st in from_pages)
    # ... and with another secret nothing of theirs opens: one mismatch per publisher
    failed = [st for st in mallory_seen.values() if st.publisher in ("alice", "bob")]
    assert len(failed) == 4 and sum(st.frames_failed for st in failed) > 20
    assert sum(st.frames_decoded for st in failed) == 0 and mallory.frames == []
    assert sorted(e.data["participant_id"] for e in mallory.events_of(
        "encryption_secret_mismatch")) == ["alice", "bob", "python"]
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 10_000


async def test_join_and_secret_from_the_page_controls(harness: RouterHarness) -> None:
    """Bob uses the page's own controls: a wrong secret, Join, then the right secret. Both
    sides show the mismatch first and the match after the change, and decode each other."""
    tools = require_browser()
    sid = (await harness.create_session(media_mode="routed", e2ee=True))["session_id"]
    alice_url = await _page_url(harness, sid, "alice", SECRET)
    bob_token = await harness.token(sid, participant_id="bob", role="publisher")
    until = ("const peer = stats.participantId === 'alice' ? 'bob' : 'alice';"
             "const r = stats.remotes[peer];"
             "return !!r && r.framesDecoded >= 15 && r.e2ee === 'encryption_secret_match';")
    out = await run_driver(tools, {
        "pages": [{"name": "alice", "url": alice_url},
                  {"name": "bob", "url": str(harness.client.make_url("/"))}],
        "actions": [
            {"page": "bob", "at": 0.5, "fill": ["#secret", OTHER], "click": "#set-secret"},
            {"page": "bob", "at": 1.0, "fill": ["#token", bob_token], "click": "#join"},
            {"page": "bob", "at": 6.0, "fill": ["#secret", SECRET], "click": "#set-secret"},
        ],
        "until": until, "min_seconds": 9, "max_seconds": 60,
    }, timeout=100)
    assert out["errors"] == [], out["errors"]
    assert out["ok"], _why(out)
    alice, bob = out["pages"]["alice"], out["pages"]["bob"]

    def tile_states(stats: dict[str, Any], remote: str) -> list[str]:
        return [e["state"] for e in stats["events"]
                if e["type"] == "tile-state" and e["remote"] == remote]

    # bob's own secret: epoch 0 (wrong), then epoch 1 (right) after the button
    assert [e["epoch"] for e in bob["events"] if e["type"] == "secret-set"] == [0, 1]
    assert bob["secretState"] == "set"
    assert tile_states(bob, "alice") == ["encryption_secret_mismatch", "encryption_secret_match"]
    assert tile_states(alice, "bob") == ["encryption_secret_mismatch", "encryption_secret_match"]
    assert bob["remotes"]["alice"]["framesDecoded"] >= 15
    assert alice["remotes"]["bob"]["framesDecoded"] >= 15


async def test_session_without_e2ee_carries_clear_frames(harness: RouterHarness) -> None:
    """Without e2ee the page attaches no transform: the Python client gets Chromium's VP8
    frames as they are, and the page decodes the client's clear VP8."""
    tools = require_browser()
    sid = (await harness.create_session(media_mode="routed", e2ee=False))["session_id"]
    base = str(harness.client.make_url("")).rstrip("/")
    token = await harness.token(sid, participant_id="python", role="publisher")
    py = Client(base, token, carriage="codec", auto_subscribe=True)
    await py.connect()
    try:
        py.keep_frames = True
        source = CaptureSource.from_file(VP8_PCAP, kind="video", depacketize=vp8_strip)
        await py.publish("video", source=source)
        token_a = await harness.token(sid, participant_id="alice", role="publisher")
        until = "const r = stats.remotes.python; return !!r && r.framesDecoded >= 15;"
        driver = asyncio.create_task(run_driver(tools, {
            "pages": [{"name": "alice", "url": f"{base}/?token={quote(token_a)}"}],
            "until": until, "min_seconds": 3, "max_seconds": 60}, timeout=100))
        while not driver.done():
            await py.run_media(1.0, max_frames=20)
        out = driver.result()
    finally:
        await py.close()
    assert out["errors"] == [], out["errors"]
    assert out["ok"], _why(out)
    alice = out["pages"]["alice"]
    assert alice["e2ee"] is False and alice["workers"]["main"] == {}   # no transform ran
    assert alice["remotes"]["python"]["e2ee"] == "pending"             # no e2ee state at all
    video = [f.data for f in py.frames if f.publisher == "alice" and f.kind == "video"]
    assert len(video) >= 15
    keyframes = [f for f in video if f[0] & 1 == 0]
    assert keyframes and all(k[3:6] == b"\x9d\x01\x2a" for k in keyframes)
    assert int.from_bytes(keyframes[0][6:8], "little") & 0x3FFF == 320   # the capture size
