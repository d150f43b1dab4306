"""The sans-IO forwarding core on a virtual clock: routing, rewriting, drops, RTCP, speaker."""

from __future__ import annotations

import itertools
import os
import random

import pytest

from router.drops import DropReason
from router.forwarding import (
    ActiveSpeakerChanged,
    AddressBound,
    ForwardingConfigError,
    ForwardingCore,
    HopKeys,
)
from rtpstack.rtcp import (
    Fir,
    FirEntry,
    GenericNack,
    NackEntry,
    Pli,
    ReceiverReport,
    SenderReport,
    SourceDescription,
)
from rtpstack.rtcp.ntp import ntp_from_seconds, ntp_to_compact
from rtpstack.seqnum import seq_add, seq_diff, ts_diff
from tests.test_forwarding_helpers import AUDIO_LEVEL_ID, Endpoint, is_rtcp

A_ADDR = ("127.0.0.1", 5001)
B_ADDR = ("127.0.0.1", 5002)
C_ADDR = ("127.0.0.1", 5003)
A_AUDIO = 0x1111
A_VIDEO = 0x1112
C_AUDIO = 0x3331
C_VIDEO = 0x3332


class World:
    """A core with three participants and their raw endpoints."""

    def __init__(self, **kw: object) -> None:
        self.core = ForwardingCore(rng=random.Random(7), **kw)  # type: ignore[arg-type]
        self.ep: dict[str, Endpoint] = {}
        for pid, addr in (("a", A_ADDR), ("b", B_ADDR), ("c", C_ADDR)):
            part = self.core.add_participant(pid)
            self.ep[pid] = Endpoint(part.keys, part.rtcp_ssrc, addr)
        self.now = 100.0

    def send(self, pid: str, data: bytes, addr: tuple[str, int] | None = None) -> list[
        tuple[bytes, tuple[str, int]]
    ]:
        return self.core.handle_datagram(data, addr or self.ep[pid].addr, self.now)

    def bind(self, *pids: str) -> None:
        for pid in pids:
            assert self.send(pid, self.ep[pid].rr()) == []
        self.core.pop_events()


def to(out: list[tuple[bytes, tuple[str, int]]], addr: tuple[str, int]) -> list[bytes]:
    return [d for d, a in out if a == addr]


@pytest.fixture
def w() -> World:
    world = World()
    world.core.add_stream("a", A_AUDIO, "audio", 48000, AUDIO_LEVEL_ID)
    world.core.add_stream("a", A_VIDEO, "video", 90000)
    world.core.add_stream("c", C_AUDIO, "audio", 48000, AUDIO_LEVEL_ID)
    world.core.add_stream("c", C_VIDEO, "video", 90000)
    return world


def test_forwards_with_rewritten_header_and_byte_identical_payload(w: World) -> None:
    out_ssrc = w.core.add_subscription("b", A_VIDEO)
    w.bind("a", "b")
    payloads = [os.urandom(random.Random(i).randrange(1, 1200)) for i in range(40)]
    got = []
    for i, payload in enumerate(payloads):
        w.now += 0.01
        out = w.send("a", w.ep["a"].rtp(A_VIDEO, 65530 + i & 0xFFFF, 1000 + 3000 * i, payload,
                                        marker=i % 5 == 0))
        assert [a for _, a in out] == [B_ADDR]
        got.append(w.ep["b"].open_rtp(out[0][0]))
    assert [p.payload for p in got] == payloads
    assert {p.ssrc for p in got} == {out_ssrc}
    assert [p.marker for p in got] == [i % 5 == 0 for i in range(40)]
    pairs = list(itertools.pairwise(got))
    assert all(seq_diff(q.sequence_number, p.sequence_number) == 1 for p, q in pairs)
    assert all(ts_diff(q.timestamp, p.timestamp) == 3000 for p, q in itertools.pairwise(got))
    # Router-chosen numbering: not the publisher's.
    assert got[0].sequence_number != 65530 or got[0].timestamp != 1000
    assert w.core.drops.total() == 0
    assert w.core.stats()["packets_out"] == 40


