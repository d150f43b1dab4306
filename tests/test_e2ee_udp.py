"""End to end over real UDP on 127.0.0.1: two senders encrypt frames with their secret, carry
them as SFrame-in-RTP packets (reordered, one frame's packet lost), and a receiver with the
same secret reassembles and decrypts every complete frame, while one with another secret
reports the mismatch. Bounded: a fixed number of packets and a 5 s socket timeout."""

from __future__ import annotations

import random
import socket

from rtpstack.e2ee import (
    ENCRYPTION_SECRET_MISMATCH,
    FrameDecryptor,
    FrameEncryptor,
    KidAllocator,
)
from rtpstack.rtp import RtpPacket
from rtpstack.sframe import AuthenticationError
from rtpstack.sframe.rtp import FrameReassembler, packetize_rtp

SECRET = "correct horse battery staple"
SESSION = "udp-session"


def test_sframe_rtp_over_loopback_udp() -> None:
    alloc = KidAllocator()
    senders = {0x1111: FrameEncryptor(SECRET, SESSION, alloc.allocate()),
               0x2222: FrameEncryptor(SECRET, SESSION, alloc.allocate())}
    rng = random.Random(7)
    frames: dict[tuple[int, int], bytes] = {}
    datagrams: list[bytes] = []
    for ssrc, enc in senders.items():
        seq = 65530  # wraps during the test
        for n in range(12):
            media = rng.randbytes(rng.randint(50, 4000))
            ts = 90000 + 3000 * n
            frames[(ssrc, ts)] = media
            pkts = packetize_rtp(enc.encrypt(media), RtpPacket(payload_type=96, ssrc=ssrc,
                                                               timestamp=ts), seq, 1100,
                                 marker=True)
            seq = pkts[-1].sequence_number + 1
            datagrams.extend(bytes(p) for p in pkts)
    lost = next(d for d in datagrams if len(d) > 1000)  # a fragment of a multi-packet frame
    lost_pkt = RtpPacket.parse(lost)
    datagrams.remove(lost)
    rng.shuffle(datagrams)

    rx_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        rx_sock.bind(("127.0.0.1", 0))
        rx_sock.settimeout(5.0)
        for d in datagrams:
            tx_sock.sendto(d, rx_sock.getsockname())
        received = [rx_sock.recv(2048) for _ in datagrams]
    finally:
        rx_sock.close()
        tx_sock.close()

    good = FrameDecryptor(SECRET, SESSION)
    other = FrameDecryptor("a different secret", SESSION)
    reassemblers: dict[int, FrameReassembler] = {}
    decoded: dict[tuple[int, int], bytes] = {}
    refused = 0
    for d in received:
        pkt = RtpPacket.parse(d)
        r = reassemblers.setdefault(pkt.ssrc, FrameReassembler())
        for f in r.push_packet(pkt):
            decoded[(pkt.ssrc, f.timestamp)] = good.decrypt(f.data)
            try:
                other.decrypt(f.data)
            except AuthenticationError:
                refused += 1
    missing = {(lost_pkt.ssrc, lost_pkt.timestamp)}
    assert set(decoded) == set(frames) - missing
    assert all(decoded[k] == frames[k] for k in decoded)
    assert refused == len(decoded)
    assert good.drain_events() == []
    kinds = [e.kind for e in other.drain_events()]
    assert kinds == [ENCRYPTION_SECRET_MISMATCH] * 2  # one per sender
