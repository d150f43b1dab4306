"""A Chromium-like WebRTC peer over real UDP on 127.0.0.1, built from the project's parts.

The peer does what INTEROP.md says Chromium does against an ICE-lite server: a first check
without USE-CANDIDATE, then DTLS straight away with its ClientHello split over two datagrams,
and only then the nominating check. Then it receives a native client's stream on its slot
(SSRC and payload type rewritten, SRTP with the DTLS-exported keys), publishes to the native
client, and moves to another socket (new address, new nomination) and is followed.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pylibsrtp
import pytest

from router.config import PortRange, RouterConfig
from router.forwarding.hop import PROFILES
from router.media import RouterMediaPlane, create_media_plane
from router.testing import RouterHarness, SignalingClient
from rtpstack.client import Client
from rtpstack.client.wire import build_rtp
from rtpstack.io.dtls import DtlsCertificate, DtlsEndpoint
from rtpstack.stun import (
    ATTR_PRIORITY,
    ATTR_USE_CANDIDATE,
    ATTR_USERNAME,
    BINDING,
    CLASS_REQUEST,
    CLASS_SUCCESS,
    StunMessage,
    check_integrity,
)
from tests.sdp_samples import CHROMIUM_OFFER
from tests.test_dtls import _fragment_client_hello

pytestmark = pytest.mark.timeout(60)

_OFFER_UFRAG, _OFFER_PWD = "Kp8Q", "cLqs6wMWS3c0pDd8wPbGKs9S"
_OFFER_FP = ("3C:4A:0E:1F:8B:52:77:A9:04:D1:6E:93:2B:C0:58:F7:11:9A:E4:36:"
             "7D:28:B5:C3:60:0F:DA:41:8E:72:19:B6")
VIDEO_SSRC = 3115276473


def _two_free_ports() -> int:
    """A port p such that p and p+1 are free on 127.0.0.1 right now (bounded search)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind(("127.0.0.1", 0))
            base = int(a.getsockname()[1])
            if base >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                try:
                    b.bind(("127.0.0.1", base + 1))
                except OSError:
                    continue
                return base
    pytest.skip("no two consecutive free UDP ports found")


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[RouterHarness]:
    # A two-port range: the native client gets the first port, the WebRTC peer the second,
    # so the answer's candidate, STUN, DTLS (and its timer) and SRTP all use the second.
    base = _two_free_ports()
    config = RouterConfig(port=0, media_ports=PortRange(base, base + 1),
                          archive_dir=str(tmp_path / "a"), log_level="warning")
    async with RouterHarness(config, create_media_plane(config)) as h:
        yield h


