"""RFC 7983 / RFC 5761 demultiplexing of one datagram."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtpstack.demux import PacketKind, classify, classify_strict
from rtpstack.errors import DemuxError
from tests.conftest import corpus_path

K = PacketKind
STUN_BINDING = bytes.fromhex("0001 0000 2112a442") + bytes(12)
DTLS_HELLO = bytes.fromhex("16 fefd 0000 000000000000 0010") + bytes(16)
RTP = bytes.fromhex("80 6f 0001 00000001 00000002") + b"payload"
RTCP_RR = bytes.fromhex("81 c9 0007 00000001") + bytes(24)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (STUN_BINDING, K.STUN),
        (bytes([3]) + STUN_BINDING[1:], K.STUN),
        (DTLS_HELLO, K.DTLS),
        (bytes([20]) + DTLS_HELLO[1:], K.DTLS),
        (bytes([63]) + DTLS_HELLO[1:], K.DTLS),
        (RTP, K.RTP),
        (bytes([0x80, 0xE0]) + RTP[2:], K.RTP),  # marker set, PT 96
        (bytes([0x80, 0xDF + 1]) + RTP[2:], K.RTP),  # 224: marker + PT 96 -> RTP
        (bytes([0x80, 0xBF]) + RTP[2:], K.RTP),  # 191: marker + PT 63 -> RTP
        (RTCP_RR, K.RTCP),
        (bytes([0x80, 192]) + RTCP_RR[2:], K.RTCP),  # FIR (RFC 2032) still RTCP range
        (bytes([0x80, 223]) + RTCP_RR[2:], K.RTCP),
        (bytes.fromhex("81 c8 0006 00000001") + bytes(24), K.RTCP),  # SR
        (bytes.fromhex("40 00 0004 deadbeef"), K.TURN_CHANNEL),
        (bytes.fromhex("4f ff 0000"), K.TURN_CHANNEL),
        (bytes.fromhex("40 00 0002 aabbccdd"), K.TURN_CHANNEL),  # UDP: may carry extra octets
    ],
)
def test_classify(data: bytes, kind: PacketKind) -> None:
    assert classify(data) is kind
    assert classify_strict(data) is kind
    assert classify(bytearray(data)) is kind


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty datagram"),
        (STUN_BINDING[:19], "STUN datagram too short: 19 octets, need 20"),
        (DTLS_HELLO[:12], "DTLS datagram too short: 12 octets, need 13"),
        (RTP[:11], "RTP datagram too short: 11 octets, need 12"),
        (RTCP_RR[:7], "RTCP datagram too short: 7 octets, need 8"),
        (bytes.fromhex("40 00 0005 deadbeef"),
         "TURN ChannelData length 5 exceeds the 4 data octets"),
        (bytes.fromhex("4000"), "TURN ChannelData too short: 2 octets, need 4"),
        (bytes([16]) + bytes(30), "first octet 16 is ZRTP, which is not supported"),
        (bytes([4]) + bytes(30), "first octet 4 is not in any RFC 7983 range"),
        (bytes([100]) + bytes(30), "first octet 100 is not in any RFC 7983 range"),
        (bytes([0xC0]) + bytes(30), "first octet 192 is not in any RFC 7983 range"),
        (bytes([0xFF]) + bytes(30), "first octet 255 is not in any RFC 7983 range"),
    ],
)
def test_unknown(data: bytes, reason: str) -> None:
    assert classify(data) is K.UNKNOWN
    with pytest.raises(DemuxError) as exc:
        classify_strict(data)
    assert str(exc.value) == f"cannot demultiplex datagram: {reason}"


@given(st.binary(max_size=40))
def test_classify_never_raises(data: bytes) -> None:
    kind = classify(data)
    assert isinstance(kind, PacketKind)
    if kind is K.UNKNOWN:
        with pytest.raises(DemuxError):
            classify_strict(data)
    else:
        assert classify_strict(data) is kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("vectors/aiortc__rtp.bin", K.RTP),
        ("vectors/aiortc__rtp_with_sdes_mid.bin", K.RTP),
        ("vectors/janus__rtp_1_video-with-ext.rtp", K.RTP),
        ("vectors/mediasoup__packet3.raw", K.RTP),
        ("vectors/aiortc__rtcp_sr.bin", K.RTCP),
        ("vectors/aiortc__rtcp_psfb_pli.bin", K.RTCP),
        ("vectors/janus__twcc-feedback.rtcp", K.RTCP),
        ("vectors/janus__rr-sdes-bye.rtcp", K.RTCP),
    ],
)
def test_corpus_packets(name: str, kind: PacketKind) -> None:
    assert classify(corpus_path(name).read_bytes()) is kind
