"""A real third-party SRTP sender through the router: GStreamer (libsrtp, AEAD_AES_128_GCM).

GStreamer publishes VP8 over SRTP with the hop's ``client_key``; the router learns its address
from the first packet that authenticates, and forwards to a raw subscriber endpoint.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from router.config import PortRange, RouterConfig
from router.media import RouterMediaPlane
from router.sessions import Kind
from rtpstack.seqnum import seq_diff
from tests.conftest import require_program
from tests.test_media_udp import Peer, publication, until

pytestmark = [pytest.mark.peer, pytest.mark.timeout(60)]

FRAMES = 30
GST_SSRC = 0x4D2


async def test_gstreamer_publisher_through_the_router() -> None:
    gst = require_program("gst-launch-1.0")
    plane = RouterMediaPlane(RouterConfig(media_ports=PortRange(0, 0)))
    await plane.start()
    sub: Peer | None = None
    try:
        await plane.add_session("s", e2ee=False)
        gst_info = await plane.add_participant("s", "gst")
        sub = await Peer(await plane.add_participant("s", "viewer")).open()
        sub.send(sub.ep.rr())
        pub = publication("v", "gst", Kind.VIDEO, GST_SSRC)
        await plane.add_publication("s", pub)
        out_ssrc = (await plane.add_subscription("s", "sub", "viewer", pub))[GST_SSRC]
        key = (gst_info.client_key.key + gst_info.client_key.salt).hex()
        pipeline = (
            f"videotestsrc num-buffers={FRAMES} ! video/x-raw,width=160,height=120,framerate=30/1"
            " ! vp8enc deadline=1 ! rtpvp8pay pt=96 mtu=1200"
            f" ssrc={GST_SSRC} ! srtpenc key={key} rtp-cipher=aes-128-gcm rtp-auth=null"
            " rtcp-cipher=aes-128-gcm rtcp-auth=null"
            f" ! udpsink host=127.0.0.1 port={plane.ports[0]} sync=true"
        )
        proc = await asyncio.create_subprocess_exec(
            "timeout", "-k", "2", "20", gst, "-q", *pipeline.split(),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 25)
        assert proc.returncode == 0, err.decode(errors="replace")[-500:]
        assert await until(lambda: sum(p.marker for p in sub.rtp) >= FRAMES, 5.0)
    finally:
        if sub is not None:
            sub.close()
        await plane.close()
    stats = plane.stats()
    assert stats.srtp_failures == 0
    assert plane.core.participants["s\x00gst"].addr is not None
    assert {p.ssrc for p in sub.rtp} == {out_ssrc}
    assert {p.payload_type for p in sub.rtp} == {96}
    seqs = [p.sequence_number for p in sub.rtp]
    assert all(seq_diff(b, a) == 1 for a, b in itertools.pairwise(seqs))
    # VP8 payload descriptor (RFC 7741) of each frame's first packet: S bit set, PID 0.
    starts = [p.payload[0] for p in sub.rtp if p.payload and p.payload[0] & 0x10]
    assert len(starts) >= FRAMES
    assert stats.packets_in >= len(sub.rtp)
