"""Replay: a corpus capture sent over real UDP on 127.0.0.1 to a receiver built on
:mod:`rtpstack.io.udp`; what arrives equals what the capture holds, on time.

Timing tolerance (stated): at speed 4, every packet arrives within 100 ms of the capture's
own offset / 4, and 90 % of them within 20 ms (two shared cores; loopback adds microseconds).
"""

from __future__ import annotations

import asyncio
import struct

import pytest

from rtpstack.capture.replay import (
    Replayer,
    ReplayOptions,
    ReplayPlan,
    ReplaySummary,
    ScheduledPacket,
    media_packets,
)
from rtpstack.io.udp import Datagram, UdpEndpoint, open_udp_endpoint
from rtpstack.rtp import RtpPacket
from rtpstack.srtp import SrtpKeyingMaterial, SrtpSession
from tests.conftest import corpus_path

VP8 = "pcaps/str0m__vp8.pcap"


async def _collect(endpoint_count: int, receiver: UdpEndpoint, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while receiver.received < endpoint_count:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.01)


async def test_replay_vp8_arrives_identical_and_on_time() -> None:
    packets = list(media_packets(corpus_path(VP8)))
    rtp = [p for p in packets if p.kind == "rtp"]
    assert len(rtp) == 104
    plan = ReplayPlan(packets, ReplayOptions(speed=4.0))
    async with await open_udp_endpoint() as receiver:
        async with Replayer(plan, receiver.local_address) as replayer:
            summary = await asyncio.wait_for(replayer.run(), timeout=10)
        await _collect(len(packets), receiver, 2.0)
        got = receiver.drain()
    assert summary.sent == len(packets) and summary.errors == 0
    assert [d.data for d in got] == [p.data for p in packets]  # bytes, order, count
    seqs = [RtpPacket.parse(d.data).sequence_number for d in got]
    assert seqs == [RtpPacket.parse(p.data).sequence_number for p in rtp]
    # timing: arrival offset against the capture's offset divided by the speed
    t0 = got[0].time
    errors = sorted(
        abs((d.time - t0) - (p.timestamp_ns - packets[0].timestamp_ns) / 1e9 / 4)
        for d, p in zip(got, packets, strict=True)
    )
    assert errors[-1] < 0.100, errors[-5:]
    assert errors[int(len(errors) * 0.9)] < 0.020
    duration = (packets[-1].timestamp_ns - packets[0].timestamp_ns) / 1e9 / 4
    assert abs((got[-1].time - t0) - duration) < 0.100


async def test_fast_replay_with_rewrites_loops_and_srtp() -> None:
    packets = list(media_packets(corpus_path(VP8)))
    keys = SrtpKeyingMaterial.generate()
    options = ReplayOptions(speed=0.0, rewrite_ssrc={0xEEDF3944: 0x1234}, rewrite_pt={96: 100},
                            loops=2, srtp_key=keys)
    plan = ReplayPlan(packets, options)
    assert len(plan) == 2 * len(packets)
    async with await open_udp_endpoint(queue_size=1000) as receiver:
        async with Replayer(plan, receiver.local_address) as replayer:
            summary = await asyncio.wait_for(replayer.run(), timeout=10)
        await _collect(len(plan), receiver, 2.0)
        got = receiver.drain()
    assert summary.sent == 208 and summary.late == 0
    assert len(got) == 208
    rx = SrtpSession(keys)
    clear = [RtpPacket.parse(rx.unprotect(d.data)) for d in got]
    originals = [RtpPacket.parse(p.data) for p in packets]
    assert {c.ssrc for c in clear} == {0x1234} and {c.payload_type for c in clear} == {100}
    assert [c.payload for c in clear] == [o.payload for o in originals] * 2
    # the second pass continues the sequence numbers instead of restarting
    first_seq = originals[0].sequence_number
    assert [c.sequence_number for c in clear] == [
        (first_seq + i) % 65536 for i in range(208)
    ]
    assert clear[104].timestamp > clear[103].timestamp


def test_plan_chooses_streams_and_ports() -> None:
    packets = list(media_packets(corpus_path("pcaps/ndpi__sip.pcap")))
    kinds = sorted({p.kind for p in packets})
    assert kinds == ["rtcp", "rtp"]
    rtp_only = ReplayPlan(packets, ReplayOptions(include_rtcp=False))
    assert {i.kind for i in rtp_only} == {"rtp"}
    none = ReplayPlan(packets, ReplayOptions(ssrcs={1}))
    assert len(none) == 0
    items = list(ReplayPlan(packets, ReplayOptions(speed=2.0)))
    assert items[0].due == 0.0
    span = (packets[-1].timestamp_ns - packets[0].timestamp_ns) / 1e9
    assert items[-1].due == pytest.approx(span / 2)
    r = Replayer(ReplayPlan(packets), ("127.0.0.1", 9), rtcp_port=11, port_map={40392: 13})
    rtcp = ScheduledPacket(0, b"", "rtcp", 1, 40393)
    assert r._port(rtcp) == 11
    assert r._port(ScheduledPacket(0, b"", "rtp", 1, 40392)) == 13
    assert r._port(ScheduledPacket(0, b"", "rtp", 1, 5)) == 9


def test_plan_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="speed must be >= 0"):
        ReplayPlan([], ReplayOptions(speed=-1))
    with pytest.raises(ValueError, match="loops must be >= 1"):
        ReplayPlan([], ReplayOptions(loops=0))


async def test_run_needs_async_with() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await Replayer(ReplayPlan([]), ("127.0.0.1", 9)).run()


async def test_udp_endpoint_queue_is_bounded_and_callback_works() -> None:
    seen: list[Datagram] = []
    async with await open_udp_endpoint(queue_size=3) as small, \
            await open_udp_endpoint(on_datagram=seen.append) as cb, \
            await open_udp_endpoint() as sender:
        for i in range(6):
            sender.sendto(struct.pack("!I", i), small.local_address)
            sender.sendto(struct.pack("!I", i), cb.local_address)
        for _ in range(100):
            if small.received == 6 and cb.received == 6:
                break
            await asyncio.sleep(0.01)
        assert [d.data for d in small.drain()] == [struct.pack("!I", i) for i in range(3)]
        assert small.dropped == 3
        assert [d.data for d in seen] == [struct.pack("!I", i) for i in range(6)]
        assert seen[0].addr == sender.local_address
        with pytest.raises(TimeoutError):
            await small.recv(timeout=0.05)


def test_summary_text() -> None:
    s = ReplaySummary(sent=3, late=1, errors=0, bytes=30, max_lateness=0.012, elapsed=1.5)
    assert str(s) == "sent 3 packets (30 bytes) in 1.500 s, late 1 (max 12.0 ms), errors 0"