def test_fan_out_to_several_subscribers_each_with_own_ssrc(w: World) -> None:
    sb = w.core.add_subscription("b", A_AUDIO)
    sc = w.core.add_subscription("c", A_AUDIO)
    w.bind("a", "b", "c")
    out = w.send("a", w.ep["a"].rtp(A_AUDIO, 1, 960, b"x" * 80))
    assert sorted(a for _, a in out) == [B_ADDR, C_ADDR]
    assert w.ep["b"].open_rtp(to(out, B_ADDR)[0]).ssrc == sb
    assert w.ep["c"].open_rtp(to(out, C_ADDR)[0]).ssrc == sc
    # Each hop has its own key: B cannot open C's copy.
    with pytest.raises(ValueError):
        w.ep["b"].open_rtp(to(out, C_ADDR)[0])


def test_nothing_sent_before_the_subscriber_address_is_learned(w: World) -> None:
    w.core.add_subscription("b", A_AUDIO)
    w.bind("a")
    assert w.send("a", w.ep["a"].rtp(A_AUDIO, 1, 0, b"p")) == []
    assert w.core.drops[DropReason.SUBSCRIBER_UNBOUND] == 1
    w.send("b", w.ep["b"].rr())
    assert w.core.pop_events() == [AddressBound("b", B_ADDR)]
    assert to(w.send("a", w.ep["a"].rtp(A_AUDIO, 2, 960, b"p")), B_ADDR)


def test_wrong_key_is_dropped_counted_and_does_not_bind(w: World) -> None:
    w.core.add_subscription("b", A_AUDIO)
    w.bind("a", "b")
    forger = Endpoint(HopKeys.generate(), 1, ("127.0.0.1", 6666))
    assert w.send("x", forger.rtp(A_AUDIO, 5, 0, b"evil"), forger.addr) == []
    forger.rtcp(ReceiverReport(w.ep["a"].rtcp_ssrc))  # skip SRTCP index 0, which A used
    assert w.send("x", forger.rtcp(ReceiverReport(w.ep["a"].rtcp_ssrc)), forger.addr) == []
    assert w.core.drops[DropReason.SRTP_AUTH_FAILED] == 2
    assert w.core.participants["a"].addr == A_ADDR
    assert w.core.pop_events() == []
    # Wrong key from the publisher's own address too.
    assert w.send("x", forger.rtp(A_AUDIO, 6, 0, b"evil"), A_ADDR) == []
    assert w.core.drops[DropReason.SRTP_AUTH_FAILED] == 3


def test_ssrc_hijack_is_dropped_and_counted(w: World) -> None:
    w.core.add_subscription("c", A_AUDIO)
    w.bind("a", "b", "c")
    # B authenticates with its own key but claims A's SSRC.
    assert w.send("b", w.ep["b"].rtp(A_AUDIO, 9, 0, b"inject")) == []
    assert w.core.drops[DropReason.SSRC_HIJACK] == 1
    # B's RTCP claiming to be A's stream is a hijack as well.
    assert w.send("b", w.ep["b"].rtcp(SenderReport(A_AUDIO, 0, 0, 0, 0))) == []
    assert w.core.drops[DropReason.SSRC_HIJACK] == 2
    # An SSRC nobody published.
    assert w.send("b", w.ep["b"].rtp(0xDEAD, 9, 0, b"x")) == []
    assert w.core.drops[DropReason.UNKNOWN_SSRC] == 1


