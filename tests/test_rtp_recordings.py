"""RTP packets inside the corpus recordings (Janus .mjr, rtpdump) parse and round-trip.

The container readers here are minimal and local to the test (the formats are described in
the corpus README); the expected counts and payload types are the README's.
"""

from __future__ import annotations

import struct
from collections import Counter

from rtpstack.demux import PacketKind, classify
from rtpstack.fastpath import read_packet
from rtpstack.rtp import RtpPacket
from tests.conftest import corpus_path


def _mjr_records(data: bytes) -> list[bytes]:
    """Old Janus .mjr: records of b"MEETECHO" + 16-bit length + body; the first is the kind."""
    out, i = [], 0
    while i < len(data):
        assert data[i : i + 8] == b"MEETECHO"
        (n,) = struct.unpack_from("!H", data, i + 8)
        out.append(data[i + 10 : i + 10 + n])
        i += 10 + n
    return out


def _rtpdump_records(data: bytes) -> list[tuple[int, bytes]]:
    """rtpdump: text line, 16-octet file header, then (length, plen, offset) + packet."""
    i = data.index(b"\n") + 1 + 16
    out = []
    while i < len(data):
        length, plen, _offset = struct.unpack_from("!HHI", data, i)
        out.append((plen, data[i + 8 : i + length]))
        i += length
    assert i == len(data)
    return out


def _check_round_trip(raw: bytes) -> RtpPacket:
    pkt = RtpPacket.parse(raw)
    assert bytes(pkt) == raw
    view = read_packet(raw)
    assert view[:5] == (pkt.marker, pkt.payload_type, pkt.sequence_number, pkt.timestamp,
                        pkt.ssrc)
    assert raw[view[5] : view[6]] == pkt.payload
    return pkt


def test_janus_audio_recording() -> None:
    recs = _mjr_records(corpus_path("vectors/janus__rec-sample-audio.mjr").read_bytes())
    assert recs[0] == b"audio"
    pkts = [_check_round_trip(r) for r in recs[1:]]
    assert len(pkts) == 529
    assert Counter(p.payload_type for p in pkts) == {111: 529}
    assert len({p.ssrc for p in pkts}) == 1


def test_janus_video_recording() -> None:
    recs = _mjr_records(corpus_path("vectors/janus__rec-sample-video.mjr").read_bytes())
    assert recs[0] == b"video"
    pkts = [_check_round_trip(r) for r in recs[1:]]
    assert len(pkts) == 176
    assert Counter(p.payload_type for p in pkts) == {100: 176}
    assert any(p.marker for p in pkts)  # VP8 frames end with the marker bit


def test_rtpdump_bark() -> None:
    recs = _rtpdump_records(corpus_path("vectors/rtptools__bark.rtp").read_bytes())
    rtp = [r for plen, r in recs if plen]
    rtcp = [r for plen, r in recs if not plen]  # rtpdump marks RTCP records with plen 0
    assert len(rtp) == 15 and len(rtcp) == 1
    for plen, r in recs:
        if plen:
            assert len(r) == plen
    pkts = [_check_round_trip(r) for r in rtp]
    assert {p.payload_type for p in pkts} == {0}  # G.711 mu-law
    assert classify(rtcp[0]) is PacketKind.RTCP
