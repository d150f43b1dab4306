"""Link, IP (fragments, IPv6 extension headers), UDP/TCP and TURN decoding."""

from __future__ import annotations

import struct

import pytest

from rtpstack.capture.ip import PROTO_TCP, PROTO_UDP, FragmentReassembler, IpDecoder, Segment
from rtpstack.capture.link import ETHERTYPE_IPV4, ETHERTYPE_IPV6, ethernet_frame, strip_link
from rtpstack.capture.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
)
from rtpstack.capture.turn import is_channel_data, is_stun, split_stream, unwrap
from rtpstack.errors import CaptureParseError

RTP = bytes([0x80, 0x00, 0x00, 0x01]) + struct.pack("!II", 160, 0xCAFE) + b"\xd5" * 160
IP4 = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(RTP), 7, 0, 64, 17, 0,
                  bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + struct.pack(
    "!HHHH", 4000, 5004, 8 + len(RTP), 0) + RTP


def _udp(payload: bytes, sport: int = 4000, dport: int = 5004) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def _ipv4(payload: bytes, *, ident: int = 1, frag: int = 0, proto: int = 17) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                       bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + payload


MAC = b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02"

LINK_CASES = [
    ("ethernet", LINKTYPE_ETHERNET, ethernet_frame(IP4)),
    ("ethernet+802.1Q", LINKTYPE_ETHERNET, MAC + b"\x81\x00\x00\x64\x08\x00" + IP4),
    ("ethernet+QinQ", LINKTYPE_ETHERNET,
     MAC + b"\x88\xa8\x00\x0a\x81\x00\x00\x64\x08\x00" + IP4),
    ("ethernet+PPPoE", LINKTYPE_ETHERNET,
     MAC + b"\x88\x64" + b"\x11\x00\x00\x01" + struct.pack("!H", len(IP4) + 2) + b"\x00\x21"
     + IP4),
    ("linux cooked v1", LINKTYPE_LINUX_SLL, b"\0\0\0\1\0\6" + b"\0" * 8 + b"\x08\x00" + IP4),
    ("linux cooked v2", LINKTYPE_LINUX_SLL2, b"\x08\x00\0\0" + b"\0" * 16 + IP4),
    ("raw ip", LINKTYPE_RAW, IP4),
    ("ipv4 link type", LINKTYPE_IPV4, IP4),
    ("bsd null little-endian", LINKTYPE_NULL, b"\x02\0\0\0" + IP4),
    ("bsd null big-endian", LINKTYPE_NULL, b"\0\0\0\x02" + IP4),
    ("openbsd loop", LINKTYPE_LOOP, b"\0\0\0\x02" + IP4),
]


@pytest.mark.parametrize(("linktype", "frame"), [c[1:] for c in LINK_CASES],
                         ids=[c[0] for c in LINK_CASES])
def test_link_layers_reach_the_same_udp_payload(linktype: int, frame: bytes) -> None:
    ethertype, net = strip_link(linktype, frame)
    assert ethertype == ETHERTYPE_IPV4
    seg = IpDecoder().decode(ethertype, net, 0)
    assert seg == Segment("10.0.0.1", 4000, "10.0.0.2", 5004, PROTO_UDP, RTP)


def test_ethernet_trailer_padding_is_trimmed_by_ip_length() -> None:
    small = _ipv4(_udp(b"abc"))
    frame = ethernet_frame(small) + b"\0" * 20  # minimum frame size padding
    ethertype, net = strip_link(LINKTYPE_ETHERNET, frame)
    seg = IpDecoder().decode(ethertype, net, 0)
    assert seg is not None and seg.payload == b"abc"