def test_unknown_address_with_unknown_ssrc_and_non_rtp(w: World) -> None:
    stranger = Endpoint(HopKeys.generate(), 1, ("127.0.0.1", 7777))
    assert w.send("x", stranger.rtp(0xABCD, 1, 0, b"x"), stranger.addr) == []
    assert w.send("x", b"\x00\x01\x00\x00" + bytes(16), stranger.addr) == []  # STUN-like
    assert w.send("x", b"\x80", stranger.addr) == []
    assert w.core.drops[DropReason.UNKNOWN_ADDRESS] == 1
    assert w.core.drops[DropReason.NOT_RTP] == 1
    assert w.core.drops[DropReason.MALFORMED_RTP] == 1


def test_replayed_packet_is_dropped(w: World) -> None:
    w.core.add_subscription("b", A_AUDIO)
    w.bind("a", "b")
    pkt = w.ep["a"].rtp(A_AUDIO, 1, 0, b"p")
    assert len(w.send("a", pkt)) == 1
    assert w.send("a", pkt) == []
    assert w.core.drops[DropReason.SRTP_REPLAY] == 1


def test_address_change_is_followed(w: World) -> None:
    w.core.add_subscription("a", C_AUDIO)
    w.bind("a", "c")
    moved = ("127.0.0.1", 5999)
    w.send("a", w.ep["a"].rtp(A_AUDIO, 1, 0, b"p"), moved)
    assert w.core.pop_events() == [AddressBound("a", moved)]
    assert [a for _, a in w.send("c", w.ep["c"].rtp(C_AUDIO, 1, 0, b"q"))] == [moved]


def test_publisher_switch_keeps_the_subscriber_stream_continuous(w: World) -> None:
    out_ssrc = w.core.add_subscription("b", A_VIDEO)
    w.bind("a", "b", "c")
    seen = []
    for i in range(5):
        w.now += 1 / 30
        out = w.send("a", w.ep["a"].rtp(A_VIDEO, 100 + i, 5000 + 3000 * i, b"a"))
        seen.append(w.ep["b"].open_rtp(out[0][0]))
    out = w.core.switch_subscription("b", out_ssrc, C_VIDEO, w.now)
    # The new source is asked for a key frame.
    assert [type(p) for p in w.ep["c"].open_rtcp(to(out, C_ADDR)[0])] == [ReceiverReport, Pli]
    for i in range(5):
        w.now += 1 / 30
        out = w.send("c", w.ep["c"].rtp(C_VIDEO, 40000 + i, 777 + 3000 * i, b"c"))
        seen.append(w.ep["b"].open_rtp(to(out, B_ADDR)[0]))
    # A's late packets no longer reach B.
    assert to(w.send("a", w.ep["a"].rtp(A_VIDEO, 105, 20000, b"a")), B_ADDR) == []
    assert {p.ssrc for p in seen} == {out_ssrc}
    pairs = list(itertools.pairwise(seen))
    assert [seq_diff(q.sequence_number, p.sequence_number) for p, q in pairs] == [1] * 9
    steps = [ts_diff(q.timestamp, p.timestamp) for p, q in itertools.pairwise(seen)]
    assert steps == [3000] * 9
    assert [p.payload for p in seen] == [b"a"] * 5 + [b"c"] * 5


def test_pli_and_fir_reach_the_publisher_rewritten_and_rate_limited(w: World) -> None:
    out_ssrc = w.core.add_subscription("b", A_VIDEO)
    w.bind("a", "b")
    b = w.ep["b"]
    out = w.send("b", b.rtcp(ReceiverReport(b.rtcp_ssrc), Pli(b.rtcp_ssrc, out_ssrc)))
    pkts = w.ep["a"].open_rtcp(to(out, A_ADDR)[0])
    router_ssrc = w.core.participants["a"].router_ssrc
    assert pkts == [ReceiverReport(router_ssrc), Pli(router_ssrc, A_VIDEO)]
    w.now += 0.1
    assert w.send("b", b.rtcp(ReceiverReport(b.rtcp_ssrc), Pli(b.rtcp_ssrc, out_ssrc))) == []
    assert w.core.drops[DropReason.KEYFRAME_RATE_LIMITED] == 1
    w.now += 0.5
    out = w.send("b", b.rtcp(ReceiverReport(b.rtcp_ssrc),
                             Fir(b.rtcp_ssrc, (FirEntry(out_ssrc, 1),))))
    fir = w.ep["a"].open_rtcp(to(out, A_ADDR)[0])[1]
    assert isinstance(fir, Fir)
    assert [e.ssrc for e in fir.entries] == [A_VIDEO]
    # Feedback about an SSRC B does not receive is dropped.
    w.now += 1
    assert w.send("b", b.rtcp(ReceiverReport(b.rtcp_ssrc), Pli(b.rtcp_ssrc, A_VIDEO))) == []
    assert w.core.drops[DropReason.FEEDBACK_UNKNOWN_SSRC] == 1
    assert w.core.stats()["keyframe_requests"] == 2


