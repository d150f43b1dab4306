"""WebSocket signaling: token checks, join/publish/subscribe flows, events, errors, relaying."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.auth import ApiCredentials, Role, make_api_token, mint_client_token
from router.config import RouterConfig
from router.mediaplane import ActiveSpeakerEvent, NullMediaPlane, TransportInfo
from router.testing import RouterHarness, SignalingClient

CREDS = ApiCredentials("key1", "secret1")


def track(
    ssrc: int, *, encrypted: object = True, kind: str = "audio", **extra: Any
) -> dict[str, Any]:
    """A publish ``track`` object."""
    codec = ({"name": "opus", "payload_type": 111, "clock_rate": 48000, "channels": 2}
             if kind == "audio" else {"name": "VP8", "payload_type": 96, "clock_rate": 90000})
    return {"kind": kind, "ssrcs": [ssrc], "encrypted": encrypted, "codec": codec,
            "header_extensions": {"1": "urn:ietf:params:rtp-hdrext:ssrc-audio-level"}, **extra}


@pytest.fixture
async def router() -> AsyncIterator[RouterHarness]:
    config = RouterConfig(port=0, api_key="key1", api_secret="secret1")
    async with RouterHarness(config, NullMediaPlane()) as harness:
        yield harness


def media_calls(router: RouterHarness) -> list[tuple[Any, ...]]:
    assert isinstance(router.media, NullMediaPlane)
    return router.media.calls


# --- connecting --------------------------------------------------------------------------------


async def _ws_status(router: RouterHarness, query: str) -> tuple[int, dict[str, Any]]:
    async with router.client.get(f"/ws{query}") as resp:
        return resp.status, await resp.json()


async def test_socket_refused_without_valid_token(router: RouterHarness) -> None:
    await router.create_session(session_id="s1")
    await router.create_session(session_id="s2")
    now = time.time()
    good, _ = mint_client_token(CREDS, session_id="s1", participant_id="a",
                                role=Role.PUBLISHER, now=now, ttl=60)
    forged, _ = mint_client_token(ApiCredentials("key1", "guess"), session_id="s1",
                                  participant_id="a", role=Role.PUBLISHER, now=now, ttl=60)
    expired, _ = mint_client_token(CREDS, session_id="s1", participant_id="a",
                                   role=Role.PUBLISHER, now=now - 3600, ttl=60)
    gone, _ = mint_client_token(CREDS, session_id="deleted", participant_id="a",
                                role=Role.PUBLISHER, now=now, ttl=60)
    cases = [
        ("", 401, "missing_token"),
        (f"?token={forged}", 401, "bad_signature"),
        (f"?token={expired}", 401, "token_expired"),
        (f"?token={good}&session=s2", 401, "wrong_session"),
        (f"?token={make_api_token(CREDS, now)}", 401, "wrong_token_type"),
        (f"?token={gone}", 404, "session_not_found"),
    ]
    for query, status, code in cases:
        got_status, body = await _ws_status(router, query)
        assert (got_status, body["error"]) == (status, code), query
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await router.client.ws_connect(f"/ws?token={forged}")
    assert info.value.status == 401
    sock = await router.connect(good, query="&session=s1")
    assert (await sock.request({"type": "join"}))["type"] == "joined"


async def test_join_answer_carries_transport_keys(router: RouterHarness) -> None:
    await router.create_session(session_id="s1", e2ee=True)
    alice = await router.join("s1", participant_id="alice")
    bob = await router.join("s1", participant_id="bob", role="subscriber")
    joined_a, joined_b = alice.joined, bob.joined
    assert (joined_a["participant_id"], joined_a["role"], joined_a["e2ee"]) == (
        "alice", "publisher", True)
    assert joined_b["participants"] == [
        {"participant_id": "alice", "role": "publisher", "data": "", "streams": []}]
    ta, tb = joined_a["transport"], joined_b["transport"]
    assert (ta["host"], ta["port"], ta["profile"]) == ("127.0.0.1", 40000, "AEAD_AES_128_GCM")
    keys = [base64.b64decode(t[k]) for t in (ta, tb) for k in ("client_key", "router_key")]
    assert all(len(k) == 28 for k in keys)  # 16-byte key || 12-byte salt
    assert len(set(keys)) == 4  # per hop and per direction
    assert ta["rtcp_ssrc"] != tb["rtcp_ssrc"]
    assert await alice.recv() == {
        "type": "participant_joined",
        "participant": {"participant_id": "bob", "role": "subscriber", "data": "",
                        "streams": []}}
    assert ("add_participant", "s1", "bob") in media_calls(router)


async def test_relayed_join_has_no_transport(router: RouterHarness) -> None:
    await router.create_session(session_id="p2p", media_mode="relayed")
    alice = await router.join("p2p", participant_id="alice")
    assert alice.joined["transport"] is None
    assert not any(c[0] == "add_participant" for c in media_calls(router))


async def test_publish_subscribe_flow_with_events(router: RouterHarness) -> None:
    await router.create_session(session_id="s1", e2ee=True)
    alice = await router.join("s1", participant_id="alice")
    bob = await router.join("s1", participant_id="bob", role="subscriber")
    carol = await router.join("s1", participant_id="carol")
    for _ in range(2):
        assert (await alice.recv())["type"] == "participant_joined"
    assert (await bob.recv())["type"] == "participant_joined"

    published = await alice.request(
        {"type": "publish", "id": 7, "track": track(
            1234, rtx_ssrcs=[1235], kind="video", name="cam",
            codec={"name": "VP8", "payload_type": 96, "clock_rate": 90000,
                   "rtx_payload_type": 97})})
    assert published["type"] == "published"
    assert published["id"] == 7
    stream = published["stream"]
    assert (stream["ssrcs"], stream["rtx_ssrcs"], stream["encrypted"], stream["kind"]) == (
        [1234], [1235], True, "video")
    for other in (bob, carol):
        assert await other.recv() == {"type": "stream_created", "stream": stream}

    subscribed = await bob.request({"type": "subscribe", "stream_id": stream["stream_id"]})
    assert subscribed["type"] == "subscribed"
    ssrc_map = {int(k): v for k, v in subscribed["ssrc_map"].items()}
    assert set(ssrc_map) == {1234, 1235}
    assert subscribed["ssrc"] == ssrc_map[1234]
    assert subscribed["stream"] == stream
    sub_id = subscribed["subscription_id"]
    assert ("add_subscription", "s1", sub_id, "bob", stream["stream_id"]) in media_calls(router)

    # a late joiner sees the existing stream in its join answer
    dave = await router.join("s1", participant_id="dave", role="subscriber")
    assert dave.joined["streams"] == [stream]

    unpublished = await alice.request({"type": "unpublish", "stream_id": stream["stream_id"]})
    assert unpublished == {"type": "unpublished", "stream_id": stream["stream_id"]}
    destroyed = {"type": "stream_destroyed", "stream_id": stream["stream_id"],
                 "participant_id": "alice"}
    assert await bob.wait_for("stream_destroyed") == destroyed
    assert await dave.recv() == destroyed
    names = [c[0] for c in media_calls(router)]
    assert names.index("remove_subscription") < names.index("remove_publication")
    # the subscription ended with the stream
    gone = await bob.request({"type": "unsubscribe", "subscription_id": sub_id})
    assert (gone["type"], gone["error"]) == ("error", "subscription_not_found")

    left = await carol.request({"type": "leave"})
    assert left == {"type": "left"}
    assert await carol.closed() == 1000
    assert await alice.wait_for("participant_left") == {
        "type": "participant_left", "participant_id": "carol", "reason": "left"}


async def test_unsubscribe_and_leave_remove_media_state(router: RouterHarness) -> None:
    await router.create_session(session_id="s1")
    alice = await router.join("s1", participant_id="alice")
    bob = await router.join("s1", participant_id="bob")
    stream = (await alice.request({"type": "publish", "track": track(1, encrypted=False)}))
    sid = stream["stream"]["stream_id"]
    first = await bob.wait_for("stream_created")
    assert first["stream"]["stream_id"] == sid
    sub = await bob.request({"type": "subscribe", "stream_id": sid})
    again = await bob.request({"type": "subscribe", "stream_id": sid})
    assert again["error"] == "already_subscribed"
    done = await bob.request({"type": "unsubscribe", "stream_id": sid})
    assert done == {"type": "unsubscribed", "subscription_id": sub["subscription_id"],
                    "stream_id": sid}
    assert ("remove_subscription", "s1", sub["subscription_id"]) in media_calls(router)
    await bob.request({"type": "subscribe", "stream_id": sid})
    await alice.close()  # dropping the socket is leaving
    assert await bob.wait_for("stream_destroyed") == {
        "type": "stream_destroyed", "stream_id": sid, "participant_id": "alice"}
    assert await bob.wait_for("participant_left") == {
        "type": "participant_left", "participant_id": "alice", "reason": "disconnected"}
    assert ("remove_participant", "s1", "alice") in media_calls(router)
    _, session = await router.api("GET", "/v1/sessions/s1")
    assert session["streams"] == []
    assert [p["participant_id"] for p in session["participants"]] == ["bob"]


async def test_e2ee_session_refuses_clear_tracks(router: RouterHarness) -> None:
    await router.create_session(session_id="s1", e2ee=True)
    alice = await router.join("s1", participant_id="alice")
    reply = await alice.request({"type": "publish", "id": "p1", "track": track(5, encrypted=False)})
    assert reply == {
        "type": "error", "id": "p1", "error": "encryption_required",
        "message": "this session is end-to-end encrypted: only tracks whose frames are "
                   "SFrame-encrypted (\"encrypted\": true) may be published"}
    assert not any(c[0] == "add_publication" for c in media_calls(router))
    assert (await alice.request({"type": "publish", "track": track(5)}))["type"] == "published"


async def test_role_checks(router: RouterHarness) -> None:
    await router.create_session(session_id="s1")
    viewer = await router.join("s1", participant_id="viewer", role="subscriber")
    alice = await router.join("s1", participant_id="alice")
    mod = await router.join("s1", participant_id="mod", role="moderator")
    reply = await viewer.request({"type": "publish", "track": track(9, encrypted=False)})
    assert (reply["error"], reply["message"]) == ("forbidden", "role 'subscriber' cannot publish")
    reply = await alice.request({"type": "disconnect", "participant_id": "viewer"})
    assert (reply["error"], reply["message"]) == (
        "forbidden", "only a moderator can disconnect participants")
    reply = await mod.request({"type": "disconnect", "participant_id": "viewer"})
    assert reply == {"type": "disconnected_participant", "participant_id": "viewer"}
    assert await viewer.wait_for("disconnected") == {"type": "disconnected",
                                                    "reason": "removed_by_moderator"}
    assert await viewer.closed() == 4003
    assert (await mod.request({"type": "publish", "track": track(10, encrypted=False)}))[
        "type"] == "published"


async def test_ssrc_owned_by_one_publication(router: RouterHarness) -> None:
    await router.create_session(session_id="s1")
    alice = await router.join("s1", participant_id="alice")
    mallory = await router.join("s1", participant_id="mallory")
    await alice.request({"type": "publish", "track": track(4242, encrypted=False)})
    await mallory.wait_for("stream_created")
    reply = await mallory.request({"type": "publish", "track": track(4242, encrypted=False)})
    assert (reply["error"], reply["message"]) == (
        "ssrc_in_use", "SSRC 4242 is already used in this session")
    rtcp_ssrc = alice.joined["transport"]["rtcp_ssrc"]
    reply = await mallory.request({"type": "publish",
                                   "track": track(rtcp_ssrc, encrypted=False)})
    assert reply["error"] == "ssrc_in_use"


@pytest.mark.parametrize(
    ("message", "code", "text"),
    [
        ("not json", "malformed", "message is not valid JSON"),
        ("[1, 2]", "malformed", "message must be a JSON object"),
        ('{"kind": "join"}', "malformed", "message has no 'type'"),
        ('{"type": "teleport"}', "unknown_type", "unknown message type 'teleport'"),
        ('{"type": "join", "id": [1]}', "malformed", "id must be a string or an integer"),
        ('{"type": "publish", "track": {}}', "not_joined", "'publish' before 'join': send join "
                                                           "first"),
        ('{"type": "leave"}', "not_joined", "'leave' before 'join': send join first"),
    ],
)
async def test_malformed_or_early_messages_get_errors(
    router: RouterHarness, message: str, code: str, text: str
) -> None:
    await router.create_session(session_id="s1")
    sock = await router.connect(await router.token("s1", participant_id="a"))
    await sock.ws.send_str(message)
    reply = await sock.recv()
    assert (reply["type"], reply["error"], reply["message"]) == ("error", code, text)
    # the socket still works, and the participant can still join
    assert (await sock.request({"type": "join"}))["type"] == "joined"


@pytest.mark.parametrize(
    ("msg", "code", "text"),
    [
        ({"type": "join"}, "already_joined", "already joined"),
        ({"type": "publish"}, "invalid_track", "track must be an object"),
        ({"type": "publish", "track": {"kind": "data"}}, "invalid_track",
         "track.kind must be 'audio' or 'video'"),
        ({"type": "publish", "track": {"kind": "audio", "ssrcs": []}}, "invalid_track",
         "track.ssrcs must list 1 to 8 SSRCs"),
        ({"type": "publish", "track": {"kind": "audio", "ssrcs": [-1]}}, "invalid_track",
         "track.ssrcs must be a list of integers from 0 to 4294967295"),
        ({"type": "publish", "track": {"kind": "audio", "ssrcs": [1, 1]}}, "invalid_track",
         "track SSRCs must all differ"),
        ({"type": "publish", "track": {"kind": "audio", "ssrcs": [1]}}, "invalid_track",
         "track.codec must be an object"),
        ({"type": "publish", "track": track(1, encrypted=False, codec={
            "name": "opus", "payload_type": 128, "clock_rate": 48000})}, "invalid_track",
         "track.codec.payload_type must be an integer from 0 to 127"),
        ({"type": "publish", "track": track(1, encrypted=False, header_extensions={"0": "x"})},
         "invalid_track", "track.header_extensions must map ids 1 to 255 to URIs"),
        ({"type": "publish", "track": track(1, encrypted="yes")}, "invalid_track",
         "track.encrypted must be true or false"),
        ({"type": "publish", "track": track(1, encrypted=False, rtx_ssrcs=[2])},
         "invalid_track", "track.codec.rtx_payload_type is needed with rtx_ssrcs"),
        ({"type": "subscribe", "stream_id": "T404"}, "stream_not_found",
         "no stream 'T404' in this session"),
        ({"type": "subscribe", "stream_id": 5}, "invalid_request", "stream_id must be a string"),
        ({"type": "unpublish", "stream_id": "T404"}, "stream_not_found",
         "no stream 'T404' in this session"),
        ({"type": "unsubscribe", "subscription_id": "U1"}, "subscription_not_found",
         "no subscription 'U1'"),
        ({"type": "offer", "to": "b", "sdp": "v=0"}, "routed_session",
         "'offer' is only relayed in relayed sessions; this one is routed"),
        ({"type": "disconnect", "participant_id": "x"}, "forbidden",
         "only a moderator can disconnect participants"),
    ],
)
async def test_bad_requests_after_join(
    router: RouterHarness, msg: dict[str, Any], code: str, text: str
) -> None:
    await router.create_session(session_id="s1")
    sock = await router.join("s1", participant_id="a")
    reply = await sock.request({**msg, "id": "r1"})
    assert reply == {"type": "error", "id": "r1", "error": code, "message": text}
    assert await sock.request({"type": "ping"}) == {"type": "pong"}


async def test_binary_and_own_stream(router: RouterHarness) -> None:
    await router.create_session(session_id="s1")
    sock = await router.join("s1", participant_id="a")
    await sock.ws.send_bytes(b"\x00\x01")
    reply = await sock.recv()
    assert (reply["error"], reply["message"]) == (
        "malformed", "binary messages are not accepted; send JSON text")
    own = await sock.request({"type": "publish", "track": track(3, encrypted=False)})
    reply = await sock.request({"type": "subscribe", "stream_id": own["stream"]["stream_id"]})
    assert (reply["error"], reply["message"]) == ("own_stream",
                                                  "cannot subscribe to your own stream")


async def test_one_socket_per_participant(router: RouterHarness) -> None:
    await router.create_session(session_id="s1")
    await router.join("s1", participant_id="a")
    twin = await router.connect(await router.token("s1", participant_id="a"))
    reply = await twin.request({"type": "join"})
    assert (reply["error"], reply["message"]) == ("already_joined",
                                                  "participant 'a' is already connected")


async def test_join_naming_another_session_is_refused(router: RouterHarness) -> None:
    await router.create_session(session_id="s1")
    sock = await router.connect(await router.token("s1", participant_id="a"))
    reply = await sock.request({"type": "join", "session_id": "s2"})
    assert (reply["error"], reply["message"]) == (
        "wrong_session", "token was minted for session 's1', not 's2'")


async def test_relayed_session_passes_offer_answer_candidate(router: RouterHarness) -> None:
    await router.create_session(session_id="p2p", media_mode="relayed")
    alice = await router.join("p2p", participant_id="alice")
    bob = await router.join("p2p", participant_id="bob")
    await alice.wait_for("participant_joined")
    await alice.send({"type": "offer", "to": "bob", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"})
    assert await bob.recv() == {"type": "offer", "from": "alice",
                                "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"}
    await bob.send({"type": "answer", "to": "alice", "sdp": "v=0\r\n"})
    assert await alice.recv() == {"type": "answer", "from": "bob", "sdp": "v=0\r\n"}
    await bob.send({"type": "candidate", "to": "alice", "candidate": "candidate:1 1 udp 1 "
                    "127.0.0.1 5000 typ host", "sdp_mid": "0"})
    assert await alice.recv() == {"type": "candidate", "from": "bob", "sdp_mid": "0",
                                  "candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host"}
    reply = await alice.request({"type": "offer", "to": "carol", "sdp": "v=0"})
    assert (reply["error"], reply["message"]) == ("participant_not_found",
                                                  "participant 'carol' is not connected")
    reply = await alice.request({"type": "offer", "sdp": "v=0"})
    assert reply["error"] == "invalid_request"
    reply = await alice.request({"type": "publish", "track": track(1, encrypted=False)})
    assert reply["error"] == "relayed_session"
    assert not any(c[0].startswith("add_") for c in media_calls(router))


async def test_active_speaker_reaches_everyone(router: RouterHarness) -> None:
    await router.create_session(session_id="s1")
    alice = await router.join("s1", participant_id="alice")
    bob = await router.join("s1", participant_id="bob")
    await alice.wait_for("participant_joined")
    media = router.media
    assert isinstance(media, NullMediaPlane)
    media.announce_speaker(ActiveSpeakerEvent("s1", "alice", "T1", 0.75))
    media.announce_speaker(ActiveSpeakerEvent("nosuch", "x", "T1", 0.75))  # ignored
    expected = {"type": "active_speaker", "participant_id": "alice", "stream_id": "T1",
                "level": 0.75}
    assert await alice.recv() == expected
    assert await bob.recv() == expected


async def test_shutdown_tells_every_client(router: RouterHarness) -> None:
    await router.create_session(session_id="s1")
    socks: list[SignalingClient] = [
        await router.join("s1", participant_id=f"p{i}") for i in range(3)]
    from router.app import HUB

    await router.app[HUB].shutdown(2.0)
    for sock in socks:
        assert await sock.wait_for("disconnected") == {"type": "disconnected",
                                                       "reason": "shutdown"}
        assert await sock.closed() == 1001
    async with router.client.get("/healthz") as resp:
        assert resp.status == 503
    status, body = await _ws_status(router, "?token=x")
    assert (status, body["error"]) == (503, "shutting_down")


# --- robustness: whatever arrives, an answer or an error, never a crash ------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(["kind", "ssrc", "ssrcs", "rtx_ssrcs", "codec",
                                     "header_extensions", "encrypted", "name"]),
                    _json_values, max_size=3),
    st.dictionaries(st.sampled_from(["name", "payload_type", "clock_rate", "channels",
                                     "rtx_payload_type", "fmtp"]), _json_values, max_size=2),
)
def test_parse_track_accepts_or_refuses_cleanly(
    changes: dict[str, Any], codec_changes: dict[str, Any]
) -> None:
    """A valid track with fields replaced by arbitrary JSON: a Publication or BadRequest."""
    from router.errors import BadRequest
    from router.sessions import parse_track

    track_json = track(5, rtx_ssrcs=[6], codec={"name": "VP8", "payload_type": 96,
                                                "clock_rate": 90000, "rtx_payload_type": 97})
    track_json["codec"].update(codec_changes)
    track_json.update(changes)
    try:
        pub = parse_track(track_json, stream_id="T1", participant_id="p")
    except BadRequest as exc:
        assert exc.code == "invalid_track"
        assert exc.message.startswith("track")
    else:
        assert pub.kind.value == track_json["kind"]
        assert 1 <= len(pub.ssrcs) <= 8
        assert pub.encrypted is track_json.get("encrypted", False)


async def test_random_messages_never_break_the_socket(router: RouterHarness) -> None:
    import json
    import random

    rng = random.Random(6)
    await router.create_session(session_id="fuzz")
    await router.create_session(session_id="fuzz-p2p", media_mode="relayed")
    peer = await router.join("fuzz", participant_id="peer")
    stream = await peer.request({"type": "publish", "track": track(77, encrypted=False)})
    socks = [await router.join("fuzz", participant_id="f1"),
             await router.join("fuzz-p2p", participant_id="f2", role="moderator")]
    kinds = ["join", "publish", "unpublish", "subscribe", "unsubscribe", "ping", "offer",
             "answer", "candidate", "disconnect", "bogus", None, 5]
    fields = ["track", "stream_id", "subscription_id", "to", "sdp", "participant_id",
              "session_id", "id"]
    values: list[Any] = [None, True, 0, -1, 2**33, 1.5, "", "peer", "f1", "T1", [], {}, [1],
                         {"kind": "video"}, stream["stream"]["stream_id"], track(78)]
    allowed = {"error", "joined", "published", "unpublished", "subscribed", "unsubscribed",
               "pong", "participant_joined", "participant_left", "stream_created",
               "stream_destroyed", "disconnected_participant", "offer", "answer", "candidate"}
    for i in range(300):
        sock = socks[i % 2]
        msg: dict[str, Any] = {"type": rng.choice(kinds)}
        for _ in range(rng.randrange(3)):
            msg[rng.choice(fields)] = rng.choice(values)
        if msg.get("type") == "disconnect":
            msg["participant_id"] = "nobody"
        msg["id"] = f"r{i}"
        await sock.send(msg)
        reply = await sock.request({"type": "ping"})  # everything before it was answered
        assert reply == {"type": "pong"}
    for sock in socks:
        while True:
            try:
                got = await sock.recv(timeout=0.05)
            except TimeoutError:
                break
            assert got["type"] in allowed, got
            assert got.get("error") not in ("internal_error", "media_plane_error"), got
    assert json.dumps(await socks[0].request({"type": "ping"})) == '{"type": "pong"}'


class _SlowJoinMedia(NullMediaPlane):
    """A media plane whose add_participant waits until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def add_participant(self, session_id: str, participant_id: str) -> TransportInfo:
        self.entered.set()
        await asyncio.wait_for(self.release.wait(), 5)
        return await super().add_participant(session_id, participant_id)