@pytest.mark.parametrize(
    ("linktype", "frame", "message"),
    [
        (LINKTYPE_ETHERNET, b"\0" * 10, "truncated Ethernet header (10 bytes)"),
        (LINKTYPE_ETHERNET, MAC + b"\x81\x00\x00", "truncated 802.1Q tag"),
        (LINKTYPE_LINUX_SLL, b"\0" * 15, "truncated Linux cooked header (15 bytes)"),
        (LINKTYPE_LINUX_SLL2, b"\0" * 19, "truncated Linux cooked v2 header (19 bytes)"),
        (LINKTYPE_NULL, b"\0\0", "truncated loopback header (2 bytes)"),
        (147, b"\0" * 20, "unsupported link type 147"),
    ],
)
def test_link_errors(linktype: int, frame: bytes, message: str) -> None:
    with pytest.raises(CaptureParseError) as info:
        strip_link(linktype, frame)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x45" + b"\0" * 10, "truncated IPv4 header (11 bytes)"),
        (IP4[:30], f"truncated IPv4 packet: need {len(IP4)} bytes, have 30"),
        (b"\x44" + IP4[1:], f"bad IPv4 header length 16 (total {len(IP4)})"),
        (_ipv4(b"\0\0\0\0"), "truncated UDP header (4 bytes)"),
        (_ipv4(struct.pack("!HHHH", 1, 2, 100, 0) + b"x"),
         "truncated UDP datagram: need 100 bytes, have 9"),
        (_ipv4(b"\0" * 12 + b"\x20" + b"\0" * 7, proto=6), "bad TCP header length 8"),
    ],
)
def test_ipv4_udp_tcp_errors(data: bytes, message: str) -> None:
    with pytest.raises(CaptureParseError) as info:
        IpDecoder().decode(ETHERTYPE_IPV4, data, 0)
    assert str(info.value) == message


