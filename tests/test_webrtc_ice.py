"""ICE-lite agent and the WebRTC transport, sans-IO: checks, nomination, DTLS, keys in the core."""

from __future__ import annotations

import os

import pytest

from router.forwarding.core import AddressBound, ForwardingCore
from router.webrtc.ice import IceCredentials, IceLiteAgent
from router.webrtc.transport import WebRtcTransport
from rtpstack.io.dtls import DtlsCertificate, DtlsEndpoint
from rtpstack.stun import (
    ATTR_ERROR_CODE,
    ATTR_PRIORITY,
    ATTR_USE_CANDIDATE,
    ATTR_USERNAME,
    BINDING,
    CLASS_ERROR,
    CLASS_INDICATION,
    CLASS_REQUEST,
    CLASS_SUCCESS,
    StunMessage,
    check_fingerprint,
    check_integrity,
    decode_error_code,
)

LOCAL = IceCredentials("rtrU", "routerpassword0123456789")
REMOTE_UFRAG = "cli1"
A = ("127.0.0.1", 50000)
B = ("127.0.0.1", 50002)


def check(username: str = f"{LOCAL.ufrag}:{REMOTE_UFRAG}", pwd: str = LOCAL.pwd, *,
          nominate: bool = False, cls: int = CLASS_REQUEST,
          fingerprint: bool = True) -> bytes:
    attrs: list[tuple[int, bytes]] = [(ATTR_USERNAME, username.encode()),
                                      (ATTR_PRIORITY, (1853824767).to_bytes(4, "big")),
                                      (0x802A, os.urandom(8))]
    if nominate:
        attrs.append((ATTR_USE_CANDIDATE, b""))
    return StunMessage(BINDING, cls, os.urandom(12), tuple(attrs)).encode(
        pwd.encode(), fingerprint=fingerprint)


def test_valid_check_gets_an_authenticated_success_response() -> None:
    agent = IceLiteAgent(LOCAL, REMOTE_UFRAG)
    req = check()
    result = agent.handle(StunMessage.parse(req), req, A, 1.0)
    assert result.valid and not result.nominated and result.response is not None
    resp = StunMessage.parse(result.response)
    assert (resp.method, resp.cls) == (BINDING, CLASS_SUCCESS)
    assert resp.transaction_id == StunMessage.parse(req).transaction_id
    assert resp.xor_mapped_address == A
    assert check_integrity(result.response, LOCAL.pwd.encode())
    assert check_fingerprint(result.response)
    assert agent.valid == {A: 1.0} and agent.nominated is None and agent.selected == A


@pytest.mark.parametrize(
    ("request_bytes", "code", "why"),
    [
        (check(pwd="not the router's password"), 401, "bad integrity"),
        (check(username=f"someone:{REMOTE_UFRAG}"), 401, "wrong username"),
        (check(username=f"{LOCAL.ufrag}:other"), 401, "wrong username"),
        (StunMessage(BINDING, CLASS_REQUEST, bytes(12), ((ATTR_PRIORITY, bytes(4)),)).encode(
            LOCAL.pwd.encode()), 400, "missing credentials"),
        (StunMessage(BINDING, CLASS_REQUEST, bytes(12),
                     ((ATTR_USERNAME, f"{LOCAL.ufrag}:{REMOTE_UFRAG}".encode()),)).encode(),
         400, "missing credentials"),
    ],
)
def test_refused_checks_get_error_responses(request_bytes: bytes, code: int, why: str) -> None:
    agent = IceLiteAgent(LOCAL, REMOTE_UFRAG)
    result = agent.handle(StunMessage.parse(request_bytes), request_bytes, A, 1.0)
    assert not result.valid and result.error == why
    assert result.response is not None
    resp = StunMessage.parse(result.response)
    assert resp.cls == CLASS_ERROR
    err = resp.get(ATTR_ERROR_CODE)
    assert err is not None and decode_error_code(err)[0] == code
    assert agent.valid == {} and agent.refused == 1


def test_bad_fingerprint_and_indications_are_dropped_silently() -> None:
    agent = IceLiteAgent(LOCAL, REMOTE_UFRAG)
    bad = bytearray(check())
    bad[-1] ^= 0xFF
    r1 = agent.handle(StunMessage.parse(bytes(bad)), bytes(bad), A, 1.0)
    assert r1.response is None and r1.error == "bad fingerprint"
    ind = check(cls=CLASS_INDICATION)
    r2 = agent.handle(StunMessage.parse(ind), ind, A, 1.0)
    assert r2.response is None and not r2.valid
    assert agent.valid == {}