async def test_session_deleted_during_join() -> None:
    media = _SlowJoinMedia()
    async with RouterHarness(RouterConfig(port=0), media) as router:
        await router.create_session(session_id="s1")
        sock = await router.connect(await router.token("s1", participant_id="late"))
        await sock.send({"type": "join", "id": "j"})
        await asyncio.wait_for(media.entered.wait(), 5)
        status, _ = await router.api("DELETE", "/v1/sessions/s1")
        assert status == 204
        media.release.set()
        assert await sock.recv() == {"type": "disconnected", "reason": "session_deleted"}
        assert await sock.closed() == 4004
        for _ in range(100):  # the join finishes after the socket closed; bounded wait
            if ("remove_participant", "s1", "late") in media.calls:
                break
            await asyncio.sleep(0.01)
        names = [c[0] for c in media.calls if c[0].endswith("_participant")]
        assert names == ["add_participant", "remove_participant"]
        assert media.participants == {}
        status, _ = await router.api("GET", "/v1/sessions/s1")
        assert status == 404


def test_sender_index_is_unique_per_join_and_never_reused() -> None:
    """Every join, rejoins included, gets a fresh sender index (SFrame KIDs depend on it)."""
    from router.sessions import Role, SessionRegistry

    reg = SessionRegistry()
    session = reg.create_session(now=0.0, media_mode="routed", e2ee=True)
    sid = session.session_id
    seen = []
    for name in ("alice", "bob", "carol"):
        seen.append(reg.join(sid, name, Role.PUBLISHER, now=1.0).sender_index)
    reg.leave(sid, "bob")
    seen.append(reg.join(sid, "bob", Role.PUBLISHER, now=2.0).sender_index)
    assert seen == [1, 2, 3, 4]
