"""Server API: HS256 JWT auth, sessions, client tokens, force-disconnect, archive/broadcast/SIP.

Runs the real aiohttp app on 127.0.0.1 with the NullMediaPlane (which records what the control
plane asks of the media plane).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from router.auth import (
    ApiCredentials,
    Role,
    decode_jwt,
    encode_jwt,
    make_api_token,
    mint_client_token,
    verify_api_token,
    verify_client_token,
)
from router.config import RouterConfig
from router.errors import Unauthorized
from router.mediaplane import MediaStats, NullMediaPlane
from router.testing import RouterHarness

CREDS = ApiCredentials("key1", "secret1")
NOW = 1_800_000_000.0

AUDIO = {
    "kind": "audio", "ssrcs": [1111], "encrypted": False,
    "codec": {"name": "opus", "payload_type": 111, "clock_rate": 48000, "channels": 2},
    "header_extensions": {"1": "urn:ietf:params:rtp-hdrext:ssrc-audio-level"},
}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hand_made_jwt(header: dict[str, Any], claims: dict[str, Any], secret: str) -> str:
    """A JWT built here from RFC 7519/7515 directly, independently of router.auth."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


# --- JWT and tokens (pure) ---------------------------------------------------------------------


def test_accepts_independently_built_hs256_token() -> None:
    token = _hand_made_jwt({"alg": "HS256", "typ": "JWT"},
                           {"iss": "key1", "iat": int(NOW), "exp": int(NOW) + 60}, "secret1")
    verify_api_token(token, CREDS, NOW, 30)  # no exception


def test_our_tokens_verify_with_plain_hmac() -> None:
    token = encode_jwt({"a": 1}, "secret1")
    head, payload, sig = token.split(".")
    expected = hmac.new(b"secret1", f"{head}.{payload}".encode(), hashlib.sha256).digest()
    assert sig == _b64(expected)
    assert json.loads(base64.urlsafe_b64decode(head + "==")) == {"alg": "HS256", "typ": "JWT"}
    assert decode_jwt(token, "secret1") == {"a": 1}


