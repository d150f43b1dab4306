"""The router and the client library together, over real UDP and WebSockets on 127.0.0.1.

One real router (the control plane's aiohttp app with the real media plane, in process, on
ephemeral ports) and several :class:`rtpstack.client.Client` participants per test; real
libsrtp on each hop, real SFrame end to end. Loss is injected at the clients' sockets. Every
send loop is bounded (``run_media`` by seconds and frames, every wait by a timeout).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from router.auth import ApiCredentials, Role, mint_client_token
from router.config import PortRange, RouterConfig
from router.testing import RouterHarness
from rtpstack.client import (
    ACTIVE_SPEAKER,
    ENCRYPTION_SECRET_MATCH,
    ENCRYPTION_SECRET_MISMATCH,
    KEYFRAME_REQUESTED,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    STREAM_CREATED,
    AudioSource,
    Client,
    SignalingError,
    frame_label,
)
from rtpstack.client.wire import build_rtp

pytestmark = pytest.mark.timeout(60)

SECRET = "correct horse battery staple"
OTHER = "not the same secret at all"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Room:
    """A running router plus helpers to create sessions and connect clients."""

    def __init__(self, harness: RouterHarness) -> None:
        self.harness = harness
        self.clients: list[Client] = []

    @property
    def base_url(self) -> str:
        return str(self.harness.client.make_url("")).rstrip("/")

    def stats(self) -> Any:
        return self.harness.media.stats()

    async def session(self, *, e2ee: bool = True) -> str:
        data = await self.harness.create_session(media_mode="routed", e2ee=e2ee)
        return str(data["session_id"])

    async def client(self, session_id: str, name: str, secret: str | None = SECRET,
                     **kwargs: Any) -> Client:
        token = await self.harness.token(session_id, participant_id=name, role="publisher")
        c = Client(self.base_url, token, **kwargs)
        await c.connect()
        self.clients.append(c)
        if secret is not None and c.e2ee:
            await c.set_encryption_secret(secret)
        return c

    async def mesh(self, clients: list[Client], *, audio: bool = True,
                   video: bool = True) -> None:
        """Everyone publishes, then everyone subscribes to everyone else."""
        for c in clients:
            if audio:
                await c.publish("audio")
            if video:
                await c.publish("video", bitrate=400_000)
        per = int(audio) + int(video)
        for c in clients:
            assert await c.wait_for(lambda cl: len(cl.remote) >= per * (len(clients) - 1), 5.0)
            await c.subscribe_all()


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[Room]:
    media_mod = pytest.importorskip(
        "router.media", reason="the real media plane (router/media.py) is not in this tree")
    config = RouterConfig(port=0, media_ports=PortRange(*(2 * [_free_udp_port()])),
                          archive_dir=str(tmp_path / "archives"), log_level="warning")
    media = media_mod.create_media_plane(config)
    async with RouterHarness(config, media) as harness:
        r = Room(harness)
        try:
            yield r
        finally:
            for c in r.clients:
                await c.close()


def _from(c: Client, publisher: str, kind: str) -> tuple[int, int, int]:
    """(frames decoded, frames failed, packets) of what ``c`` received from ``publisher``."""
    dec = fail = pkts = 0
    for st in c.stats().received.values():
        if st.publisher == publisher and st.kind == kind:
            dec += st.frames_decoded
            fail += st.frames_failed
            pkts += st.packets
    return dec, fail, pkts


async def test_media_flows_both_ways_and_only_the_right_secret_decodes(room: Room) -> None:
    sid = await room.session(e2ee=True)
    alice = await room.client(sid, "alice")
    bob = await room.client(sid, "bob")
    eve = await room.client(sid, "eve", secret=OTHER)
    for c in (alice, bob, eve):
        c.keep_frames = True
    await room.mesh([alice, bob, eve])
    await asyncio.gather(*(c.run_media(1.5) for c in (alice, bob, eve)))
    await asyncio.sleep(0.3)
    for rx, tx in ((alice, bob), (bob, alice)):
        for kind, at_least in (("audio", 40), ("video", 25)):
            dec, fail, _ = _from(rx, tx.participant_id, kind)
            assert dec >= at_least and fail == 0, (rx.participant_id, tx.participant_id, kind)
    # frames arrive decrypted, in order, and are the publisher's own frames
    got = [frame_label(f.data) for f in alice.frames if f.publisher == "bob" and f.kind == "video"]
    assert got[:10] == list(range(10))
    # eve receives the same ciphertext and decodes none of it
    for name in ("alice", "bob"):
        for kind in ("audio", "video"):
            dec, fail, pkts = _from(eve, name, kind)
            assert dec == 0 and fail > 0 and pkts > 0
    mism = {e.get("participant_id") for e in eve.events_of(ENCRYPTION_SECRET_MISMATCH)}
    assert mism == {"alice", "bob"}
    assert {e.get("participant_id") for e in alice.events_of(ENCRYPTION_SECRET_MISMATCH)} == {"eve"}
    assert room.stats().packets_out > 0


async def test_mismatch_then_match_after_fixing_the_secret(room: Room) -> None:
    sid = await room.session(e2ee=True)
    alice = await room.client(sid, "alice")
    bob = await room.client(sid, "bob", secret=OTHER)
    await alice.publish("audio")
    await alice.publish("video", bitrate=200_000)
    assert await bob.wait_for(lambda c: len(c.remote) == 2, 5.0)
    await bob.subscribe_all()
    sending = asyncio.create_task(alice.run_media(2.0))
    ev = await bob.wait_event(ENCRYPTION_SECRET_MISMATCH, 2.0)
    assert ev is not None and ev.get("participant_id") == "alice"
    await bob.set_encryption_secret(SECRET)
    ev = await bob.wait_event(ENCRYPTION_SECRET_MATCH, 2.0)
    assert ev is not None and ev.get("participant_id") == "alice"
    await sending
    dec, fail, _ = _from(bob, "alice", "audio")
    assert dec > 10 and fail > 0


async def test_ssrc_hijack_is_dropped_and_counted(room: Room) -> None:
    sid = await room.session(e2ee=True)
    alice = await room.client(sid, "alice")
    bob = await room.client(sid, "bob")
    mallory = await room.client(sid, "mallory")
    track = await alice.publish("audio")
    await mallory.publish("audio")
    assert await bob.wait_for(lambda c: len(c.remote) == 2, 5.0)
    await bob.subscribe(track.stream_id)
    await alice.run_media(0.3)
    await asyncio.sleep(0.2)
    before = _from(bob, "alice", "audio")
    drops_before = dict(room.stats().drops)
    # mallory protects packets with her own (valid) hop key but alice's SSRC
    core = mallory.core
    assert core is not None
    forged = [core.protect_raw(build_rtp(111, True, 60000 + i, 1000 * i, track.ssrc,
                                         b"\x00forged"))
              for i in range(20)]
    mallory.send_raw(forged)
    await asyncio.sleep(0.3)
    drops = room.stats().drops
    assert drops.get("ssrc_hijack", 0) - drops_before.get("ssrc_hijack", 0) == 20
    assert _from(bob, "alice", "audio") == before  # nothing reached the subscriber


async def test_expired_forged_and_wrong_tokens_are_refused(room: Room) -> None:
    sid = await room.session(e2ee=True)
    cfg = room.harness.config
    creds = ApiCredentials(cfg.api_key, cfg.api_secret)
    expired, _ = mint_client_token(creds, session_id=sid, participant_id="late",
                                   role=Role.PUBLISHER, now=time.time() - 3600, ttl=60)
    forged, _ = mint_client_token(ApiCredentials(cfg.api_key, "not-the-api-secret"),
                                  session_id=sid, participant_id="forger",
                                  role=Role.PUBLISHER, now=time.time(), ttl=60)
    good = await room.harness.token(sid, participant_id="ok")
    head, payload, sig = good.split(".")
    tampered = ".".join((head, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), sig))
    for token in (expired, forged, tampered, "not-a-token"):
        c = Client(room.base_url, token)
        with pytest.raises(SignalingError) as info:
            await c.connect()
        assert info.value.status == 401 and info.value.code == "unauthorized"
    assert room.stats().packets_in == 0


async def test_nack_repairs_loss_between_router_and_subscriber(room: Room) -> None:
    sid = await room.session(e2ee=True)
    alice = await room.client(sid, "alice")
    dropped: set[bytes] = set()

    def lose_some(d: bytes) -> bool:  # every 15th RTP packet, once
        if (128 <= d[0] < 192 and not 192 <= d[1] <= 223 and d not in dropped
                and (d[2] << 8 | d[3]) % 15 == 0):
            dropped.add(d)
            return True
        return False

    bob = await room.client(sid, "bob", drop_incoming=lose_some)
    await alice.publish("video", bitrate=600_000)
    assert await bob.wait_for(lambda c: len(c.remote) == 1, 5.0)
    await bob.subscribe_all()
    await alice.run_media(1.5)
    await asyncio.sleep(0.5)
    (st,) = [s for s in bob.stats().received.values() if s.kind == "video"]
    assert len(dropped) >= 5
    assert st.nacks_sent > 0 and st.recovered >= len(dropped) - 1
    assert st.lost <= 1 and st.frames_failed == 0
    assert st.frames_decoded >= 40


async def test_nack_reaches_the_publisher_when_the_router_missed_the_packet(room: Room) -> None:
    sid = await room.session(e2ee=True)
    lost: list[int] = []
    count = [0]

    def lose_upstream(d: bytes) -> bool:  # drop the 25th and 47th media packet to the router
        if 192 <= d[1] <= 223:
            return False
        count[0] += 1
        if count[0] in (25, 47):
            lost.append(d[2] << 8 | d[3])
            return True
        return False

    alice = await room.client(sid, "alice", drop_outgoing=lose_upstream)
    bob = await room.client(sid, "bob")
    await alice.publish("video", bitrate=600_000)
    assert await bob.wait_for(lambda c: len(c.remote) == 1, 5.0)
    await bob.subscribe_all()
    await alice.run_media(1.0)
    await asyncio.sleep(0.5)
    (sent,) = alice.stats().sent.values()
    (st,) = bob.stats().received.values()
    assert len(lost) == 2
    assert sent.nacks_received > 0 and sent.retransmitted >= 2
    assert st.lost == 0 and st.recovered >= 2


async def test_pli_reaches_the_publisher_when_loss_is_not_repaired(room: Room) -> None:
    sid = await room.session(e2ee=True)
    alice = await room.client(sid, "alice")
    count = [0]

    def lose_burst(d: bytes) -> bool:  # a burst of 5 RTP packets after the first 30
        if 192 <= d[1] <= 223:
            return False
        count[0] += 1
        return 30 < count[0] <= 35

    bob = await room.client(sid, "bob", nack=False, drop_incoming=lose_burst)
    await alice.publish("video", bitrate=600_000)
    assert await bob.wait_for(lambda c: len(c.remote) == 1, 5.0)
    await bob.subscribe_all()
    await alice.run_media(1.5)
    await asyncio.sleep(0.3)
    (st,) = bob.stats().received.values()
    (sent,) = alice.stats().sent.values()
    assert st.plis_sent >= 1 and st.nacks_sent == 0
    assert sent.plis_received >= 1
    assert alice.events_of(KEYFRAME_REQUESTED)
    assert sent.keyframes >= 2  # frame 0, plus the one the PLI asked for (next periodic: 60)


async def test_unsubscribe_stops_the_stream(room: Room) -> None:
    sid = await room.session(e2ee=True)
    alice = await room.client(sid, "alice")
    bob = await room.client(sid, "bob")
    track = await alice.publish("audio")
    assert await bob.wait_for(lambda c: len(c.remote) == 1, 5.0)
    await bob.subscribe(track.stream_id)
    await alice.run_media(0.5)
    await asyncio.sleep(0.2)
    dec = _from(bob, "alice", "audio")[0]
    assert dec >= 15
    await bob.unsubscribe(track.stream_id)
    await alice.run_media(0.5)
    await asyncio.sleep(0.2)
    assert bob.stats().received == {}
    assert bob.stats().drops.get("unknown_ssrc", 0) <= 2  # in flight at most


async def test_participant_stream_and_active_speaker_events(room: Room) -> None:
    sid = await room.session(e2ee=True)
    alice = await room.client(sid, "alice")
    bob = await room.client(sid, "bob")
    joined = await alice.wait_event(PARTICIPANT_JOINED, 2.0)
    assert joined is not None and joined.get("participant", {}).get("participant_id") == "bob"
    await alice.publish("audio")  # talking: levels -20..-44 dBov
    await bob.publish("audio", source=AudioSource(talking=False))  # silence: 127
    created = await bob.wait_event(STREAM_CREATED, 2.0)
    assert created is not None and created.get("stream", {}).get("participant_id") == "alice"
    await asyncio.gather(alice.run_media(1.2), bob.run_media(1.2))
    for c in (alice, bob):
        ev = await c.wait_event(ACTIVE_SPEAKER, 1.0)
        assert ev is not None and ev.get("participant_id") == "alice", c.participant_id
    await bob.close()
    left = await alice.wait_event(PARTICIPANT_LEFT, 2.0)
    assert left is not None and left.get("participant_id") == "bob"


async def test_router_refusals_reach_the_client_as_signaling_errors(room: Room) -> None:
    sid = await room.session(e2ee=True)
    alice = await room.client(sid, "alice")
    with pytest.raises(SignalingError) as info:
        await alice.subscribe("no-such-stream")
    assert info.value.code and "no-such-stream" in info.value.message
    token = await room.harness.token(sid, participant_id="viewer", role="subscriber")
    viewer = Client(room.base_url, token)
    await viewer.connect()
    room.clients.append(viewer)
    with pytest.raises(SignalingError) as info:
        await viewer.publish("audio")
    assert info.value.code == "forbidden"
    with pytest.raises(ValueError, match="8 to 256 characters, got 5"):
        await alice.set_encryption_secret("short")


async def test_captured_frames_cross_the_router_byte_identical(room: Room) -> None:
    from rtpstack.client import CaptureSource
    from tests.conftest import PCAPS

    src = CaptureSource.from_file(PCAPS / "ffmpeg_vp8_pcmu.pcapng", kind="video")
    sid = await room.session(e2ee=True)
    alice = await room.client(sid, "alice")
    bob = await room.client(sid, "bob")
    bob.keep_frames = True
    track = await alice.publish("video", source=src)
    await bob.wait_for(lambda c: len(c.remote) == 1, 5.0)
    stream = await bob.subscribe(track.stream_id)
    sent = await alice.run_media(1.0)
    await asyncio.sleep(0.3)
    got = [f.data for f in bob.frames]
    assert sent >= 8 and len(got) == sent  # ~13 frames/s in this capture
    assert got == [src.frames[i].data for i in range(sent)]
    assert stream.clock_rate == 90_000


async def test_force_disconnect_reaches_the_client(room: Room) -> None:
    sid = await room.session(e2ee=True)
    alice = await room.client(sid, "alice")
    bob = await room.client(sid, "bob")
    status, _ = await room.harness.api("DELETE", f"/v1/sessions/{sid}/participants/bob")
    assert status == 204
    ev = await bob.wait_event("disconnected", 2.0)
    assert ev is not None and ev.get("reason") == "force_disconnect"
    left = await alice.wait_event(PARTICIPANT_LEFT, 2.0)
    assert left is not None and left.get("participant_id") == "bob"
    with pytest.raises(SignalingError, match="closed"):
        await bob.publish("audio")


async def test_auto_subscribe_receives_streams_published_later(room: Room) -> None:
    sid = await room.session(e2ee=True)
    bob = await room.client(sid, "bob", auto_subscribe=True)
    alice = await room.client(sid, "alice")
    await alice.publish("audio")
    assert await bob.wait_for(
        lambda c: any(s.subscription_id for s in c.remote.values()), 3.0)
    await alice.run_media(0.5)
    assert await bob.wait_for(lambda c: _from(c, "alice", "audio")[0] >= 15, 2.0)


async def test_archive_of_e2ee_session_is_refused(room: Room) -> None:
    sid = await room.session(e2ee=True)
    status, body = await room.harness.api("POST", f"/v1/sessions/{sid}/archives", {})
    assert status == 409
    assert "end-to-end encryption" in body["message"]


async def test_archive_of_clear_session_reads_back_with_zero_loss(room: Room) -> None:
    from rtpstack.capture import analyze_file

    sid = await room.session(e2ee=False)
    alice = await room.client(sid, "alice")
    bob = await room.client(sid, "bob")
    await room.mesh([alice, bob], audio=True, video=True)
    status, archive = await room.harness.api("POST", f"/v1/sessions/{sid}/archives", {})
    assert status == 201, archive
    await asyncio.gather(alice.run_media(1.0), bob.run_media(1.0))
    await asyncio.sleep(0.3)
    status, stopped = await room.harness.api(
        "POST", f"/v1/sessions/{sid}/archives/{archive['archive_id']}/stop")
    assert status == 200, stopped
    path = Path(stopped["path"])
    assert path.exists()
    result = analyze_file(path)
    sent = {s.ssrc: s.packets for c in (alice, bob) for s in c.stats().sent.values()}
    streams = [s for s in result.streams if s.packets > 0]
    assert len(streams) >= 4
    assert all(s.lost == 0 for s in streams)
    assert sum(s.packets for s in streams) >= sum(sent.values())


async def test_unreachable_router_is_a_clear_error() -> None:
    port = _free_udp_port()  # nothing listens on this TCP port (very likely)
    c = Client(f"http://127.0.0.1:{port}", "x.y.z")
    with pytest.raises(SignalingError) as info:
        await c.connect()
    assert info.value.code == "unreachable"
    assert f"127.0.0.1:{port}" in info.value.message


async def test_clients_take_their_sframe_sender_index_from_the_router(room: Room) -> None:
    """KIDs are unique per join: the router counts joins, a rejoin gets a new index."""
    sid = await room.session(e2ee=True)
    alice = await room.client(sid, "alice", secret=None)
    bob = await room.client(sid, "bob", secret=None)
    assert (alice.core.sender_index, bob.core.sender_index) == (1, 2)
    await bob.close()
    room.clients.remove(bob)
    bob_again = await room.client(sid, "bob", secret=None)
    assert bob_again.core.sender_index == 3