def test_nack_answered_from_cache_and_misses_requested_upstream(w: World) -> None:
    out_ssrc = w.core.add_subscription("b", A_VIDEO)
    w.bind("a", "b")
    a, b = w.ep["a"], w.ep["b"]
    delivered: dict[int, bytes] = {}
    for seq in range(200, 220):
        w.now += 0.01
        if seq == 215:
            continue  # lost between the publisher and the router
        (pkt, _), = w.send("a", a.rtp(A_VIDEO, seq, seq * 100, bytes([seq]) * 50))
        if seq in (205, 207):
            lost_copy = pkt  # lost between the router and the subscriber
            delivered[seq] = lost_copy
            continue
        b.open_rtp(pkt)
    first = b.open_rtp(w.send("a", a.rtp(A_VIDEO, 220, 22000, b"z"))[0][0])
    base = seq_add(first.sequence_number, -20)  # subscriber seq of publisher seq 200
    nack = GenericNack(b.rtcp_ssrc, out_ssrc, (NackEntry(seq_add(base, 5), 0b10),
                                                NackEntry(seq_add(base, 15), 0)))
    out = w.send("b", b.rtcp(ReceiverReport(b.rtcp_ssrc), nack))
    resent = to(out, B_ADDR)
    # Both router→subscriber losses come back byte-identical to the lost copies.
    assert sorted(resent) == sorted([delivered[205], delivered[207]])
    assert sorted(b.open_rtp(p).payload for p in resent) == [bytes([205]) * 50,
                                                               bytes([207]) * 50]
    # The upstream loss is NACKed to the publisher, in the publisher's numbering.
    up = a.open_rtcp(to(out, A_ADDR)[0])
    assert isinstance(up[1], GenericNack)
    assert up[1].media_ssrc == A_VIDEO
    assert [s for e in up[1].entries for s in e.lost()] == [215]
    # Asking again at once does not re-NACK upstream; the publisher's retransmission flows.
    assert to(w.send("b", b.rtcp(ReceiverReport(b.rtcp_ssrc), nack)), A_ADDR) == []
    late = w.send("a", a.rtp(A_VIDEO, 215, 21500, bytes([215]) * 50))
    assert b.open_rtp(late[0][0]).sequence_number == seq_add(base, 15)
    assert w.core.stats()["retransmits"] == 4
    assert w.core.stats()["nacks_upstream"] == 1


def test_cache_holds_about_one_second(w: World) -> None:
    out_ssrc = w.core.add_subscription("b", A_AUDIO)
    w.bind("a", "b")
    a, b = w.ep["a"], w.ep["b"]
    first = b.open_rtp(w.send("a", a.rtp(A_AUDIO, 10, 0, b"old"))[0][0])
    w.now += 1.5
    nack = GenericNack(b.rtcp_ssrc, out_ssrc, (NackEntry(first.sequence_number, 0),))
    out = w.send("b", b.rtcp(ReceiverReport(b.rtcp_ssrc), nack))
    assert to(out, B_ADDR) == []
    up = a.open_rtcp(to(out, A_ADDR)[0])[1]
    assert isinstance(up, GenericNack)
    assert [e.pid for e in up.entries] == [10]


