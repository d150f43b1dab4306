"""What WebRTC needs from the forwarding core, sans-IO: payload-type maps and RTCP senders."""

from __future__ import annotations

import random

from router.forwarding import ForwardingCore
from rtpstack.rtcp import GenericNack, NackEntry, Pli, ReceiverReport
from rtpstack.seqnum import seq_add
from tests.test_forwarding_helpers import Endpoint

PUB = ("127.0.0.1", 6001)
WEB = ("127.0.0.1", 6002)
VIDEO = 0x5151


def _world() -> tuple[ForwardingCore, Endpoint, Endpoint]:
    core = ForwardingCore(rng=random.Random(3))
    pub = core.add_participant("pub")
    web = core.add_participant("web")
    core.add_stream("pub", VIDEO, "video", 90000)
    a, b = Endpoint(pub.keys, pub.rtcp_ssrc, PUB), Endpoint(web.keys, web.rtcp_ssrc, WEB)
    for ep in (a, b):
        assert core.handle_datagram(ep.rr(), ep.addr, 1.0) == []
    return core, a, b


def test_payload_type_map_rewrites_live_and_retransmitted_packets() -> None:
    core, pub, web = _world()
    out_ssrc = core.add_subscription("web", VIDEO)
    table = bytearray(range(128))
    table[100] = 96
    core.participants["web"].subs[out_ssrc].pt_map = bytes(table)
    seen = []
    for i, marker in enumerate((False, True, False)):
        out = core.handle_datagram(pub.rtp(VIDEO, 10 + i, 900 * i, b"frame", pt=100,
                                           marker=marker), PUB, 2.0 + i / 100)
        (pkt,) = [d for d, addr in out if addr == WEB]
        got = web.open_rtp(pkt)
        seen.append((got.payload_type, got.marker, got.ssrc, got.payload))
    assert seen == [(96, False, out_ssrc, b"frame"), (96, True, out_ssrc, b"frame"),
                    (96, False, out_ssrc, b"frame")]
    # A NACK from the subscriber is answered from the cache, rewritten the same way (the
    # first copy is "lost": never unprotected here, so the resent one is not a replay).
    last_seq = got.sequence_number
    lost = [d for d, a in core.handle_datagram(pub.rtp(VIDEO, 13, 2700, b"x", pt=100), PUB, 2.1)
            if a == WEB]
    assert len(lost) == 1
    nack = web.rtcp(GenericNack(web.rtcp_ssrc, out_ssrc, (NackEntry(seq_add(last_seq, 1), 0),)))
    resent = [d for d, a in core.handle_datagram(nack, WEB, 2.2) if a == WEB]
    assert resent and web.open_rtp(resent[0]).payload_type == 96
    # Without a map (native subscribers) the payload type is forwarded unchanged.
    core.participants["web"].subs[out_ssrc].pt_map = None
    out = core.handle_datagram(pub.rtp(VIDEO, 14, 3600, b"y", pt=100), PUB, 2.3)
    assert web.open_rtp(next(d for d, a in out if a == WEB)).payload_type == 100


def test_any_rtcp_sender_accepts_browser_feedback_from_ssrc_1() -> None:
    core, pub, web = _world()
    out_ssrc = core.add_subscription("web", VIDEO)
    pli_from_1 = web.rtcp(Pli(1, out_ssrc))
    assert core.handle_datagram(pli_from_1, WEB, 3.0) == []
    assert core.drops.snapshot()["unknown_ssrc"] == 1  # native rule: unknown sender SSRC
    core.participants["web"].any_rtcp_sender = True
    out = core.handle_datagram(web.rtcp(Pli(1, out_ssrc)), WEB, 4.0)
    assert [a for _, a in out] == [PUB]  # the key frame request reaches the publisher
    assert any(isinstance(p, Pli) and p.media_ssrc == VIDEO for p in pub.open_rtcp(out[0][0]))
    # Someone else's SSRC is still refused as a hijack.
    assert core.handle_datagram(web.rtcp(ReceiverReport(VIDEO)), WEB, 5.0) == []
    assert core.drops.snapshot()["ssrc_hijack"] == 1