def test_use_candidate_nominates_and_a_moving_client_is_followed() -> None:
    agent = IceLiteAgent(LOCAL, None)  # remote ufrag unknown: any is accepted
    a = check()
    agent.handle(StunMessage.parse(a), a, A, 1.0)
    assert agent.nominated is None
    n = check(nominate=True)
    res = agent.handle(StunMessage.parse(n), n, A, 2.0)
    assert res.nominated and agent.nominated == A
    moved = check(nominate=True)
    agent.handle(StunMessage.parse(moved), moved, B, 3.0)
    assert agent.nominated == B and agent.selected == B
    assert agent.last_check() == 3.0


def _transport() -> tuple[ForwardingCore, WebRtcTransport, DtlsCertificate]:
    core = ForwardingCore()
    core.add_participant("p1")
    client_cert = DtlsCertificate.generate()
    t = WebRtcTransport(core)
    t.add_peer("p1", LOCAL, remote_ufrag=REMOTE_UFRAG,
               remote_fingerprint=client_cert.sdp_fingerprint)
    return core, t, client_cert


def test_dtls_before_nomination_keys_the_core_and_nomination_rebinds() -> None:
    core, t, client_cert = _transport()
    assert core.participants["p1"].any_rtcp_sender
    old_keys = core.participants["p1"].keys
    # DTLS from an address no check came from is dropped.
    client = DtlsEndpoint(client_cert, server=False, remote_fingerprint=t.fingerprint)
    hello = client.start(0.0)
    assert t.handle_datagram(hello[0], A, 0.0) == []
    assert t.counters["dtls_unknown_address"] == 1
    assert core.drops.snapshot()["not_rtp"] == 1
    # A first (non-nominating) check validates A and binds it in the core.
    out = t.handle_datagram(check(), A, 0.1)
    assert len(out) == 1 and out[0][1] == A
    assert core.participants["p1"].addr == A
    assert [e for e in core.pop_events() if isinstance(e, AddressBound)] == [
        AddressBound("p1", A)]
    # DTLS now runs before any USE-CANDIDATE (as Chromium does).
    to_router = hello  # the same ClientHello again, as a retransmission would be
    for _ in range(10):
        back: list[bytes] = []
        for d in to_router:
            back += [data for data, addr in t.handle_datagram(d, A, 0.2) if addr == A]
        to_router = []
        for d in back:
            to_router += client.handle_datagram(d, 0.2)
        if client.done and t.peers["p1"].keyed:
            break
    assert client.done and t.peers["p1"].keyed and t.counters["dtls_connected"] == 1
    keys = core.participants["p1"].keys
    assert keys != old_keys
    mine = client.srtp_keys()
    assert keys.client_key == mine.outbound.master_key + mine.outbound.master_salt
    assert keys.router_key == mine.inbound.master_key + mine.inbound.master_salt
    assert keys.profile == "AEAD_AES_128_GCM"
    # The client moves and nominates from B: the core follows.
    t.handle_datagram(check(nominate=True), B, 1.0)
    assert core.participants["p1"].addr == B
    assert t.peers["p1"].agent.nominated == B


def test_unknown_ufrag_and_garbage_are_counted() -> None:
    core, t, _ = _transport()
    assert t.handle_datagram(check(username=f"nobody:{REMOTE_UFRAG}"), A, 0.0) == []
    assert t.handle_datagram(b"\x00\x01\x00\x04" + bytes(16), A, 0.0) == []
    assert t.counters["stun_unknown_ufrag"] == 1 and t.counters["stun_malformed"] == 1
    assert core.drops.snapshot()["not_rtp"] == 2
    refused = t.handle_datagram(check(pwd="wrong password for this ufrag"), A, 0.0)
    assert len(refused) == 1 and t.counters["stun_refused"] == 1
    assert core.participants["p1"].addr is None
    t.remove_peer("p1")
    assert t.handle_datagram(check(), A, 0.0) == []
    assert t.counters["stun_unknown_ufrag"] == 2


def test_transport_never_raises_on_garbage() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    _core, t, _ = _transport()
    t.handle_datagram(check(), A, 0.0)  # A is validated: DTLS garbage reaches the endpoint

    @settings(max_examples=300, deadline=None)
    @given(st.sampled_from([0, 1, 2, 3, 20, 22, 23, 63]), st.binary(max_size=200))
    def feed(first: int, rest: bytes) -> None:
        out = t.handle_datagram(bytes([first]) + rest, A, 1.0)
        assert all(addr == A for _, addr in out)

    feed()
