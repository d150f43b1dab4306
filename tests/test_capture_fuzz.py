"""Fuzz: file readers raise only CaptureParseError; the analyzer never raises on any frame."""

from __future__ import annotations

import io
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from rtpstack.capture.analysis import CaptureAnalyzer
from rtpstack.capture.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    CapturedPacket,
)
from rtpstack.capture.reader import iter_stream
from rtpstack.errors import CaptureParseError

PCAP_HEAD = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW)
PCAPNG_HEAD = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from([b"", PCAP_HEAD, PCAPNG_HEAD, b"\x1f\x8b"]),
       body=st.binary(max_size=400))
def test_readers_raise_only_capture_parse_errors(prefix: bytes, body: bytes) -> None:
    try:
        for _ in iter_stream(io.BytesIO(prefix + body)):
            pass
    except CaptureParseError:
        pass


@settings(max_examples=400, deadline=None)
@given(linktype=st.sampled_from([LINKTYPE_RAW, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL,
                                 LINKTYPE_NULL, 9999]),
       head=st.sampled_from([b"", b"\x45\x00", b"\x60\x00\x00\x00"]),
       data=st.binary(max_size=300))
def test_analyzer_never_raises(linktype: int, head: bytes, data: bytes) -> None:
    analyzer = CaptureAnalyzer()
    analyzer.feed(CapturedPacket(1, 0, linktype, head + data, len(head + data)))
    analyzer.result("fuzz")


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(min_size=0, max_size=200))
def test_media_classification_never_raises(payload: bytes) -> None:
    from rtpstack.capture.ip import PROTO_TCP, PROTO_UDP, Segment

    analyzer = CaptureAnalyzer()
    for proto in (PROTO_UDP, PROTO_TCP):
        analyzer.feed_segment(1, 0, Segment("10.0.0.1", 4000, "10.0.0.2", 5004, proto, payload))
        analyzer.feed_segment(2, 1, Segment("10.0.0.1", 4000, "10.0.0.2", 5004, proto,
                                            b"\x80\xc8" + payload))
    analyzer.result("fuzz")
