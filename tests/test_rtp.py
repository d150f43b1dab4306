"""RtpPacket: field tables, exact error messages, serialization, and hypothesis properties."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtpstack.errors import ParseError, RtpParseError
from rtpstack.fastpath import read_packet
from rtpstack.headerext import HeaderExtension
from rtpstack.rtp import RtpPacket

HDR = bytes.fromhex("80 60 1234 00010000 deadbeef")  # v2, PT 96, seq 0x1234, ts 65536


def test_fixed_header_fields() -> None:
    pkt = RtpPacket.parse(bytes.fromhex("80e0fffe ffffffff 00000001") + b"xyz")
    assert (pkt.version, pkt.padding, pkt.marker) == (2, False, True)
    assert (pkt.payload_type, pkt.sequence_number) == (96, 65534)
    assert (pkt.timestamp, pkt.ssrc) == (0xFFFFFFFF, 1)
    assert pkt.csrcs == () and pkt.extension is None
    assert pkt.payload == b"xyz" and pkt.padding_size == 0 and pkt.padding_data == b""
    assert pkt.header_size == 12


def test_build_and_serialize() -> None:
    ext = HeaderExtension.build([(1, b"\xaa"), (3, b"\x01\x02")])
    pkt = RtpPacket(
        marker=True, payload_type=111, sequence_number=7, timestamp=9, ssrc=0x11223344,
        csrcs=(5, 6), extension=ext, payload=b"\x01\x02\x03", padding=True, padding_size=3,
    )
    raw = bytes(pkt)
    assert raw == bytes.fromhex(
        "b2ef0007 00000009 11223344 00000005 00000006"
        "bede0002 10aa3101 02000000"
        "010203 0000 03"
    )
    back = RtpPacket.parse(raw)
    assert back.extension == ext
    # zero padding octets come back as explicit padding_data; everything else is equal
    assert back == dataclasses.replace(pkt, padding_data=b"\x00\x00")


def test_padding_only_packet() -> None:
    raw = HDR[:0] + bytes([0xA0]) + HDR[1:] + bytes(range(1, 8)) + b"\x08"
    pkt = RtpPacket.parse(raw)
    assert pkt.payload == b"" and pkt.padding_size == 8
    assert pkt.padding_data == bytes(range(1, 8))
    assert bytes(pkt) == raw


def test_padding_content_round_trips() -> None:
    raw = bytes([0xA0]) + HDR[1:] + b"pay" + b"\xff\xee\x03"
    pkt = RtpPacket.parse(raw)
    assert (pkt.payload, pkt.padding_size, pkt.padding_data) == (b"pay", 3, b"\xff\xee")
    assert bytes(pkt) == raw


def test_parse_accepts_bytearray_and_memoryview() -> None:
    raw = HDR + b"abc"
    expected = RtpPacket.parse(raw)
    assert RtpPacket.parse(bytearray(raw)) == RtpPacket.parse(memoryview(raw)) == expected
    assert type(RtpPacket.parse(bytearray(raw)).payload) is bytes


def test_parse_on_a_subclass_returns_the_subclass() -> None:
    class Tagged(RtpPacket):
        pass

    pkt = Tagged.parse(HDR + b"abc")
    assert type(pkt) is Tagged
    assert pkt.payload == b"abc" and pkt.sequence_number == 0x1234


def test_packet_is_frozen() -> None:
    pkt = RtpPacket.parse(HDR)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pkt.ssrc = 1  # type: ignore[misc]
    assert type(pkt) is RtpPacket
    assert hash(pkt) == hash(RtpPacket.parse(HDR))


@pytest.mark.parametrize(
    ("raw_hex", "message"),
    [
        ("", "RTP packet too short: 0 octets, the fixed header needs 12"),
        ("8060", "RTP packet too short: 2 octets, the fixed header needs 12"),
        ("4060123400010000deadbeef", "RTP version 1 is not 2"),
        ("0060123400010000deadbeef", "RTP version 0 is not 2"),
        ("c060123400010000deadbeef", "RTP version 3 is not 2"),
        ("8f60123400010000deadbeef", "RTP CSRC list (CC=15) runs past the end of the packet"),
        ("9060123400010000deadbeefbede",
         "RTP header extension header runs past the end of the packet"),
        ("9060123400010000deadbeefbede000110aa00",
         "RTP header extension (length field 1) runs past the end of the packet"),
        ("a060123400010000deadbeef",
         "RTP padding count 239 exceeds the 0 octets after the header"),
        ("a060123400010000deadbeef00", "RTP padding count is 0"),
        ("a060123400010000deadbeef0003",
         "RTP padding count 3 exceeds the 2 octets after the header"),
        ("9060123400010000deadbeefbede00011aaa0000",
         "one-byte header extension element 1 runs past the end of the block"),
        ("9060123400010000deadbeef1000000100000005",
         "two-byte header extension element 5 has no length octet"),
        ("9060123400010000deadbeef1000000107030000",
         "two-byte header extension element 7 runs past the end of the block"),
    ],
)
def test_parse_errors(raw_hex: str, message: str) -> None:
    raw = bytes.fromhex(raw_hex)
    with pytest.raises(RtpParseError) as exc:
        RtpPacket.parse(raw)
    assert str(exc.value) == message
    with pytest.raises(RtpParseError) as exc:
        read_packet(raw)
    assert str(exc.value) == message


def test_id15_stops_element_processing_but_keeps_data() -> None:
    raw = HDR[:0] + bytes([0x90]) + HDR[1:] + bytes.fromhex("bede0002 10aaf0bb 20cc0000") + b"p"
    pkt = RtpPacket.parse(raw)
    assert pkt.extension_elements == ((1, b"\xaa"),)
    assert pkt.get_extension(2) is None
    assert bytes(pkt) == raw


@pytest.mark.parametrize(
    ("pkt", "message"),
    [
        (RtpPacket(csrcs=tuple(range(16))), "an RTP packet holds at most 15 CSRCs, not 16"),
        (RtpPacket(padding=True), "padding flag True does not match padding_size 0"),
        (RtpPacket(padding_size=2), "padding flag False does not match padding_size 2"),
        (RtpPacket(padding=True, padding_size=3, padding_data=b"\x01"),
         "padding_data is 1 octets, padding_size 3 needs 2"),
        (RtpPacket(padding=True, padding_size=256), "padding_size 256 is more than 255"),
        (RtpPacket(payload_type=128), "RTP version 2 / payload type 128 out of range"),
        (RtpPacket(ssrc=1 << 32), None),
        (RtpPacket(sequence_number=-1), None),
    ],
)
def test_serialize_rejects_bad_fields(pkt: RtpPacket, message: str | None) -> None:
    with pytest.raises(ValueError) as exc:
        bytes(pkt)
    if message is not None:
        assert str(exc.value) == message
    else:
        assert str(exc.value).startswith("RTP header field out of range")


# --- hypothesis ------------------------------------------------------------------------------

_rfc8285_profiles = st.sampled_from([0xBEDE]) | st.integers(0x1000, 0x100F)
_raw_profiles = st.integers(0, 0xFFFF).filter(lambda p: p != 0xBEDE and p & 0xFFF0 != 0x1000)


@st.composite
def header_extensions(draw: st.DrawFn) -> HeaderExtension:
    kind = draw(st.sampled_from(["one", "two", "raw"]))
    if kind == "raw":
        words = draw(st.integers(0, 4))
        return HeaderExtension.from_data(draw(_raw_profiles), draw(st.binary(min_size=4 * words,
                                                                        max_size=4 * words)))
    if kind == "one":
        ids = draw(st.lists(st.integers(1, 14), max_size=5, unique=True))
        elems = [(i, draw(st.binary(min_size=1, max_size=16))) for i in ids]
        return HeaderExtension.build(elems, two_byte=False)
    ids = draw(st.lists(st.integers(1, 255), max_size=4, unique=True))
    elems = [(i, draw(st.binary(max_size=40))) for i in ids]
    return HeaderExtension.build(elems, two_byte=True, appbits=draw(st.integers(0, 15)))


@st.composite
def packets(draw: st.DrawFn) -> RtpPacket:
    psize = draw(st.sampled_from([0, 0, 1, 2, 4, 255]) | st.integers(0, 255))
    return RtpPacket(
        marker=draw(st.booleans()),
        payload_type=draw(st.integers(0, 127)),
        sequence_number=draw(st.integers(0, 0xFFFF)),
        timestamp=draw(st.integers(0, 0xFFFFFFFF)),
        ssrc=draw(st.integers(0, 0xFFFFFFFF)),
        csrcs=tuple(draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=15))),
        extension=draw(st.none() | header_extensions()),
        payload=draw(st.binary(max_size=64)),
        padding=psize > 0,
        padding_size=psize,
        padding_data=draw(st.binary(min_size=psize - 1, max_size=psize - 1)) if psize else b"",
    )


@given(packets())
@settings(max_examples=300, deadline=None)
def test_serialize_then_parse_is_identity(pkt: RtpPacket) -> None:
    raw = bytes(pkt)
    assert RtpPacket.parse(raw) == pkt
    assert bytes(RtpPacket.parse(raw)) == raw


_rtp_like = st.builds(
    lambda b0, rest: bytes([b0]) + rest, st.integers(0x80, 0xBF), st.binary(max_size=80)
)


@given(st.binary(max_size=80) | _rtp_like)
@settings(max_examples=600, deadline=None)
def test_random_bytes_parse_or_parse_error(data: bytes) -> None:
    try:
        pkt = RtpPacket.parse(data)
    except ParseError as exc:
        assert isinstance(exc, RtpParseError)
        with pytest.raises(RtpParseError, match="^" + re.escape(str(exc)) + "$"):
            read_packet(data)
        return
    # whatever parses re-serializes to exactly the same bytes
    assert bytes(pkt) == data
    assert read_packet(data)[:5] == (
        pkt.marker, pkt.payload_type, pkt.sequence_number, pkt.timestamp, pkt.ssrc
    )
