"""The real media plane over real UDP on 127.0.0.1, driven by raw SRTP endpoints.

Each participant is a UDP socket plus an :class:`~tests.test_forwarding_helpers.Endpoint`
(libsrtp through ``rtpstack.srtp``), keyed from the :class:`TransportInfo` the media plane
returned. Loss is injected by the test (a packet not sent, or received and thrown away). Every
wait is bounded by a deadline and every send loop by a count.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import socket
from collections.abc import AsyncIterator, Callable

import pytest

from router.config import PortRange, RouterConfig
from router.drops import DropReason
from router.forwarding import ForwardingCore, HopKeys
from router.media import AUDIO_LEVEL_URI, RouterMediaPlane
from router.mediaplane import ActiveSpeakerEvent, TransportInfo
from router.sessions import Codec, Kind, Publication
from rtpstack.rtcp import GenericNack, NackEntry, Pli, ReceiverReport, SenderReport
from rtpstack.rtp import RtpPacket
from rtpstack.seqnum import seq_add, seq_diff
from tests.test_forwarding_helpers import AUDIO_LEVEL_ID, Endpoint, is_rtcp

pytestmark = pytest.mark.timeout(30)

class Peer(asyncio.DatagramProtocol):
    """A raw client: one UDP socket, the hop's SRTP keys, everything received in a list."""

    def __init__(self, info: TransportInfo) -> None:
        keys = HopKeys(info.client_key.key + info.client_key.salt,
                       info.router_key.key + info.router_key.salt)
        self.info = info
        self.ep = Endpoint(keys, info.rtcp_ssrc, ("127.0.0.1", 0))
        self.rtp: list[RtpPacket] = []
        self.rtp_raw: list[bytes] = []
        self.rtcp: list[object] = []
        self.transport: asyncio.DatagramTransport | None = None
        #: Injected loss: called with each raw SRTP datagram before it is unprotected.
        self.drop_incoming: Callable[[bytes], bool] = lambda d: False

    async def open(self) -> Peer:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if is_rtcp(data):
            self.rtcp.extend(self.ep.open_rtcp(data))
            return
        if not self.drop_incoming(data):
            self.rtp.append(self.ep.open_rtp(data))
            self.rtp_raw.append(data)

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(data, (self.info.host, self.info.port))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def until(cond: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Wait (bounded) until ``cond()`` holds."""
    for _ in range(int(timeout / 0.01)):
        if cond():
            return True
        await asyncio.sleep(0.01)
    return cond()


def publication(stream_id: str, pid: str, kind: Kind, ssrc: int) -> Publication:
    codec = (Codec("opus", 111, 48000, 2) if kind == Kind.AUDIO else Codec("VP8", 96, 90000))
    exts = ((AUDIO_LEVEL_ID, AUDIO_LEVEL_URI),) if kind == Kind.AUDIO else ()
    return Publication(stream_id, pid, kind, (ssrc,), (), codec, exts, encrypted=True)


class Room:
    def __init__(self, plane: RouterMediaPlane) -> None:
        self.plane = plane
        self.peers: dict[str, Peer] = {}
        self.events: list[ActiveSpeakerEvent] = []
        plane.set_event_callback(self.events.append)

    async def join(self, pid: str) -> Peer:
        peer = await Peer(await self.plane.add_participant("s1", pid)).open()
        peer.send(peer.ep.rr())  # announces the address
        self.peers[pid] = peer
        return peer

    def drops(self, reason: str) -> int:
        return self.plane.stats().drops[reason]


@pytest.fixture
async def room() -> AsyncIterator[Room]:
    config = RouterConfig(media_ports=PortRange(0, 0))
    plane = RouterMediaPlane(config, core=ForwardingCore(rtcp_interval=0.2,
                                                         keyframe_min_interval=0.3))
    await plane.start()
    await plane.add_session("s1", e2ee=True)
    r = Room(plane)
    try:
        yield r
    finally:
        for p in r.peers.values():
            p.close()
        await plane.close()


async def test_start_binds_an_ephemeral_port_and_hands_out_distinct_keys(room: Room) -> None:
    a = await room.plane.add_participant("s1", "x")
    b = await room.plane.add_participant("s1", "y")
    assert a.port == b.port == room.plane.ports[0] != 0
    assert a.to_json()["profile"] == "AEAD_AES_128_GCM"
    keys = {a.client_key.to_b64(), a.router_key.to_b64(), b.client_key.to_b64(),
            b.router_key.to_b64()}
    assert len(keys) == 4
    assert a.rtcp_ssrc != b.rtcp_ssrc


async def test_media_flows_both_ways_byte_identical_and_continuous(room: Room) -> None:
    alice, bob = await room.join("alice"), await room.join("bob")
    await room.plane.add_publication("s1", publication("va", "alice", Kind.VIDEO, 0xA1))
    await room.plane.add_publication("s1", publication("ab", "bob", Kind.AUDIO, 0xB1))
    to_bob = await room.plane.add_subscription("s1", "sub1", "bob",
                                               publication("va", "alice", Kind.VIDEO, 0xA1))
    to_alice = await room.plane.add_subscription("s1", "sub2", "alice",
                                                 publication("ab", "bob", Kind.AUDIO, 0xB1))
    assert await until(lambda: room.plane.core.participants["s1\x00bob"].addr is not None
                       and room.plane.core.participants["s1\x00alice"].addr is not None)
    video = [os.urandom(1000 + i) for i in range(30)]
    audio = [os.urandom(60 + i) for i in range(30)]
    for i in range(30):
        alice.send(alice.ep.rtp(0xA1, 65520 + i & 0xFFFF, 3000 * i, video[i], marker=True))
        bob.send(bob.ep.rtp(0xB1, 7 + i, 960 * i, audio[i], pt=111, level=40))
        await asyncio.sleep(0.002)
    assert await until(lambda: len(bob.rtp) == 30 and len(alice.rtp) == 30)
    assert [p.payload for p in bob.rtp] == video
    assert [p.payload for p in alice.rtp] == audio
    assert {p.ssrc for p in bob.rtp} == {to_bob[0xA1]}
    assert {p.ssrc for p in alice.rtp} == {to_alice[0xB1]}
    seqs = [p.sequence_number for p in bob.rtp]
    assert all(seq_diff(b, a) == 1 for a, b in itertools.pairwise(seqs))
    # Header extensions are carried unchanged.
    assert all(p.extension is not None for p in alice.rtp)
    stats = room.plane.stats()
    assert stats.packets_out >= 60 and stats.srtp_failures == 0


async def test_hijack_and_wrong_key_are_dropped_and_counted(room: Room) -> None:
    alice, bob, mallory = await room.join("alice"), await room.join("bob"), await room.join("m")
    await room.plane.add_publication("s1", publication("aa", "alice", Kind.AUDIO, 0xA1))
    await room.plane.add_subscription("s1", "sub", "bob",
                                      publication("aa", "alice", Kind.AUDIO, 0xA1))
    assert await until(lambda: all(p.addr for p in room.plane.core.participants.values()))
    for i in range(10):
        mallory.send(mallory.ep.rtp(0xA1, 100 + i, 0, b"forged"))  # her key, alice's SSRC
    stranger = await Peer(TransportInfo(alice.info.host, alice.info.port,
                                        alice.info.router_key, alice.info.client_key,
                                        alice.info.rtcp_ssrc)).open()
    room.peers["stranger"] = stranger
    for i in range(5):
        stranger.send(stranger.ep.rtp(0xA1, 200 + i, 0, b"wrong key"))
    assert await until(lambda: room.drops("ssrc_hijack") == 10
                       and room.drops("srtp_auth_failed") == 5)
    alice.send(alice.ep.rtp(0xA1, 1, 0, b"real"))
    assert await until(lambda: len(bob.rtp) == 1)
    await asyncio.sleep(0.05)
    assert [p.payload for p in bob.rtp] == [b"real"]
    # The stranger never became alice.
    assert alice.transport is not None
    assert room.plane.core.participants["s1\x00alice"].addr == alice.transport.get_extra_info(
        "sockname")


async def test_nack_repaired_from_cache_and_upstream(room: Room) -> None:
    alice, bob = await room.join("alice"), await room.join("bob")
    await room.plane.add_publication("s1", publication("va", "alice", Kind.VIDEO, 0xA1))
    out = (await room.plane.add_subscription("s1", "s", "bob",
                                             publication("va", "alice", Kind.VIDEO, 0xA1)))[0xA1]
    assert await until(lambda: all(p.addr for p in room.plane.core.participants.values()))
    first_seen: list[int] = []
    count = [0]

    def lose_tenth(d: bytes) -> bool:  # router→bob loss of the 11th packet
        count[0] += 1
        if count[0] == 11:
            first_seen.append(d[2] << 8 | d[3])
            return True
        return False

    bob.drop_incoming = lose_tenth
    sent: dict[int, bytes] = {}
    for i in range(30):
        sent[500 + i] = alice.ep.rtp(0xA1, 500 + i, 90 * i, bytes([i]) * 300)
        if i != 20:  # alice→router loss of the 20th packet
            alice.send(sent[500 + i])
        await asyncio.sleep(0.002)
    assert await until(lambda: len(bob.rtp) == 28)
    base = seq_add(bob.rtp[0].sequence_number, 0)
    lost_down, lost_up = seq_add(base, 10), seq_add(base, 20)
    assert first_seen == [lost_down]
    bob.send(bob.ep.rtcp(ReceiverReport(bob.ep.rtcp_ssrc),
                         GenericNack(bob.ep.rtcp_ssrc, out, (NackEntry(lost_down, 1 << 9),))))
    assert await until(lambda: any(isinstance(p, GenericNack) for p in alice.rtcp))
    assert await until(lambda: len(bob.rtp) == 29)
    assert bob.rtp[-1].payload == bytes([10]) * 300
    nack = next(p for p in alice.rtcp if isinstance(p, GenericNack))
    assert nack.media_ssrc == 0xA1
    assert [s for e in nack.entries for s in e.lost()] == [520]
    alice.send(sent[520])  # the publisher answers with the original packet
    assert await until(lambda: len(bob.rtp) == 30)
    assert (bob.rtp[-1].sequence_number, bob.rtp[-1].payload) == (lost_up, bytes([20]) * 300)
    assert room.plane.core.retransmits == 1


async def test_pli_from_subscriber_reaches_publisher_rate_limited(room: Room) -> None:
    alice, bob = await room.join("alice"), await room.join("bob")
    await room.plane.add_publication("s1", publication("va", "alice", Kind.VIDEO, 0xA1))
    out = (await room.plane.add_subscription("s1", "s", "bob",
                                             publication("va", "alice", Kind.VIDEO, 0xA1)))[0xA1]
    assert await until(lambda: all(p.addr for p in room.plane.core.participants.values()))
    for _ in range(3):  # a burst: only the first passes the 0.3 s limit
        bob.send(bob.ep.rtcp(ReceiverReport(bob.ep.rtcp_ssrc), Pli(bob.ep.rtcp_ssrc, out)))
    assert await until(lambda: room.drops("keyframe_rate_limited") == 2)
    plis = [p for p in alice.rtcp if isinstance(p, Pli)]
    assert [p.media_ssrc for p in plis] == [0xA1]
    await asyncio.sleep(0.35)
    bob.send(bob.ep.rtcp(ReceiverReport(bob.ep.rtcp_ssrc), Pli(bob.ep.rtcp_ssrc, out)))
    assert await until(lambda: len([p for p in alice.rtcp if isinstance(p, Pli)]) == 2)


async def test_sr_and_rr_are_generated(room: Room) -> None:
    alice, bob = await room.join("alice"), await room.join("bob")
    await room.plane.add_publication("s1", publication("aa", "alice", Kind.AUDIO, 0xA1))
    out = (await room.plane.add_subscription("s1", "s", "bob",
                                             publication("aa", "alice", Kind.AUDIO, 0xA1)))[0xA1]
    assert await until(lambda: all(p.addr for p in room.plane.core.participants.values()))
    for i in range(20):
        alice.send(alice.ep.rtp(0xA1, i, 960 * i, b"a" * 50))
        await asyncio.sleep(0.005)
    assert await until(lambda: any(isinstance(p, SenderReport) for p in bob.rtcp)
                       and any(isinstance(p, ReceiverReport) and p.reports for p in alice.rtcp))
    rr = next(p for p in alice.rtcp if isinstance(p, ReceiverReport) and p.reports)
    assert rr.reports[0].ssrc == 0xA1
    assert rr.reports[0].extended_highest_seq <= 19
    sr = next(p for p in bob.rtcp if isinstance(p, SenderReport))
    assert sr.ssrc == out and 1 <= sr.packet_count <= 20
    assert await until(lambda: len(bob.rtp) == 20)
    # Its RTP timestamp lies in the subscriber's (rewritten) timeline.
    assert abs(seq_diff(0, 0) + (sr.rtp_timestamp - bob.rtp[0].timestamp) % (1 << 32)) < 48000


async def test_active_speaker_event_from_audio_levels(room: Room) -> None:
    alice, bob = await room.join("alice"), await room.join("bob")
    await room.plane.add_publication("s1", publication("aa", "alice", Kind.AUDIO, 0xA1))
    await room.plane.add_publication("s1", publication("ba", "bob", Kind.AUDIO, 0xB1))
    assert await until(lambda: all(p.addr for p in room.plane.core.participants.values()))
    for i in range(60):
        alice.send(alice.ep.rtp(0xA1, i, 960 * i, b"a", level=127))
        bob.send(bob.ep.rtp(0xB1, i, 960 * i, b"b", level=25))
        await asyncio.sleep(0.01)
    assert await until(lambda: bool(room.events), 2.0)
    ev = room.events[0]
    assert (ev.session_id, ev.participant_id, ev.stream_id) == ("s1", "bob", "ba")


async def test_non_rtp_and_strangers_are_counted(room: Room) -> None:
    alice = await room.join("alice")
    alice.send(b"\x00\x01\x00\x00" + bytes(16))  # a STUN binding request shape
    alice.send(b"\x16\xfe\xfd" + bytes(20))  # DTLS
    stranger = await Peer(TransportInfo(alice.info.host, alice.info.port,
                                        alice.info.client_key, alice.info.router_key,
                                        12345)).open()
    room.peers["stranger"] = stranger
    stranger.send(stranger.ep.rtp(0x5555, 1, 0, b"?"))
    assert await until(lambda: room.drops("not_rtp") == 2 and room.drops("unknown_address") == 1)


def _two_free_ports() -> int:
    """A port p such that p and p+1 are free on 127.0.0.1 right now (bounded search)."""
    rng = random.Random()
    for _ in range(50):
        base = rng.randrange(20000, 60000)
        socks = []
        try:
            for port in (base, base + 1):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    pytest.skip("no two consecutive free UDP ports found")


async def test_port_range_spreads_participants_and_answers_from_their_port() -> None:
    base = _two_free_ports()
    plane = RouterMediaPlane(RouterConfig(media_ports=PortRange(base, base + 1)))
    await plane.start()
    peers: list[Peer] = []
    try:
        assert plane.ports == [base, base + 1]
        await plane.add_session("s1", e2ee=False)
        room = Room(plane)
        alice, bob = await room.join("alice"), await room.join("bob")
        peers += [alice, bob]
        assert (alice.info.port, bob.info.port) == (base, base + 1)
        pub = publication("aa", "alice", Kind.AUDIO, 0xA1)
        await plane.add_publication("s1", pub)
        await plane.add_subscription("s1", "s", "bob", pub)
        assert await until(lambda: all(p.addr for p in plane.core.participants.values()))
        froms: list[tuple[str, int]] = []
        orig = bob.datagram_received

        def record(data: bytes, addr: tuple[str, int]) -> None:
            froms.append(addr)
            orig(data, addr)

        bob.datagram_received = record  # type: ignore[method-assign]
        for i in range(5):
            alice.send(alice.ep.rtp(0xA1, i, 960 * i, b"x"))
        assert await until(lambda: len(bob.rtp) == 5)
        assert {port for _, port in froms} == {base + 1}
    finally:
        for p in peers:
            p.close()
        await plane.close()


async def test_stun_and_dtls_reach_registered_handlers_and_their_answers_are_sent() -> None:
    from router.transport import DatagramClass, UdpMediaTransport, classify

    class Echo:
        def __init__(self, tag: bytes) -> None:
            self.tag = tag
            self.seen: list[bytes] = []

        def handle_datagram(self, data: bytes, addr: tuple[str, int],
                            now: float) -> list[tuple[bytes, tuple[str, int]]]:
            self.seen.append(data)
            return [(self.tag + data, addr)]

    stun, dtls = Echo(b"S"), Echo(b"D")
    core = ForwardingCore()
    transport = UdpMediaTransport(core, handlers={DatagramClass.STUN: stun,
                                                  DatagramClass.DTLS: dtls})
    (port,) = await transport.start("127.0.0.1", 0)
    got: list[bytes] = []

    class Sock(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            got.append(data)

    loop = asyncio.get_running_loop()
    client, _ = await loop.create_datagram_endpoint(Sock, local_addr=("127.0.0.1", 0))
    try:
        for data in (b"\x00\x01binding", b"\x16\xfe\xfdhello", b"\x40\x00turn"):
            client.sendto(data, ("127.0.0.1", port))
        assert await until(lambda: len(got) == 2 and core.drops.counts[
            DropReason.NOT_RTP] == 1)
    finally:
        client.close()
        transport.close()
    assert sorted(got) == [b"D\x16\xfe\xfdhello", b"S\x00\x01binding"]
    assert (stun.seen, dtls.seen) == ([b"\x00\x01binding"], [b"\x16\xfe\xfdhello"])
    assert [classify(d) for d in (b"", b"\x03", b"\x13", b"\x3f", b"\x4f", b"\x80", b"\xff")] == [
        DatagramClass.UNKNOWN, DatagramClass.STUN, DatagramClass.ZRTP, DatagramClass.DTLS,
        DatagramClass.TURN_CHANNEL, DatagramClass.RTP, DatagramClass.UNKNOWN]


async def test_stats_tell_how_the_c_forwarding_path_handled_what_it_read(room: Room) -> None:
    from router.forwarding.fastfwd import fastfwd_backend

    alice, bob = await room.join("alice"), await room.join("bob")
    await room.plane.add_publication("s1", publication("va", "alice", Kind.VIDEO, 0xA1))
    await room.plane.add_subscription("s1", "sub1", "bob",
                                      publication("va", "alice", Kind.VIDEO, 0xA1))
    assert await until(lambda: room.plane.core.participants["s1\x00bob"].addr is not None
                       and room.plane.core.participants["s1\x00alice"].addr is not None)
    for i in range(20):
        alice.send(alice.ep.rtp(0xA1, 100 + i, 3000 * i, os.urandom(500)))
        await asyncio.sleep(0.002)
    assert await until(lambda: len(bob.rtp) == 20)
    split = room.plane.stats().fast_path
    if fastfwd_backend == "python":
        assert split == {}
    else:
        # bound addresses and plain RTP: the media went the C way; the RRs the peers sent
        # to announce themselves went the Python way.
        assert split["fast"] >= 19 and split["slow"] >= 2