def test_receiver_reports_to_publisher_from_router_statistics(w: World) -> None:
    w.core.add_subscription("b", A_AUDIO)
    w.bind("a", "b")
    a = w.ep["a"]
    for seq in range(1000, 1100):
        w.now += 0.02
        if seq % 10 == 3:
            continue  # 10 lost upstream
        w.send("a", a.rtp(A_AUDIO, seq, seq * 960, b"s"))
    sr_ntp = ntp_from_seconds(1_700_000_000.25)
    w.send("a", a.rtcp(SenderReport(A_AUDIO, sr_ntp, 99 * 960, 90, 90)))
    w.now += 0.5
    out = w.core.handle_timer(w.now)
    rr = a.open_rtcp(to(out, A_ADDR)[0])
    assert isinstance(rr[0], ReceiverReport)
    assert rr[0].ssrc == w.core.participants["a"].router_ssrc
    assert isinstance(rr[-1], SourceDescription)
    (block,) = rr[0].reports
    assert block.ssrc == A_AUDIO
    assert block.extended_highest_seq == 1099
    assert block.cumulative_lost == 10
    assert block.fraction_lost == 10 * 256 // 100
    assert block.lsr == ntp_to_compact(sr_ntp)
    assert abs(block.dlsr / 65536 - 0.5) < 0.001


def test_sender_reports_to_subscriber_in_rewritten_domain(w: World) -> None:
    out_ssrc = w.core.add_subscription("b", A_AUDIO)
    w.bind("a", "b")
    a, b = w.ep["a"], w.ep["b"]
    fwd = []
    for i in range(50):
        w.now += 0.02
        fwd.append(b.open_rtp(w.send("a", a.rtp(A_AUDIO, i, 5000 + 960 * i, b"12345"))[0][0]))
    ts_off = ts_diff(fwd[0].timestamp, 5000)
    # Without a publisher SR: the last forwarded timestamp advanced by the elapsed time.
    w.now += 0.1
    out = w.core.handle_timer(w.now)
    srs = [p for p in b.open_rtcp(to(out, B_ADDR)[0]) if isinstance(p, SenderReport)]
    assert [(s.ssrc, s.packet_count, s.octet_count) for s in srs] == [(out_ssrc, 50, 250)]
    assert ts_diff(srs[0].rtp_timestamp, fwd[-1].timestamp) == 4800
    # With a publisher SR: its NTP timeline, mapped into the subscriber's timestamps.
    sr_ntp = ntp_from_seconds(1_700_000_000.0)
    w.send("a", a.rtcp(SenderReport(A_AUDIO, sr_ntp, 777_000, 50, 250)))
    w.now += 1.0
    out = w.core.handle_timer(w.now)
    (sr,) = [p for p in b.open_rtcp(to(out, B_ADDR)[0]) if isinstance(p, SenderReport)]
    assert sr.ntp_timestamp - sr_ntp == pytest.approx(1 << 32, abs=1 << 16)
    assert ts_diff(sr.rtp_timestamp, 777_000 + 48000) == ts_off