class Udp(asyncio.DatagramProtocol):
    """A UDP socket with a queue of received datagrams."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)

    @property
    def addr(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def recv(self, timeout: float = 2.0) -> bytes:
        return await asyncio.wait_for(self.queue.get(), timeout)


async def _udp() -> Udp:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", 0))
    return proto


class ChromiumLike:
    """ICE (controlling, regular nomination) + DTLS client + SRTP, on one UDP socket."""

    def __init__(self, answer: dict[str, Any], cert: DtlsCertificate) -> None:
        sdp = answer["sdp"]
        self.router_ufrag = sdp.split("a=ice-ufrag:")[1].split("\r\n")[0]
        self.router_pwd = sdp.split("a=ice-pwd:")[1].split("\r\n")[0]
        fp = sdp.split("a=fingerprint:")[1].split("\r\n")[0]
        self.dtls = DtlsEndpoint(cert, server=False, remote_fingerprint=fp)
        self.sock: Udp | None = None
        self.router: tuple[str, int] = ("127.0.0.1", 0)
        self.rx: pylibsrtp.Session | None = None
        self.tx: pylibsrtp.Session | None = None
        self.retransmit_wait = 0.0

    def send(self, data: bytes) -> None:
        assert self.sock is not None and self.sock.transport is not None
        self.sock.transport.sendto(data, self.router)

    async def check(self, *, nominate: bool) -> StunMessage:
        attrs: list[tuple[int, bytes]] = [
            (ATTR_USERNAME, f"{self.router_ufrag}:{_OFFER_UFRAG}".encode()),
            (ATTR_PRIORITY, (1853824767).to_bytes(4, "big")), (0x802A, os.urandom(8))]
        if nominate:
            attrs.append((ATTR_USE_CANDIDATE, b""))
        tid = os.urandom(12)
        self.send(StunMessage(BINDING, CLASS_REQUEST, tid, tuple(attrs)).encode(
            self.router_pwd.encode()))
        assert self.sock is not None
        for _ in range(50):
            data = await self.sock.recv()
            if data[0] < 4:
                msg = StunMessage.parse(data)
                if msg.transaction_id == tid:
                    assert check_integrity(data, self.router_pwd.encode())
                    return msg
        raise AssertionError("no STUN response")

    async def handshake(self, *, drop_first_flight: bool = False) -> None:
        hello = self.dtls.start(time.monotonic())
        assert len(hello) == 1
        parts = _fragment_client_hello(hello[0], 100)
        for p in parts:
            self.send(p)
        assert self.sock is not None
        dropped = 0.0
        for _ in range(50):
            data = await self.sock.recv(3.0)
            if not 20 <= data[0] <= 63:
                continue
            if drop_first_flight and not dropped:
                # "Lose" the router's first flight: only its retransmission timer brings it
                # back (this client does not retransmit its ClientHello).
                dropped = time.monotonic()
                continue
            self.retransmit_wait = time.monotonic() - dropped if dropped else 0.0
            drop_first_flight = False
            out = self.dtls.handle_datagram(data, time.monotonic())
            for d in out:
                # Our fragments used epoch-0 records 0 and 1: later epoch-0 records shift by
                # one (as Chromium's own numbering would continue).
                self.send(_shift_epoch0(d))
            if self.dtls.done:
                break
        assert self.dtls.done, self.dtls.failed
        keys = self.dtls.srtp_keys()
        profile = PROFILES[keys.outbound.profile.value][0]
        self.tx = pylibsrtp.Session(pylibsrtp.Policy(
            key=keys.outbound.master_key + keys.outbound.master_salt,
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
        self.rx = pylibsrtp.Session(pylibsrtp.Policy(
            key=keys.inbound.master_key + keys.inbound.master_salt,
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile))

    async def media(self, seconds: float) -> list[tuple[int, int]]:
        """(SSRC, payload type) of every SRTP packet received within ``seconds``."""
        assert self.sock is not None and self.rx is not None
        got: list[tuple[int, int]] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data = await self.sock.recv(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            if 128 <= data[0] <= 191 and not 192 <= data[1] <= 223:
                plain = self.rx.unprotect(data)
                got.append((int.from_bytes(plain[8:12], "big"), plain[1] & 0x7F))
        return got


def _shift_epoch0(datagram: bytes) -> bytes:
    out = b""
    pos = 0
    while pos + 13 <= len(datagram):
        length = int.from_bytes(datagram[pos + 11:pos + 13], "big")
        rec = datagram[pos:pos + 13 + length]
        if rec[3:5] == b"\x00\x00":
            seq = int.from_bytes(rec[5:11], "big") + 1
            rec = rec[:5] + seq.to_bytes(6, "big") + rec[11:]
        out += rec
        pos += 13 + length
    return out


async def _join(h: RouterHarness, sid: str, name: str) -> SignalingClient:
    sock = await h.connect(await h.token(sid, participant_id=name, role="publisher"), name)
    sock.joined = await sock.request({"type": "join", "transport": "webrtc"})
    return sock


async def test_chromium_like_peer_over_udp(harness: RouterHarness) -> None:
    sid = (await harness.create_session(media_mode="routed", e2ee=False))["session_id"]
    base = str(harness.client.make_url("")).rstrip("/")
    native = Client(base, await harness.token(sid, participant_id="native", role="publisher"),
                    auto_subscribe=True)
    await native.connect()
    try:
        local = await native.publish("video", codec={"payload_type": 100})
        cert = DtlsCertificate.generate()
        offer = CHROMIUM_OFFER.replace(_OFFER_FP, cert.fingerprint)
        web = await _join(harness, sid, "web")
        answer = await web.request({"type": "offer", "sdp": offer})
        assert answer["type"] == "answer", answer
        peer = ChromiumLike(answer, cert)
        peer.sock = await _udp()
        peer.router = ("127.0.0.1", web.joined["transport"]["port"])
        media = harness.media
        assert isinstance(media, RouterMediaPlane) and len(media.ports) == 2
        assert peer.router[1] == media.ports[1]  # the second port of the range

        # 1. a first check, no nomination: success with our address, bound in the core
        resp = await peer.check(nominate=False)
        assert resp.cls == CLASS_SUCCESS and resp.xor_mapped_address == peer.sock.addr
        (cpid,) = [p for p in media.core.participants if p.endswith("\x00web")]
        assert media.core.participants[cpid].addr == peer.sock.addr
        assert media.webrtc.peers[cpid].agent.nominated is None
        # 2. DTLS before the nominating check, ClientHello in two datagrams; the router's
        # first flight is lost and comes again from its retransmission timer (~1 s)
        await peer.handshake(drop_first_flight=True)
        assert media.webrtc.peers[cpid].keyed
        assert 0.5 < peer.retransmit_wait < 3.0
        # 3. the nominating check
        await peer.check(nominate=True)
        assert media.webrtc.peers[cpid].agent.nominated == peer.sock.addr

        # 4. receive the native client's video on the first slot: SSRC and PT rewritten
        sub = await web.request({"type": "subscribe", "stream_id": local.stream_id})
        assert sub["mid"] == "2"
        sender = asyncio.ensure_future(native.run_media(1.0, max_frames=30))
        got = await peer.media(1.5)
        await sender
        assert len(got) >= 10
        assert set(got) == {(sub["ssrc"], 96)}  # published as PT 100, the slot's VP8 is 96

        # 5. publish: the native client (auto-subscribed) receives the page's video
        assert peer.tx is not None
        for i in range(20):
            rtp = build_rtp(96, True, 1000 + i, 3000 * i, VIDEO_SSRC, b"\xc0" + bytes(100))
            peer.send(peer.tx.protect(rtp))
            await asyncio.sleep(0.01)

        def web_packets() -> int:
            return sum(st.packets for st in native.stats().received.values()
                       if st.publisher == "web")

        assert await native.wait_for(lambda c: web_packets() >= 15, 3.0), native.stats()

        # 6. the peer moves to another socket and nominates from there: it is followed
        old = peer.sock
        peer.sock = await _udp()
        await peer.check(nominate=True)
        assert media.core.participants[cpid].addr == peer.sock.addr != old.addr
        sender = asyncio.ensure_future(native.run_media(1.0, max_frames=30))
        moved = await peer.media(1.5)
        await sender
        assert len(moved) >= 10 and {s for s, _ in moved} == {sub["ssrc"]}
        assert old.transport is not None
        old.transport.close()
        peer.sock.transport.close()  # type: ignore[union-attr]
    finally:
        await native.close()