def test_ipv4_fragments_reassemble_out_of_order() -> None:
    payload = _udp(bytes(range(256)) * 8)  # 2056 bytes of UDP
    parts = [(0, payload[:800]), (800, payload[800:1600]), (1600, payload[1600:])]
    dec = IpDecoder()
    order = [parts[2], parts[0], parts[1]]
    results = []
    for off, chunk in order:
        more = off + len(chunk) < len(payload)
        results.append(dec.decode(ETHERTYPE_IPV4,
                                  _ipv4(chunk, ident=99, frag=(0x2000 if more else 0) | off // 8),
                                  1_000))
    assert results[:2] == [None, None]
    assert results[2] is not None and results[2].payload == bytes(range(256)) * 8


def test_fragment_sets_expire_and_are_bounded() -> None:
    r = FragmentReassembler(timeout_ns=1_000, max_pending=2)
    assert r.feed(("a",), 0, True, b"x" * 8, now_ns=0) is None
    assert r.feed(("b",), 0, True, b"x" * 8, now_ns=0) is None
    assert r.feed(("c",), 0, True, b"x" * 8, now_ns=10) is None  # table full: oldest dropped
    assert r.expired == 1
    assert r.feed(("c",), 8, False, b"y", now_ns=5_000) is None  # "c" timed out meanwhile
    assert r.expired == 3


def _ipv6(next_header: int, payload: bytes) -> bytes:
    src = bytes(15) + b"\x01"
    dst = bytes(15) + b"\x02"
    return struct.pack("!IHBB", 6 << 28, len(payload), next_header, 64) + src + dst + payload


def test_ipv6_extension_headers_and_fragments() -> None:
    udp = _udp(RTP)
    hop = bytes([60, 0]) + b"\x01\x04\0\0\0\0"  # hop-by-hop -> destination options
    dst_opts = bytes([44, 0]) + b"\x01\x04\0\0\0\0"  # destination options -> fragment
    first, second = udp[:96], udp[96:]
    frag1 = bytes([17, 0]) + struct.pack("!HI", 0 | 1, 0xABCD)
    frag2 = bytes([17, 0]) + struct.pack("!HI", 96, 0xABCD)
    dec = IpDecoder()
    assert dec.decode(ETHERTYPE_IPV6, _ipv6(0, hop + dst_opts + frag1 + first), 0) is None
    seg = dec.decode(ETHERTYPE_IPV6, _ipv6(0, hop + dst_opts + frag2 + second), 0)
    assert seg == Segment("::1", 4000, "::2", 5004, PROTO_UDP, RTP)


def test_ipv6_errors() -> None:
    with pytest.raises(CaptureParseError, match=r"^truncated IPv6 header \(10 bytes\)$"):
        IpDecoder().decode(ETHERTYPE_IPV6, b"\x60" + b"\0" * 9, 0)
    with pytest.raises(CaptureParseError, match=r"^truncated IPv6 extension header$"):
        IpDecoder().decode(ETHERTYPE_IPV6, _ipv6(0, bytes([17, 5]) + b"\0" * 6), 0)


def test_tcp_segment_payload() -> None:
    tcp = struct.pack("!HHIIBBHHH", 3478, 50000, 1, 1, 5 << 4, 0x18, 1000, 0, 0) + b"data"
    seg = IpDecoder().decode(ETHERTYPE_IPV4, _ipv4(tcp, proto=6), 0)
    assert seg == Segment("10.0.0.1", 3478, "10.0.0.2", 50000, PROTO_TCP, b"data", tcp_seq=1)


def _stun(msg_type: int, attrs: bytes) -> bytes:
    return struct.pack("!HHI", msg_type, len(attrs), 0x2112A442) + b"\x11" * 12 + attrs


def _attr(atype: int, value: bytes) -> bytes:
    return struct.pack("!HH", atype, len(value)) + value + b"\0" * (-len(value) % 4)


def test_turn_channel_data_and_indications_unwrap() -> None:
    channel = struct.pack("!HH", 0x4001, len(RTP)) + RTP
    assert is_channel_data(channel) and unwrap(channel) == RTP
    peer = _attr(0x0012, b"\0\x01\x12\x34" + b"\x01\x02\x03\x04")
    send = _stun(0x0016, peer + _attr(0x0013, RTP))
    data = _stun(0x0017, peer + _attr(0x0013, RTP[:13]))
    assert is_stun(send) and unwrap(send) == RTP
    assert unwrap(data) == RTP[:13]
    binding = _stun(0x0001, _attr(0x0006, b"user"))
    assert is_stun(binding) and unwrap(binding) is None
    assert unwrap(RTP) is None


def test_turn_over_tcp_splits_several_messages_per_segment() -> None:
    odd = RTP[:13]  # 13 bytes: padded to 16 over TCP
    stream = (struct.pack("!HH", 0x4001, len(odd)) + odd + b"\0\0\0"
              + _stun(0x0017, _attr(0x0013, RTP))
              + struct.pack("!HH", 0x4002, len(RTP)) + RTP
              + b"\x40\x03\x01")  # a message cut by the segment boundary
    msgs = split_stream(stream)
    assert [unwrap(m) for m in msgs] == [odd, RTP, RTP]


def test_turn_over_tcp_reassembles_messages_across_segments() -> None:
    from rtpstack.capture.turn import TcpMessageReassembler

    chan = struct.pack("!HH", 0x4001, len(RTP)) + RTP  # 176 bytes
    stun = _stun(0x0017, _attr(0x0013, RTP[:13]))
    stream = chan + stun + chan
    key = ("10.0.0.1", 3478, "10.0.0.2", 50000)
    r = TcpMessageReassembler()
    seq0 = 2**32 - 100  # sequence numbers wrap inside this exchange
    assert r.feed(key, seq0, stream[:100]) == []
    assert r.feed(key, seq0, stream[:100]) == []  # retransmission: ignored
    got = r.feed(key, (seq0 + 60) % 2**32, stream[60:200])  # overlaps 40 old bytes
    assert [unwrap(m) for m in got] == [RTP]
    got = r.feed(key, (seq0 + 200) % 2**32, stream[200:])
    assert [unwrap(m) for m in got] == [RTP[:13], RTP]
    # a lost segment: the partial message is dropped, the next whole one is found again
    base = (seq0 + len(stream)) % 2**32
    assert r.feed(key, base, chan[:50]) == []
    assert r.feed(key, (base + len(chan) + 10) % 2**32, chan) != []
    assert r.discarded == 50
    # bytes that are not TURN framing reset the partial state
    assert r.feed(("x", 1, "y", 2), 0, b"\x16\x03\x01\x00\x10hello") == []
    assert r.discarded > 50