def test_active_speaker_from_audio_level_and_last_n(w: World) -> None:
    w.core.add_subscription("b", A_VIDEO)
    w.core.add_subscription("b", C_VIDEO)
    w.bind("a", "b", "c")
    a, c = w.ep["a"], w.ep["c"]
    assert w.core.set_last_n(1, w.now) == []

    def talk(loud: str, seconds: float, start: int, blip: int = -1) -> list[object]:
        events: list[object] = []
        for i in range(int(seconds * 50)):
            w.now += 0.02
            la = 20 if loud == "a" else 120
            lc = 20 if loud == "c" else 0 if i == blip else 120
            w.send("a", a.rtp(A_AUDIO, start + i, 960 * i, b"x", level=la))
            w.send("c", c.rtp(C_AUDIO, start + i, 960 * i, b"x", level=lc))
            if w.now >= w.core.next_deadline():
                w.core.handle_timer(w.now)
            events += w.core.pop_events()
        return events

    (first,) = talk("a", 1.0, 0)
    assert isinstance(first, ActiveSpeakerChanged)
    assert (first.participant_id, first.ssrc) == ("a", A_AUDIO)
    assert 37 <= first.level <= 127
    # Last-N = 1: only A's video reaches B; C's is held back and counted.
    assert to(w.send("a", a.rtp(A_VIDEO, 1, 0, b"va")), B_ADDR)
    assert to(w.send("c", c.rtp(C_VIDEO, 1, 0, b"vc")), B_ADDR) == []
    assert w.core.drops[DropReason.LAST_N] == 1
    # A brief blip from C (one very loud packet) does not move the speaker; sustained speech does.
    assert talk("a", 1.0, 50, blip=10) == []
    events = talk("c", 1.0, 100)
    assert [e.participant_id for e in events if isinstance(e, ActiveSpeakerChanged)] == ["c"]
    assert to(w.send("c", c.rtp(C_VIDEO, 2, 3000, b"vc")), B_ADDR)
    assert to(w.send("a", a.rtp(A_VIDEO, 2, 3000, b"va")), B_ADDR) == []


def test_equal_voices_do_not_flap() -> None:
    world = World()
    world.core.add_stream("a", A_AUDIO, "audio", 48000, AUDIO_LEVEL_ID)
    world.core.add_stream("c", C_AUDIO, "audio", 48000, AUDIO_LEVEL_ID)
    world.bind("a", "c")
    rng = random.Random(3)
    changes = 0
    for i in range(500):
        world.now += 0.02
        for pid, ssrc in (("a", A_AUDIO), ("c", C_AUDIO)):
            world.send(pid, world.ep[pid].rtp(ssrc, i, 960 * i, b"x", level=rng.randint(28, 32)))
        if world.now >= world.core.next_deadline():
            world.core.handle_timer(world.now)
        changes += sum(isinstance(e, ActiveSpeakerChanged) for e in world.core.pop_events())
    assert changes == 1


def test_every_drop_reason_has_a_counter_in_stats(w: World) -> None:
    drops = w.core.stats()["drops"]
    assert set(drops) == {r.value for r in DropReason}
    assert all(v == 0 for v in drops.values())


def test_control_plane_errors() -> None:
    world = World()
    world.core.add_stream("a", A_AUDIO, "audio", 48000)
    with pytest.raises(ForwardingConfigError, match="already in use"):
        world.core.add_stream("c", A_AUDIO, "audio", 48000)
    with pytest.raises(ForwardingConfigError, match="unknown participant 'zz'"):
        world.core.add_subscription("zz", A_AUDIO)
    with pytest.raises(ForwardingConfigError, match="unknown stream 4660"):
        world.core.add_subscription("b", 0x1234)
    out_ssrc = world.core.add_subscription("b", A_AUDIO)
    world.core.remove_participant("a")
    assert world.core.participants["b"].subs == {}
    with pytest.raises(ForwardingConfigError):
        world.core.remove_subscription("b", out_ssrc)
    assert world.core.stats()["streams"] == 0


def test_rtcp_from_subscriber_is_terminated_not_forwarded(w: World) -> None:
    out_ssrc = w.core.add_subscription("b", A_AUDIO)
    w.bind("a", "b")
    b = w.ep["b"]
    from rtpstack.rtcp import ReportBlock

    out = w.send("b", b.rtcp(ReceiverReport(b.rtcp_ssrc, (ReportBlock(out_ssrc, 12, 3),))))
    assert out == []
    assert w.core.participants["b"].subs[out_ssrc].remote_fraction_lost == 12
    assert not any(is_rtcp(d) for d, _ in out)
