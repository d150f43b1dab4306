"""Both fast-path backends against the external corpus (read in place; skips without it).

Every RTP case of ``rtp_rtcp_cases.json`` (the exact error message where the case fails),
every raw RTP vector and libwebrtc fuzz seed, and every UDP datagram of the RTP captures: each
backend agrees with the typed parser, and the two backends give the same result or the same
error for every read function.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rtpstack import _fastpath_py as py
from rtpstack.capture.ip import IpDecoder
from rtpstack.capture.link import strip_link
from rtpstack.capture.reader import iter_packets
from rtpstack.errors import ParseError, RtpParseError
from rtpstack.rtp import RtpPacket
from tests.conftest import CORPUS, corpus_path
from tests.test_fastpath import BACKENDS, backend_module
from tests.test_fastpath_backends import READERS, outcome
from tests.test_rtp_corpus import ERROR_MESSAGES, LENIENT_VERSION_CASES

CASES_FILE = CORPUS / "vectors" / "rtp_rtcp_cases.json"
CAPTURES = ["ndpi__stun_google_meet.pcapng", "ndpi__rtp.pcapng", "str0m__vp8.pcap",
            "str0m__h264.pcap", "ndpi__stun_dtls_rtp.pcapng"]


def _rtp_cases() -> list[Any]:
    if not CASES_FILE.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason="external corpus not available"))]
    cases = json.loads(CASES_FILE.read_text())["cases"]
    return [pytest.param(c, id=c["name"]) for c in cases if c["kind"] == "rtp"]


def _check_agrees_with_typed(fp: ModuleType, raw: bytes, pkt: RtpPacket) -> None:
    marker, pt, seq, ts, ssrc, start, end, spans = fp.read_packet(raw)
    assert (marker, pt, seq, ts, ssrc) == (
        pkt.marker, pkt.payload_type, pkt.sequence_number, pkt.timestamp, pkt.ssrc
    )
    assert raw[start:end] == pkt.payload
    assert [(i, raw[o : o + n]) for i, o, n in spans] == list(pkt.extension_elements)
    assert fp.header_length(raw) == pkt.header_size == start
    for i, value in pkt.extension_elements:
        span = fp.find_extension(raw, i)
        assert span is not None
        if pkt.get_extension(i) == value:  # the first element with this id
            assert raw[span[0] : span[0] + span[1]] == value


def _check_backends_agree(raw: bytes) -> None:
    c = backend_module("c")
    for data in (raw, bytearray(raw), memoryview(raw)):
        for name in READERS:
            assert outcome(getattr(c, name), data) == outcome(getattr(py, name), data), name


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", _rtp_cases())
def test_rtp_case(backend: str, case: dict[str, Any]) -> None:
    fp = backend_module(backend)
    raw = bytes.fromhex(case["raw_hex"])
    name = case["name"]
    if case.get("error"):
        with pytest.raises(RtpParseError) as exc:
            fp.read_packet(raw)
        assert str(exc.value) == ERROR_MESSAGES[name]
    elif name in LENIENT_VERSION_CASES:
        with pytest.raises(RtpParseError) as exc:
            fp.read_packet(raw)
        assert str(exc.value) == f"RTP version {raw[0] >> 6} is not 2"
        fixed = bytes([(raw[0] & 0x3F) | 0x80]) + raw[1:]
        _check_agrees_with_typed(fp, fixed, RtpPacket.parse(fixed))
    else:
        _check_agrees_with_typed(fp, raw, RtpPacket.parse(raw))
    if backend == "c":
        _check_backends_agree(raw)


def _raw_files() -> list[Any]:
    vec = CORPUS / "vectors"
    if not vec.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason="external corpus not available"))]
    files = sorted(vec.glob("aiortc__rtp*.bin")) + sorted(vec.glob("janus__*.rtp"))
    files += sorted(vec.glob("mediasoup__packet*.raw"))
    files += sorted((vec / "janus__libwebrtc-fuzz-corpus" / "rtp").glob("*"))
    return [pytest.param(f, id=f.name) for f in files]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", _raw_files())
def test_raw_vector(backend: str, path: Path) -> None:
    fp = backend_module(backend)
    raw = path.read_bytes()
    try:
        pkt = RtpPacket.parse(raw)
    except ParseError as exc:  # the fast path refuses it with the same message
        with pytest.raises(RtpParseError) as info:
            fp.read_packet(raw)
        assert str(info.value) == str(exc)
    else:
        _check_agrees_with_typed(fp, raw, pkt)
    if backend == "c":
        _check_backends_agree(raw)


def _rtp_datagrams(path: Path) -> list[bytes]:
    """UDP payloads of a capture whose first octet says RTP/RTCP version 2 (RFC 7983)."""
    decoder = IpDecoder()
    out = []
    for rec in iter_packets(path):
        try:
            etype, payload = strip_link(rec.linktype, rec.data)
            seg = decoder.decode(etype, payload, rec.timestamp_ns)
        except ParseError:
            continue
        if seg is not None and seg.protocol == 17 and seg.payload[:1] >= b"\x80" \
                and seg.payload[:1] < b"\xc0":
            out.append(seg.payload)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("capture", CAPTURES)
def test_capture_datagrams(backend: str, capture: str) -> None:
    fp = backend_module(backend)
    datagrams = _rtp_datagrams(corpus_path(f"pcaps/{capture}"))
    assert datagrams, f"no RTP-range datagrams in {capture}"
    parsed = 0
    for raw in datagrams:
        if 192 <= raw[1] <= 223:  # RTCP (RFC 5761): not for the RTP fast path
            continue
        try:
            pkt = RtpPacket.parse(raw)
        except ParseError as exc:
            with pytest.raises(RtpParseError) as info:
                fp.read_packet(raw)
            assert str(info.value) == str(exc)
            continue
        _check_agrees_with_typed(fp, raw, pkt)
        parsed += 1
        if backend == "c":
            _check_backends_agree(raw)
    assert parsed > 0
