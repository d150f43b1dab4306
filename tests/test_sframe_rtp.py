"""SFrame over RTP (draft-ietf-avtcore-rtp-sframe): descriptor, fragmentation, and reassembly
under loss, reordering and duplication (hypothesis), header fields and extensions in clear."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtpstack.e2ee import FrameDecryptor, FrameEncryptor
from rtpstack.headerext import HeaderExtension
from rtpstack.rtp import RtpPacket
from rtpstack.seqnum import seq_add
from rtpstack.sframe import MalformedHeaderError
from rtpstack.sframe.rtp import (
    FrameReassembler,
    SFrameDescriptor,
    fragment,
    packetize_rtp,
)


def test_descriptor_bits() -> None:
    assert bytes(SFrameDescriptor(True, False)) == b"\x80"
    assert bytes(SFrameDescriptor(False, True)) == b"\x40"
    assert bytes(SFrameDescriptor(True, True, packetized=True)) == b"\xe0"
    d = SFrameDescriptor.parse(b"\x5f rest")
    assert (d.start, d.end, d.packetized, d.reserved) == (False, True, False, 0x1F)
    with pytest.raises(MalformedHeaderError, match=r"^SFrame RTP payload: empty, no descriptor$"):
        SFrameDescriptor.parse(b"")


def test_fragment_shapes() -> None:
    assert fragment(b"abc", 10) == [b"\xc0abc"]
    parts = fragment(bytes(10), 4)  # 3 bytes per fragment
    assert [p[0] for p in parts] == [0x80, 0x00, 0x00, 0x40]
    assert b"".join(p[1:] for p in parts) == bytes(10)
    assert all(len(p) <= 4 for p in parts)
    with pytest.raises(ValueError):
        fragment(b"x", 1)
    with pytest.raises(ValueError):
        fragment(b"", 100)


frames_strategy = st.lists(st.binary(min_size=1, max_size=2500), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    frames=frames_strategy,
    max_payload=st.integers(2, 1200),
    first_seq=st.integers(0, 0xFFFF),
    seed=st.integers(0, 2**32 - 1),
    loss=st.floats(0, 0.3),
    dup=st.floats(0, 0.2),
)
def test_reassembly_with_loss_reordering_and_duplicates(
    frames: list[bytes], max_payload: int, first_seq: int, seed: int, loss: float, dup: float
) -> None:
    rng = random.Random(seed)
    packets: list[tuple[int, int, bool, bytes, int]] = []  # seq, ts, marker, payload, frame no.
    seq = first_seq
    for n, frame in enumerate(frames):
        parts = fragment(frame, max_payload)
        for i, p in enumerate(parts):
            packets.append((seq, 3000 * n, i == len(parts) - 1, p, n))
            seq = seq_add(seq, 1)
    if len(packets) > 1500:
        packets = packets[:1500]  # stay inside the reassembler's age window
    lost = {i for i in range(len(packets)) if rng.random() < loss}
    delivered = [p for i, p in enumerate(packets) if i not in lost]
    delivered += [p for p in delivered if rng.random() < dup]
    rng.shuffle(delivered)
    indices: dict[int, list[int]] = {}
    for i, pkt in enumerate(packets):
        indices.setdefault(pkt[4], []).append(i)
    complete = {  # every packet delivered, and the frame was not cut by the 1500 limit
        n for n, idx in indices.items()
        if not set(idx) & lost and packets[idx[-1]][3][0] & 0x40
    }
    r = FrameReassembler()
    out = []
    for seq_no, ts, marker, payload, _ in delivered:
        out.extend(r.push(seq_no, ts, marker, payload))
    got = {f.timestamp // 3000: f for f in out}
    assert len(got) == len(out)  # each frame at most once, despite duplicates
    assert set(got) == complete
    for n, f in got.items():
        assert f.data == frames[n]
        assert f.marker
    assert r.frames == len(out)


def test_frame_with_missing_middle_never_completes_and_ages_out() -> None:
    r = FrameReassembler(max_age=50)
    parts = fragment(bytes(30), 11)  # 3 packets
    assert r.push(100, 1, False, parts[0]) == []
    assert r.push(102, 1, True, parts[2]) == []
    later = fragment(b"next", 100)[0]
    assert [f.data for f in r.push(200, 2, True, later)] == [b"next"]
    assert r.dropped_packets == 2  # the two halves of the broken frame
    assert r.push(101, 1, False, parts[1]) == []  # too late: the rest is gone


def test_runs_with_mixed_timestamps_are_refused() -> None:
    r = FrameReassembler()
    a, b = fragment(bytes(4), 3)
    assert r.push(1, 10, False, a) == []
    assert r.push(2, 11, True, b) == []
    assert r.malformed == 1


def test_rtp_packets_keep_codec_fields_and_extensions_in_clear() -> None:
    ext = HeaderExtension.build({1: b"\x30", 3: b"\x01\x02"})
    template = RtpPacket(payload_type=96, timestamp=0xFFFFFFF0, ssrc=0x1234, csrcs=(7,),
                         extension=ext)
    enc = FrameEncryptor("correct horse battery staple", "s-rtp", 5)
    dec = FrameDecryptor("correct horse battery staple", "s-rtp")
    ciphertext = enc.encrypt(bytes(range(256)) * 12, stream=1)
    pkts = packetize_rtp(ciphertext, template, 0xFFFE, 1000, marker=True)
    assert len(pkts) == 4
    assert [p.sequence_number for p in pkts] == [0xFFFE, 0xFFFF, 0, 1]
    assert [p.marker for p in pkts] == [False, False, False, True]
    for p in pkts:
        assert (p.payload_type, p.timestamp, p.ssrc, p.csrcs) == (96, 0xFFFFFFF0, 0x1234, (7,))
        assert p.extension == ext
        assert len(p.payload) <= 1000
    wire = [bytes(p) for p in pkts]
    for w in wire:
        assert bytes(ext.data) in w  # the extension bytes travel as they are
    r = FrameReassembler()
    out = []
    for w in reversed(wire):
        out.extend(r.push_packet(RtpPacket.parse(w)))
    assert len(out) == 1 and out[0].data == ciphertext
    assert (out[0].first_seq, out[0].last_seq, out[0].packet_count) == (0xFFFE, 1, 4)
    assert dec.decrypt(out[0].data) == bytes(range(256)) * 12


def test_marker_false_stays_false() -> None:
    pkts = packetize_rtp(b"x" * 50, RtpPacket(ssrc=1), 10, 20, marker=False)
    assert not any(p.marker for p in pkts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1), st.booleans(),
                          st.binary(max_size=8)), max_size=60))
def test_reassembler_never_crashes_on_arbitrary_packets(
    packets: list[tuple[int, int, bool, bytes]]
) -> None:
    r = FrameReassembler(max_packets=16, max_age=64)
    for seq, ts, marker, payload in packets:
        for f in r.push(seq, ts, marker, payload):
            assert isinstance(f.data, bytes)
    assert len(r._buf) <= 16