def _api_claims(**over: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": "key1", "iat": int(NOW), "exp": int(NOW) + 60}
    claims.update(over)
    return claims


@pytest.mark.parametrize(
    ("token", "code", "message"),
    [
        (_hand_made_jwt({"alg": "HS256"}, _api_claims(), "other-secret"), "bad_signature",
         "token signature does not verify"),
        (_hand_made_jwt({"alg": "none"}, _api_claims(), "secret1"), "bad_algorithm",
         "token algorithm 'none' is not accepted (only HS256)"),
        (_hand_made_jwt({"alg": "HS512"}, _api_claims(), "secret1"), "bad_algorithm",
         "token algorithm 'HS512' is not accepted (only HS256)"),
        (_hand_made_jwt({"alg": "HS256"}, _api_claims(iss="key2"), "secret1"), "bad_issuer",
         "token issuer is not this project's API key"),
        (_hand_made_jwt({"alg": "HS256"}, _api_claims(exp=int(NOW) - 31), "secret1"),
         "token_expired", "token has expired"),
        (_hand_made_jwt({"alg": "HS256"}, _api_claims(iat=int(NOW) + 31, exp=int(NOW) + 90),
                        "secret1"),
         "token_not_yet_valid", "token is issued in the future (check the clock)"),
        (_hand_made_jwt({"alg": "HS256"}, _api_claims(exp=int(NOW) + 7200), "secret1"),
         "invalid_token", "API token lifetime exceeds 3600 seconds"),
        (_hand_made_jwt({"alg": "HS256"}, {"iss": "key1", "exp": int(NOW) + 5}, "secret1"),
         "invalid_token", "token has no numeric 'iat' claim"),
        (_hand_made_jwt({"alg": "HS256"}, _api_claims(typ="client"), "secret1"),
         "wrong_token_type", "a client token cannot call the server API"),
        ("abc.def", "invalid_token", "token is not a JWT (expected three dot-separated parts)"),
        ("a!.b.c", "invalid_token", "token is not a JWT (bad base64url or JSON)"),
    ],
)
def test_api_token_refusals(token: str, code: str, message: str) -> None:
    with pytest.raises(Unauthorized) as info:
        verify_api_token(token, CREDS, NOW, 30)
    assert (info.value.code, str(info.value)) == (code, message)
    assert info.value.status == 401


def test_clock_skew_tolerance() -> None:
    claims = _api_claims(iat=int(NOW) - 60, exp=int(NOW) - 29)
    just_expired = _hand_made_jwt({"alg": "HS256"}, claims, "secret1")
    verify_api_token(just_expired, CREDS, NOW, 30)
    with pytest.raises(Unauthorized, match="expired"):
        verify_api_token(just_expired, CREDS, NOW, 0)


def test_tampered_payload_is_refused() -> None:
    token = make_api_token(CREDS, NOW)
    head, _, sig = token.split(".")
    forged = _b64(json.dumps(_api_claims(iss="key1", exp=int(NOW) + 3000)).encode())
    with pytest.raises(Unauthorized) as info:
        verify_api_token(f"{head}.{forged}.{sig}", CREDS, NOW, 30)
    assert info.value.code == "bad_signature"


def test_client_token_round_trip_and_refusals() -> None:
    token, claims = mint_client_token(CREDS, session_id="S1", participant_id="alice",
                                      role=Role.SUBSCRIBER, now=NOW, ttl=600, data="seat=4")
    got = verify_client_token(token, CREDS, NOW + 10, 30, session_id="S1")
    assert got == claims
    assert (got.role, got.data, got.expires_at) == (Role.SUBSCRIBER, "seat=4", int(NOW) + 600)
    with pytest.raises(Unauthorized) as info:
        verify_client_token(token, CREDS, NOW, 30, session_id="S2")
    assert (info.value.code, str(info.value)) == (
        "wrong_session", "token was minted for session 'S1', not 'S2'")
    with pytest.raises(Unauthorized) as info:
        verify_client_token(token, CREDS, NOW + 631, 30)
    assert info.value.code == "token_expired"
    with pytest.raises(Unauthorized) as info:
        verify_client_token(token, ApiCredentials("key1", "other"), NOW, 30)
    assert info.value.code == "bad_signature"
    with pytest.raises(Unauthorized) as info:  # an API token is no client token
        verify_client_token(make_api_token(CREDS, NOW), CREDS, NOW, 30)
    assert info.value.code == "wrong_token_type"
    with pytest.raises(Unauthorized) as info:  # and a client token calls no API
        verify_api_token(token, CREDS, NOW, 30)
    assert info.value.code == "wrong_token_type"


def test_forged_role_escalation_is_refused() -> None:
    token, _ = mint_client_token(CREDS, session_id="S1", participant_id="eve",
                                 role=Role.SUBSCRIBER, now=NOW, ttl=600)
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "moderator"
    forged = f"{head}.{_b64(json.dumps(claims).encode())}.{sig}"
    with pytest.raises(Unauthorized) as info:
        verify_client_token(forged, CREDS, NOW, 30)
    assert info.value.code == "bad_signature"


# --- the HTTP API ------------------------------------------------------------------------------


def calls(router: RouterHarness) -> list[tuple[Any, ...]]:
    """What the control plane asked of the (null) media plane, in order."""
    assert isinstance(router.media, NullMediaPlane)
    return router.media.calls


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[RouterHarness]:
    config = RouterConfig(port=0, api_key="key1", api_secret="secret1",
                          archive_dir=str(tmp_path / "archives"))
    async with RouterHarness(config, NullMediaPlane()) as harness:
        yield harness


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"Authorization": "Basic a2V5MTpzZWNyZXQx"}, "missing_token"),
        ({"Authorization": "Bearer not-a-jwt"}, "invalid_token"),
        ({"Authorization": "Bearer " + make_api_token(ApiCredentials("key1", "wrong"), NOW)},
         "bad_signature"),
        ({"Authorization": "Bearer " + make_api_token(CREDS, 1_000_000_000)}, "token_expired"),
    ],
)
async def test_api_requires_a_valid_jwt(
    router: RouterHarness, headers: dict[str, str], code: str
) -> None:
    status, body = await router.api("GET", "/v1/sessions", headers=headers)
    assert status == 401
    assert body["error"] == code
    assert body["message"]


