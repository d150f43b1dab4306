"""The forwarding fast path: same answers as the typed classes, and in-place rewrites.

Every test runs on both backends (the C extension ``rtpstack._fastpath`` and the Python twin
``rtpstack._fastpath_py``); the C runs skip, saying why, when the extension is not built.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtpstack.errors import RtpParseError
from rtpstack.fastpath import load_backend
from rtpstack.headerext import HeaderExtension
from rtpstack.rtp import RtpPacket
from tests.test_rtp import packets

PKT = RtpPacket(
    marker=True, payload_type=111, sequence_number=65535, timestamp=0xFFFFFFF0, ssrc=0xAABBCCDD,
    csrcs=(1,), extension=HeaderExtension.build([(1, b"\x9e"), (3, b"\x00\x07"), (5, b"abc")]),
    payload=b"opus-frame", padding=True, padding_size=2,
)
RAW = bytes(PKT)

BACKENDS = ["c", "python"]


def backend_module(name: str) -> ModuleType:
    """The fast-path backend ``name``; skips (saying why) when the C extension is not built."""
    try:
        return load_backend(name)
    except ImportError as exc:
        pytest.skip(f"C backend rtpstack._fastpath is not built ({exc}); "
                    "build it with: python setup.py build_ext --inplace")


@pytest.fixture(params=BACKENDS)
def F(request: pytest.FixtureRequest) -> ModuleType:
    """Each fast-path backend in turn."""
    return backend_module(request.param)


@pytest.mark.parametrize("backend", BACKENDS)
@given(packets())
@settings(max_examples=300, deadline=None)
def test_fastpath_equals_typed_classes(backend: str, pkt: RtpPacket) -> None:
    F = backend_module(backend)
    raw = bytes(pkt)
    typed = RtpPacket.parse(raw)
    ext = typed.extension
    marker, pt, seq, ts, ssrc, profile, ext_start, pstart, pend = F.parse_header(raw)
    assert (marker, pt, seq, ts, ssrc) == (
        typed.marker, typed.payload_type, typed.sequence_number, typed.timestamp, typed.ssrc
    )
    assert profile == (-1 if ext is None else ext.profile)
    assert raw[ext_start:pstart] == (b"" if ext is None else ext.data)
    assert raw[pstart:pend] == typed.payload
    assert len(raw) - pend == typed.padding_size
    assert F.header_length(raw) == pstart == typed.header_size
    view = F.read_packet(raw)
    assert view[:5] == (marker, pt, seq, ts, ssrc) and view[5:7] == (pstart, pend)
    assert view[7] == F.extension_elements(raw)
    values = [(i, raw[o : o + n]) for i, o, n in view[7]]
    assert values == list(typed.extension_elements)
    for i, _ in typed.extension_elements:
        span = F.find_extension(raw, i)
        assert span is not None and raw[span[0] : span[0] + span[1]] == typed.get_extension(i)
    assert F.find_extension(raw, 0) is None


@pytest.mark.parametrize("backend", BACKENDS)
@given(packets(), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF))
@settings(max_examples=200, deadline=None)
def test_rewrite_matches_typed_replace(
    backend: str, pkt: RtpPacket, ssrc: int, seq: int, ts: int
) -> None:
    F = backend_module(backend)
    buf = bytearray(bytes(pkt))
    F.rewrite_header(buf, ssrc, seq, ts)
    expected = dataclasses.replace(
        RtpPacket.parse(bytes(pkt)), ssrc=ssrc, sequence_number=seq, timestamp=ts
    )
    assert bytes(buf) == bytes(expected)


def test_single_field_setters(F: ModuleType) -> None:
    buf = bytearray(RAW)
    F.set_ssrc(buf, 0x01020304)
    F.set_sequence_number(buf, 0)
    F.set_timestamp(buf, 7)
    F.set_marker(buf, False)
    F.set_payload_type(buf, 96)
    got = RtpPacket.parse(bytes(buf))
    assert got == dataclasses.replace(
        RtpPacket.parse(RAW), ssrc=0x01020304, sequence_number=0, timestamp=7, marker=False,
        payload_type=96,
    )
    F.set_marker(buf, True)
    assert RtpPacket.parse(bytes(buf)).marker is True
    assert RtpPacket.parse(bytes(buf)).payload_type == 96


def test_write_extension_in_place(F: ModuleType) -> None:
    buf = bytearray(RAW)
    assert F.write_extension(buf, 3, b"\x12\x34") is True
    pkt = RtpPacket.parse(bytes(buf))
    assert pkt.get_extension(3) == b"\x12\x34"
    assert pkt.get_extension(1) == b"\x9e" and pkt.get_extension(5) == b"abc"
    assert pkt.payload == PKT.payload
    assert F.write_extension(buf, 9, b"\x00") is False
    with pytest.raises(ValueError) as exc:
        F.write_extension(buf, 3, b"\x01")
    assert str(exc.value) == "extension 3 value is 2 octets, cannot write 1 in place"
    assert bytes(buf[-12:]) == RAW[-12:]  # payload and padding untouched


def test_two_byte_form_find_and_write(F: ModuleType) -> None:
    pkt = RtpPacket(extension=HeaderExtension.build([(1, b""), (20, b"\x01\x02")]), payload=b"x")
    buf = bytearray(bytes(pkt))
    span = F.find_extension(buf, 20)
    assert span is not None and span[1] == 2
    assert F.find_extension(buf, 1) == (span[0] - 2, 0)  # zero-length value, two-byte form
    assert F.write_extension(buf, 20, b"\xff\xfe")
    assert RtpPacket.parse(bytes(buf)).get_extension(20) == b"\xff\xfe"


@pytest.mark.parametrize(
    ("func", "args", "message"),
    [
        ("rewrite_header", (1 << 32, 0, 0), "cannot rewrite RTP header: SSRC 4294967296, "
         "sequence number 0 or timestamp 0 out of range"),
        ("rewrite_header", (0, -1, 0), "cannot rewrite RTP header: SSRC 0, "
         "sequence number -1 or timestamp 0 out of range"),
        ("set_ssrc", (-1,), "cannot set SSRC: -1 is not in 0..4294967295"),
        ("set_sequence_number", (1 << 16,), "cannot set sequence number: 65536 is not in 0..65535"),
        ("set_timestamp", (1 << 64,),
         "cannot set timestamp: 18446744073709551616 is not in 0..4294967295"),
        ("set_payload_type", (128,), "payload type 128 is not in 0..127"),
        ("set_payload_type", (-(1 << 70),), f"payload type {-(1 << 70)} is not in 0..127"),
    ],
)
def test_rewrite_range_errors(
    F: ModuleType, func: str, args: tuple[Any, ...], message: str
) -> None:
    buf = bytearray(RAW)
    with pytest.raises(ValueError) as exc:
        getattr(F, func)(buf, *args)
    assert str(exc.value) == message
    assert bytes(buf) == RAW


@pytest.mark.parametrize(
    ("func", "args", "message"),
    [
        ("rewrite_header", (1, 2, 3), "cannot rewrite RTP header: pack_into requires a buffer "
         "of at least 12 bytes for packing 10 bytes at offset 2 (actual buffer size is 11)"),
        ("set_ssrc", (1,), "cannot set SSRC: pack_into requires a buffer of at least 12 bytes "
         "for packing 4 bytes at offset 8 (actual buffer size is 11)"),
        ("set_timestamp", (1,), "cannot set timestamp: pack_into requires a buffer of at least "
         "8 bytes for packing 4 bytes at offset 4 (actual buffer size is 7)"),
        ("set_sequence_number", (1,), "cannot set sequence number: pack_into requires a buffer "
         "of at least 4 bytes for packing 2 bytes at offset 2 (actual buffer size is 1)"),
    ],
)
def test_rewrite_short_buffer_errors(
    F: ModuleType, func: str, args: tuple[Any, ...], message: str
) -> None:
    size = int(message.rsplit(" ", 1)[1].rstrip(")"))
    buf = bytearray(RAW[:size])
    with pytest.raises(ValueError) as exc:
        getattr(F, func)(buf, *args)
    assert str(exc.value) == message
    assert bytes(buf) == RAW[:size]  # nothing written


def test_header_length_ignores_padding_but_checks_the_header(F: ModuleType) -> None:
    assert F.header_length(RAW) == PKT.header_size == 12 + 4 + 4 + 12
    bad_padding = RAW[:-1] + b"\xff"
    assert F.header_length(bad_padding) == PKT.header_size
    with pytest.raises(RtpParseError):
        F.parse_header(bad_padding)
    with pytest.raises(RtpParseError) as exc:
        F.header_length(RAW[:18])
    assert str(exc.value) == "RTP header extension header runs past the end of the packet"


def test_works_on_bytearray_and_memoryview(F: ModuleType) -> None:
    assert F.read_packet(bytearray(RAW)) == F.read_packet(memoryview(RAW)) == F.read_packet(RAW)
