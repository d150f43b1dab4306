"""The recorder: pcapng + SDP that the capture analyzer (and tshark) read back with zero loss."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router.config import PortRange, RouterConfig
from router.drops import DropCounters
from router.errors import Conflict
from router.forwarding import ForwardingCore
from router.media import RouterMediaPlane
from router.recorder import RecordedStream, Recorder, RecorderError, sdp_for
from router.sessions import Kind
from rtpstack.capture import analyze_file
from rtpstack.capture.detect import hints_from_sdp
from tests.conftest import require_program
from tests.test_forwarding_helpers import rtp_bytes
from tests.test_media_udp import Peer, publication, until

pytestmark = pytest.mark.timeout(30)

AUDIO = RecordedStream(0xA1, "audio", 111, "opus", 48000, 2, "minptime=10",
                       ((1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"),))
VIDEO = RecordedStream(0xB2, "video", 96, "VP8", 90000)


def test_sdp_describes_each_stream_on_its_port() -> None:
    sdp = sdp_for([AUDIO, VIDEO], 5004, "rec")
    assert sdp.splitlines() == [
        "v=0",
        "o=- 0 0 IN IP4 127.0.0.1",
        "s=rec",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        "m=audio 5004 RTP/AVP 111",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        f"a=ssrc:{0xA1} cname:recording",
        "a=recvonly",
        "m=video 5006 RTP/AVP 96",
        "a=rtpmap:96 VP8/90000",
        f"a=ssrc:{0xB2} cname:recording",
        "a=recvonly",
    ]
    hints = hints_from_sdp(sdp)
    assert hints.clock_rate(111) == 48000 and hints.clock_rate(96) == 90000


def test_recording_reads_back_with_zero_loss(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "r.pcapng", [AUDIO, VIDEO], wall_offset=1_700_000_000.0)
    audio, video = rec.tap_for(0xA1), rec.tap_for(0xB2)
    for i in range(200):
        t = i * 0.02
        audio(rtp_bytes(0xA1, 65500 + i & 0xFFFF, 960 * i, b"a" * 40, pt=111, level=30), t)
        if i % 2 == 0:
            video(rtp_bytes(0xB2, 100 + i // 2, 3000 * (i // 2), b"v" * 900, pt=96,
                            marker=True), t + 0.001)
    rec.close()
    assert rec.closed and rec.packets == 300
    assert (tmp_path / "r.sdp").read_bytes().startswith(b"v=0\r\no=- ")
    result = analyze_file(tmp_path / "r.pcapng",
                          hints_from_sdp((tmp_path / "r.sdp").read_text()))
    by_ssrc = {s.ssrc: s for s in result.streams}
    assert set(by_ssrc) == {0xA1, 0xB2}
    a, v = by_ssrc[0xA1], by_ssrc[0xB2]
    assert (a.packets, a.expected, a.lost, a.seq_errors, a.dport) == (200, 200, 0, 0, 5004)
    assert (v.packets, v.expected, v.lost, v.dport) == (100, 100, 0, 5006)
    assert a.clock_rate == 48000 and v.clock_rate == 90000
    assert a.first_epoch == pytest.approx(1_700_000_000.0, abs=1e-3)
    # Without the SDP the analyzer still finds both streams, lossless.
    plain = analyze_file(tmp_path / "r.pcapng")
    assert sorted((s.ssrc, s.lost) for s in plain.streams) == [(0xA1, 0), (0xB2, 0)]


def test_tshark_reads_the_recording(tmp_path: Path) -> None:
    tshark = require_program("tshark")
    rec = Recorder(tmp_path / "t.pcapng", [VIDEO])
    tap = rec.tap_for(0xB2)
    for i in range(50):
        tap(rtp_bytes(0xB2, i, 3000 * i, b"v" * 100, pt=96), i * 0.03)
    rec.close()
    out = subprocess.run(
        ["timeout", "-k", "2", "20", tshark, "-r", str(tmp_path / "t.pcapng"),
         "-d", "udp.port==5004,rtp", "-T", "fields", "-e", "rtp.ssrc", "-e", "rtp.seq"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")
    rows = [line.split("\t") for line in out if line]
    assert len(rows) == 50
    assert {int(r[0], 16) for r in rows} == {0xB2}
    assert [int(r[1]) for r in rows] == list(range(50))


def test_recorder_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(RecorderError, match="at least one stream"):
        Recorder(tmp_path / "x.pcapng", [])
    with pytest.raises(RecorderError, match="listed twice"):
        Recorder(tmp_path / "x.pcapng", [VIDEO, VIDEO])
    with pytest.raises(RecorderError, match="cannot create recording"):
        Recorder(tmp_path / "missing" / "x.pcapng", [VIDEO])
    rec = Recorder(tmp_path / "y.pcapng", [VIDEO], drops=DropCounters())
    with pytest.raises(RecorderError, match="not part of this recording"):
        rec.tap_for(0xA1)
    rec.close()
    rec.tap_for(0xB2)(rtp_bytes(0xB2, 1, 1, b""), 0.0)  # after close: counted, not raised
    assert rec.drops.snapshot()["record_failed"] == 1


@pytest.fixture
async def plane() -> AsyncIterator[RouterMediaPlane]:
    p = RouterMediaPlane(RouterConfig(media_ports=PortRange(0, 0)),
                         core=ForwardingCore(rtcp_interval=0.2))
    await p.start()
    yield p
    await p.close()


async def test_routed_clear_session_recording_over_udp(
    plane: RouterMediaPlane, tmp_path: Path
) -> None:
    await plane.add_session("clear", e2ee=False)
    alice = await Peer(await plane.add_participant("clear", "alice")).open()
    bob = await Peer(await plane.add_participant("clear", "bob")).open()
    try:
        for p in (alice, bob):
            p.send(p.ep.rr())
        pubs = [publication("aa", "alice", Kind.AUDIO, 0xA1),
                publication("av", "alice", Kind.VIDEO, 0xA2)]
        for pub in pubs:
            await plane.add_publication("clear", pub)
        await plane.add_subscription("clear", "s1", "bob", pubs[1])
        path = tmp_path / "arch.pcapng"
        await plane.start_recording("clear", "rec1", pubs, path)
        assert await until(lambda: all(p.addr for p in plane.core.participants.values()))
        for i in range(100):
            alice.send(alice.ep.rtp(0xA1, 1000 + i, 960 * i, b"a" * 60, pt=111, level=50))
            alice.send(alice.ep.rtp(0xA2, 2000 + i, 3000 * i, bytes([i]) * 700, pt=96))
            if i % 10 == 9:
                await asyncio.sleep(0.005)
        assert await until(lambda: plane.core.packets_in == 200 and len(bob.rtp) == 100)
        await plane.stop_recording("clear", "rec1")
        # After stop nothing more is written.
        alice.send(alice.ep.rtp(0xA1, 1100, 96000, b"late", pt=111))
        assert await until(lambda: plane.core.packets_in == 201)
    finally:
        alice.close()
        bob.close()
    sdp = path.with_suffix(".sdp").read_text()
    result = analyze_file(path, hints_from_sdp(sdp))
    by_ssrc = {s.ssrc: s for s in result.streams}
    assert {k: (s.packets, s.lost) for k, s in by_ssrc.items()} == {0xA1: (100, 0),
                                                                    0xA2: (100, 0)}
    assert by_ssrc[0xA2].payload_bytes == 100 * 700


async def test_recording_is_refused_in_an_e2ee_session(
    plane: RouterMediaPlane, tmp_path: Path
) -> None:
    await plane.add_session("secret", e2ee=True)
    await plane.add_participant("secret", "alice")
    pub = publication("aa", "alice", Kind.AUDIO, 0xA1)
    await plane.add_publication("secret", pub)
    with pytest.raises(Conflict, match="end-to-end encryption") as info:
        await plane.start_recording("secret", "r", [pub], tmp_path / "no.pcapng")
    assert info.value.status == 409
    assert not (tmp_path / "no.pcapng").exists()