async def test_session_create_get_list_delete(router: RouterHarness) -> None:
    created = await router.create_session(media_mode="routed", e2ee=True, session_id="room-1")
    assert created["session_id"] == "room-1"
    assert (created["media_mode"], created["e2ee"], created["participants"]) == (
        "routed", True, [])
    status, got = await router.api("GET", "/v1/sessions/room-1")
    assert status == 200
    assert got["session_id"] == "room-1"
    second = await router.create_session(media_mode="relayed")
    assert second["e2ee"] is False
    status, listed = await router.api("GET", "/v1/sessions")
    assert {s["session_id"] for s in listed["sessions"]} == {"room-1", second["session_id"]}
    assert ("add_session", "room-1", True) in calls(router)
    # relayed sessions never reach the media plane
    assert all(c[1] != second["session_id"] for c in calls(router)[1:])
    status, _ = await router.api("DELETE", "/v1/sessions/room-1")
    assert status == 204
    assert ("remove_session", "room-1") in calls(router)
    status, body = await router.api("GET", "/v1/sessions/room-1")
    assert (status, body["error"]) == (404, "session_not_found")
    status, body = await router.api("DELETE", "/v1/sessions/room-1")
    assert status == 404


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"media_mode": "relayed", "e2ee": True}, 400, "e2ee_requires_routed",
         "end-to-end encryption needs media_mode 'routed': in a relayed session media goes "
         "peer to peer and the router cannot apply the session's e2ee rules"),
        ({"media_mode": "mesh"}, 400, "invalid_request",
         "media_mode must be 'routed' or 'relayed'"),
        ({"e2ee": "yes"}, 400, "invalid_request", "e2ee must be true or false"),
        ({"session_id": "bad id!"}, 400, "invalid_id",
         "session id must be 1 to 64 characters of A-Z a-z 0-9 _ -"),
        ([1, 2], 400, "invalid_json", "request body must be a JSON object"),
    ],
)
async def test_session_create_refusals(
    router: RouterHarness, body: Any, status: int, code: str, message: str
) -> None:
    got_status, got = await router.api("POST", "/v1/sessions", body)
    assert (got_status, got) == (status, {"error": code, "message": message})
    _, listed = await router.api("GET", "/v1/sessions")
    assert listed["sessions"] == []


async def test_duplicate_session_and_bad_json(router: RouterHarness) -> None:
    await router.create_session(session_id="dup")
    status, body = await router.api("POST", "/v1/sessions", {"session_id": "dup"})
    assert (status, body["error"]) == (409, "session_exists")
    async with router.client.post("/v1/sessions", data=b"{nope",
                                  headers={**router.api_headers(),
                                           "Content-Type": "application/json"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_json"


async def test_e2ee_required_by_config(tmp_path: Path) -> None:
    config = RouterConfig(port=0, e2ee_require=True, e2ee_default=True)
    async with RouterHarness(config) as router:
        assert (await router.create_session())["e2ee"] is True
        status, body = await router.api("POST", "/v1/sessions", {"e2ee": False})
        assert (status, body["error"]) == (400, "e2ee_required")


async def test_unknown_route_is_a_json_error(router: RouterHarness) -> None:
    status, body = await router.api("GET", "/v1/nothing/here")
    assert status == 404
    assert body["error"] == "not_found"
    status, body = await router.api("PUT", "/v1/sessions")
    assert status == 405
    assert body["error"] == "method_not_allowed"


async def test_mint_client_token(router: RouterHarness) -> None:
    await router.create_session(session_id="s1")
    status, body = await router.api("POST", "/v1/sessions/s1/tokens",
                                    {"role": "subscriber", "participant_id": "bob",
                                     "ttl": 120, "data": "name=Bob"})
    assert status == 201
    claims = verify_client_token(body["token"], CREDS, router.clock(), 0, session_id="s1")
    assert (claims.participant_id, claims.role, claims.data) == ("bob", Role.SUBSCRIBER,
                                                                 "name=Bob")
    assert body["expires_at"] == claims.expires_at == claims.issued_at + 120
    assert body["ws_url"].endswith("/ws?token=" + body["token"])
    status, body = await router.api("POST", "/v1/sessions/s1/tokens", {})
    assert status == 201
    assert body["role"] == "publisher"
    assert body["participant_id"].startswith("P")


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/v1/sessions/nope/tokens", {}, 404, "session_not_found"),
        ("/v1/sessions/s1/tokens", {"role": "admin"}, 400, "invalid_request"),
        ("/v1/sessions/s1/tokens", {"ttl": 86401}, 400, "invalid_request"),
        ("/v1/sessions/s1/tokens", {"ttl": 0}, 400, "invalid_request"),
        ("/v1/sessions/s1/tokens", {"participant_id": "a b"}, 400, "invalid_id"),
        ("/v1/sessions/s1/tokens", {"data": "x" * 1001}, 400, "invalid_request"),
    ],
)
async def test_mint_client_token_refusals(
    router: RouterHarness, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    await router.create_session(session_id="s1")
    got_status, got = await router.api("POST", path, body)
    assert (got_status, got["error"]) == (status, code)


@pytest.mark.parametrize(
    ("feature", "name"), [("archives", "archiving"), ("broadcasts", "broadcast"), ("sip", "SIP")]
)
async def test_clear_media_features_refused_in_e2ee_sessions(
    router: RouterHarness, feature: str, name: str
) -> None:
    await router.create_session(session_id="secret", e2ee=True)
    status, body = await router.api("POST", f"/v1/sessions/secret/{feature}", {})
    assert status == 409
    assert body == {
        "error": "e2ee_session",
        "message": f"{name} is not possible with end-to-end encryption: this session's media "
                   "reaches the router only as ciphertext it cannot decrypt",
    }
    assert not any(c[0] == "start_recording" for c in calls(router))


@pytest.mark.parametrize(("feature", "name"), [("broadcasts", "broadcast"), ("sip", "SIP")])
async def test_broadcast_and_sip_not_supported(
    router: RouterHarness, feature: str, name: str
) -> None:
    await router.create_session(session_id="open")
    status, body = await router.api("POST", f"/v1/sessions/open/{feature}", {})
    assert (status, body) == (501, {"error": "not_supported",
                                     "message": f"{name} is not supported by this router"})


async def test_archive_start_stop_calls_the_recorder(router: RouterHarness) -> None:
    await router.create_session(session_id="open")
    status, body = await router.api("POST", "/v1/sessions/open/archives", {})
    assert (status, body["error"]) == (400, "no_streams")
    alice = await router.join("open", participant_id="alice")
    published = await alice.request({"type": "publish", "track": AUDIO})
    stream_id = published["stream"]["stream_id"]
    status, body = await router.api("POST", "/v1/sessions/open/archives",
                                    {"streams": ["nope"]})
    assert (status, body["error"]) == (404, "stream_not_found")
    status, archive = await router.api("POST", "/v1/sessions/open/archives",
                                       {"streams": [stream_id]})
    assert status == 201
    assert (archive["streams"], archive["status"]) == ([stream_id], "recording")
    aid = archive["archive_id"]
    assert archive["path"].endswith(f"open-{aid}.pcapng")
    assert Path(archive["path"]).parent.is_dir()
    recorded = calls(router)
    assert ("start_recording", "open", aid, (stream_id,), archive["path"]) in recorded
    status, stopped = await router.api("POST", f"/v1/sessions/open/archives/{aid}/stop")
    assert (status, stopped["status"]) == (200, "stopped")
    assert ("stop_recording", "open", aid) in recorded
    status, body = await router.api("POST", f"/v1/sessions/open/archives/{aid}/stop")
    assert (status, body["error"]) == (409, "archive_stopped")
    status, body = await router.api("GET", f"/v1/sessions/open/archives/{aid}")
    assert (status, body["status"]) == (200, "stopped")


async def test_archive_refused_in_relayed_session(router: RouterHarness) -> None:
    await router.create_session(session_id="p2p", media_mode="relayed")
    status, body = await router.api("POST", "/v1/sessions/p2p/archives", {})
    assert (status, body["error"]) == (409, "relayed_session")


async def test_force_disconnect(router: RouterHarness) -> None:
    await router.create_session(session_id="s1")
    alice = await router.join("s1", participant_id="alice")
    bob = await router.join("s1", participant_id="bob")
    assert (await alice.recv())["type"] == "participant_joined"
    status, _ = await router.api("DELETE", "/v1/sessions/s1/participants/bob")
    assert status == 204
    assert await bob.recv() == {"type": "disconnected", "reason": "force_disconnect"}
    assert await bob.closed() == 4003
    left = await alice.recv()
    assert left == {"type": "participant_left", "participant_id": "bob",
                    "reason": "force_disconnect"}
    _, session = await router.api("GET", "/v1/sessions/s1")
    assert [p["participant_id"] for p in session["participants"]] == ["alice"]
    status, body = await router.api("DELETE", "/v1/sessions/s1/participants/bob")
    assert (status, body["error"]) == (404, "participant_not_found")


async def test_delete_session_disconnects_everyone(router: RouterHarness) -> None:
    await router.create_session(session_id="s1")
    alice = await router.join("s1", participant_id="alice")
    await alice.request({"type": "publish", "track": AUDIO})
    status, _ = await router.api("DELETE", "/v1/sessions/s1")
    assert status == 204
    assert await alice.recv() == {"type": "disconnected", "reason": "session_deleted"}
    assert await alice.closed() == 4004
    names = [c[0] for c in calls(router)]
    assert names.index("remove_publication") < names.index("remove_participant") < \
        names.index("remove_session")


async def test_metrics_and_health(router: RouterHarness) -> None:
    media = router.media
    assert isinstance(media, NullMediaPlane)
    media.counters = MediaStats(packets_in=10, packets_out=25, bytes_in=1000, bytes_out=2500,
                                srtp_failures=3, drops={"ssrc_hijack": 2, "srtp_auth_failed": 3})
    await router.create_session(session_id="s1")
    await router.join("s1", participant_id="alice")
    async with router.client.get("/metrics") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines()
                   if line and not line.startswith("#"))
    assert samples == {
        "rtp_router_sessions": "1",
        "rtp_router_participants": "1",
        "rtp_router_streams": "0",
        "rtp_router_websockets": "1",
        "rtp_router_archives_active": "0",
        "rtp_router_packets_in_total": "10",
        "rtp_router_packets_out_total": "25",
        "rtp_router_bytes_in_total": "1000",
        "rtp_router_bytes_out_total": "2500",
        'rtp_router_drops_total{reason="srtp_auth_failed"}': "3",
        'rtp_router_drops_total{reason="ssrc_hijack"}': "2",
        "rtp_router_srtp_failures_total": "3",
    }
    assert "# TYPE rtp_router_packets_in_total counter" in text
    assert "# TYPE rtp_router_sessions gauge" in text
    media.counters = MediaStats(fast_path={"fast": 7, "slow": 2})
    async with router.client.get("/metrics") as resp:
        text = await resp.text()
    assert 'rtp_router_fastpath_datagrams_total{path="fast"} 7' in text.splitlines()
    assert 'rtp_router_fastpath_datagrams_total{path="slow"} 2' in text.splitlines()
    async with router.client.get("/healthz") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "ok"
