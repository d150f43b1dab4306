"""RTCP against the external corpus: every rtcp / rtcp-part case of rtp_rtcp_cases.json, every
raw RTCP vector file (aiortc, janus) and the libwebrtc fuzz seeds.

Expected values come from the JSON (pion, aiortc, mediasoup tests, janus seeds, tshark); this
file only maps our classes onto the JSON's neutral field names. Cases where the corpus says
the source test is wrong (``DIFFERS``, ``length_field_quirk``, ``twcc_quirk``) are handled in
their own tests below, each naming the case and the reason.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from rtpstack.errors import ParseError, RtcpParseError
from rtpstack.rtcp import (
    AppPacket,
    Bye,
    CcfbMetricBlock,
    CcfbReportBlock,
    CongestionControlFeedback,
    Dlrr,
    ExtendedReport,
    Fir,
    GenericNack,
    PacketReceiptTimes,
    PayloadFeedback,
    Pli,
    RawRtcpPacket,
    ReceiverReport,
    Remb,
    ReportBlock,
    RleReport,
    Rrtr,
    RtcpHeader,
    RtcpPacket,
    RtpFeedback,
    RunLengthChunk,
    SenderReport,
    SourceDescription,
    StatisticsSummary,
    StatusVectorChunk,
    TransportCcFeedback,
    VoipMetrics,
    XrBlockType,
    is_regular_compound,
    parse_chunk,
    parse_compound,
    parse_recv_delta,
    recv_delta_bytes,
    serialize_compound,
)
from tests.conftest import CORPUS, corpus_path

CASES_FILE = "vectors/rtp_rtcp_cases.json"


@cache
def _all_cases() -> list[dict[str, Any]]:
    path = CORPUS / CASES_FILE
    if not path.exists():
        return []
    cases: list[dict[str, Any]] = json.loads(path.read_text())["cases"]
    return cases


def _cases(kind: str, *, error: bool | None = None) -> list[Any]:
    out = [
        pytest.param(c, id=c["name"])
        for c in _all_cases()
        if c["kind"] == kind and (error is None or bool(c.get("error")) == error)
    ]
    if not out:  # keeps the parametrised test present (and skipping) without the corpus
        out = [pytest.param(None, id="corpus-absent")]
    return out


def _need(case: dict[str, Any] | None) -> dict[str, Any]:
    if case is None:
        corpus_path(CASES_FILE)  # skips, saying which file is missing
        raise AssertionError("unreachable")
    return case


# --- mapping our values onto the JSON's field names ------------------------------------------


def _report(r: ReportBlock) -> dict[str, Any]:
    return {
        "ssrc": r.ssrc,
        "fraction_lost": r.fraction_lost,
        "cumulative_lost": r.cumulative_lost,
        "extended_highest_seq": r.extended_highest_seq,
        "jitter": r.jitter,
        "lsr": r.lsr,
        "dlsr": r.dlsr,
    }


def _twcc_chunk(c: RunLengthChunk | StatusVectorChunk) -> dict[str, Any]:
    if isinstance(c, RunLengthChunk):
        return {"chunk_type": "run_length", "symbol": c.symbol, "run_length": c.run_length}
    return {
        "chunk_type": "status_vector",
        "symbol_size_bits": c.symbol_size_bits,
        "symbols": list(c.symbols),
    }


def _ccfb_block(b: CcfbReportBlock) -> dict[str, Any]:
    return {
        "media_ssrc": b.media_ssrc,
        "begin_sequence": b.begin_seq,
        "metric_blocks": [_metric(m) for m in b.metrics],
    }


def _metric(m: CcfbMetricBlock) -> dict[str, Any]:
    return {
        "received": m.received,
        "ecn": m.ecn,
        "arrival_time_offset": m.arrival_time_offset,
    }


def _xr_block(b: XrBlockType) -> dict[str, Any]:
    out: dict[str, Any] = {"block_type": b.block_type, "name": b.name}
    if isinstance(b, Rrtr):
        out["ntp_timestamp"] = b.ntp_timestamp
    elif isinstance(b, Dlrr):
        out["sub_blocks"] = [
            {"ssrc": s.ssrc, "last_rr": s.last_rr, "dlrr": s.dlrr} for s in b.sub_blocks
        ]
    elif isinstance(b, RleReport | PacketReceiptTimes):
        out |= {
            "thinning": b.thinning,
            "ssrc": b.ssrc,
            "begin_seq": b.begin_seq,
            "end_seq": b.end_seq,
        }
        if isinstance(b, RleReport):
            out["chunks"] = list(b.chunks)
        else:
            out["receipt_times"] = list(b.receipt_times)
    elif isinstance(b, StatisticsSummary):
        out |= {
            name: getattr(b, name)
            for name in (
                "loss_report",
                "duplicate_report",
                "jitter_flag",
                "ttl_or_hop_limit",
                "ssrc",
                "begin_seq",
                "end_seq",
                "lost_packets",
                "dup_packets",
                "min_jitter",
                "max_jitter",
                "mean_jitter",
                "dev_jitter",
                "min_ttl_or_hl",
                "max_ttl_or_hl",
                "mean_ttl_or_hl",
                "dev_ttl_or_hl",
            )
        }
    elif isinstance(b, VoipMetrics):
        out |= {
            f: getattr(b, f)
            for f in b.__dataclass_fields__
            if f not in ("reserved", "type_specific")
        }
    else:
        out["body_hex"] = b.body.hex()
    return out


def _fields(p: RtcpPacket) -> dict[str, Any]:
    if isinstance(p, SenderReport):
        return {
            "type": "SR",
            "ssrc": p.ssrc,
            "ntp_timestamp": p.ntp_timestamp,
            "rtp_timestamp": p.rtp_timestamp,
            "packet_count": p.packet_count,
            "octet_count": p.octet_count,
            "reports": [_report(r) for r in p.reports],
            "profile_extension_hex": p.profile_extension.hex(),
        }
    if isinstance(p, ReceiverReport):
        return {
            "type": "RR",
            "ssrc": p.ssrc,
            "reports": [_report(r) for r in p.reports],
            "profile_extension_hex": p.profile_extension.hex(),
        }
    if isinstance(p, SourceDescription):
        return {
            "type": "SDES",
            "chunks": [
                {
                    "ssrc": c.ssrc,
                    "items": [{"type": i.type, "name": i.name, "text": i.text} for i in c.items],
                }
                for c in p.chunks
            ],
        }
    if isinstance(p, Bye):
        return {"type": "BYE", "sources": list(p.sources), "reason": p.reason_text}
    if isinstance(p, AppPacket):
        return {
            "type": "APP",
            "subtype": p.subtype,
            "ssrc": p.ssrc,
            "name": p.name.decode("ascii"),
            "data_hex": p.data.hex(),
        }
    if isinstance(p, ExtendedReport):
        return {"type": "XR", "ssrc": p.ssrc, "blocks": [_xr_block(b) for b in p.blocks]}
    if isinstance(p, RawRtcpPacket):
        return {"type": "raw", "body_hex": p.body.hex()}
    out: dict[str, Any] = {
        "type": "RTPFB" if p.packet_type == 205 else "PSFB",
        "fmt": p.fmt,
        "sender_ssrc": p.sender_ssrc,
        "feedback": p.feedback,
    }
    if not isinstance(p, CongestionControlFeedback):
        out["media_ssrc"] = p.media_ssrc
    if isinstance(p, RtpFeedback | PayloadFeedback):
        out["fci_hex"] = p.fci.hex()
    elif isinstance(p, GenericNack):
        out["nacks"] = [{"pid": e.pid, "blp": e.blp} for e in p.entries]
        out["lost_sequence_numbers"] = p.lost_sequence_numbers
    elif isinstance(p, Fir):
        out["entries"] = [{"ssrc": e.ssrc, "seq_nr": e.seq_nr} for e in p.entries]
    elif isinstance(p, Remb):
        out.update(
            num_ssrc=len(p.ssrcs),
            bitrate_exp=p.bitrate_exp,
            bitrate_mantissa=p.bitrate_mantissa,
            bitrate=p.bitrate,
            ssrcs=list(p.ssrcs),
        )
    elif isinstance(p, TransportCcFeedback):
        out.update(
            base_sequence_number=p.base_seq,
            packet_status_count=p.status_count,
            reference_time=p.reference_time,
            fb_packet_count=p.fb_count,
            packet_chunks=[_twcc_chunk(c) for c in p.chunks],
            recv_deltas=[
                {"symbol": s.symbol, "delta": s.delta, "delta_us": s.delta * 250}
                for s in p.packets()
                if s.delta is not None
            ],
        )
    elif isinstance(p, CongestionControlFeedback):
        out["report_blocks"] = [_ccfb_block(b) for b in p.report_blocks]
        out["report_timestamp"] = p.report_timestamp
    else:
        assert isinstance(p, Pli)
    return out


def _check_packets(raw: bytes, expected: list[dict[str, Any]]) -> list[RtcpPacket]:
    packets = parse_compound(raw)
    assert len(packets) == len(expected)
    offset = 0
    for packet, exp in zip(packets, expected, strict=True):
        wire = bytes(packet)
        assert wire == raw[offset : offset + len(wire)], "packet does not re-serialize exactly"
        offset += len(wire)
        header = RtcpHeader.parse(wire)
        got = _fields(packet) | {
            "packet_type": packet.packet_type,
            "count": header.count,
            "padding": header.padding,
            "length": header.length,
        }
        if header.padding:
            got["padding_size"] = len(packet.padding)
        for key, value in exp.items():
            assert got.get(key, "<missing>") == value, f"field {key}"
    assert offset == len(raw)
    assert serialize_compound(packets) == raw
    return packets


# --- the JSON cases ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("rtcp", error=False))
def test_rtcp_case_decodes_and_round_trips(case: dict[str, Any] | None) -> None:
    case = _need(case)
    packets = _check_packets(bytes.fromhex(case["raw_hex"]), case["expected"]["packets"])
    if "compound_valid" in case:
        assert is_regular_compound(packets) is case["compound_valid"]


# The exact message for every RTCP case the corpus says must fail. Reading each reason in the
# JSON next to the message below shows they name the same fault (the first one we meet).
ERROR_MESSAGES: dict[str, str] = {
    "pion-rtcp/TestSenderReportUnmarshal/valid": (
        "SR report count 1 needs 48 octets after the header, packet has 28"
    ),
    "pion-rtcp/TestSenderReportUnmarshal/bad count in header": (
        "SR report count 2 needs 72 octets after the header, packet has 28"
    ),
    "pion-rtcp/TestReceiverReportUnmarshal/short report": (
        "RTCP length field says 52 octets, only 12 left"
    ),
    "pion-rtcp/TestReceiverReportUnmarshal/wrong type": (
        "SR report count 1 needs 48 octets after the header, packet has 28"
    ),
    "pion-rtcp/TestReceiverReportUnmarshal/bad count in header": (
        "RR report count 2 needs 52 octets after the header, packet has 28"
    ),
    "pion-rtcp/TestGoodbyeUnmarshal/valid": "RTCP length field says 52 octets, only 12 left",
    "pion-rtcp/TestGoodbyeUnmarshal/short reason": (
        "RTCP length field says 52 octets, only 12 left"
    ),
    "pion-rtcp/TestGoodbyeUnmarshal/empty packet": "RTCP length field says 20 octets, only 4 left",
    "pion-rtcp/TestGoodbyeUnmarshal/invalid octet count": (
        "RTCP length field says 52 octets, only 12 left"
    ),
    "pion-rtcp/TestGoodbyeUnmarshal/not byte aligned": (
        "RTCP length field says 44 octets, only 10 left"
    ),
    "pion-rtcp/TestGoodbyeUnmarshal/bad count in header": (
        "RTCP length field says 52 octets, only 8 left"
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/no chunks": (
        "RTCP length field says 20 octets, only 4 left"
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/zero item chunk": (
        "RTCP length field says 52 octets, only 12 left"
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/empty string": (
        "RTCP length field says 52 octets, only 12 left"
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/two items": (
        "RTCP length field says 68 octets, only 16 left"
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/two chunks": (
        "RTCP length field says 100 octets, only 24 left"
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/missing type": (
        "RTCP length field says 36 octets, only 8 left"
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/bad cname length": (
        "RTCP length field says 44 octets, only 10 left"
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/short cname": (
        "RTCP length field says 40 octets, only 9 left"
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/no end": (
        "RTCP length field says 48 octets, only 11 left"
    ),
    "pion-rtcp/TestTApplicationPacketUnmarshal/invalidAppPacketLengthField": (
        "RTCP length field says 1024 octets, only 16 left"
    ),
    "pion-rtcp/TestTApplicationPacketUnmarshal/invalidPacketLengthTooShort": (
        "RTCP length field says 12 octets, only 11 left"
    ),
    "pion-rtcp/TestTApplicationPacketUnmarshal/wrongPaddingSize": (
        "APP too short: 7 octets after the header, SSRC and name need 8"
    ),
    "pion-rtcp/TestPictureLossIndicationUnmarshal/packet too short": (
        "RTCP version must be 2, got 0"
    ),
    "pion-rtcp/TestPictureLossIndicationUnmarshal/invalid header": (
        "RTCP version must be 2, got 0"
    ),
    "pion-rtcp/TestPictureLossIndicationUnmarshal/wrong type": (
        "RR report count 1 needs 28 octets after the header, packet has 8"
    ),
    "pion-rtcp/TestPictureLossIndicationUnmarshal/wrong fmt": (
        "RR report count 2 needs 52 octets after the header, packet has 8"
    ),
    "pion-rtcp/TestRapidResynchronizationRequestUnmarshal/short report": (
        "RTCP length field says 12 octets, only 8 left"
    ),
    "pion-rtcp/TestSliceLossIndicationUnmarshal/short report": (
        "RTCP length field says 12 octets, only 8 left"
    ),
    "pion-rtcp/TestFullIntraRequestUnmarshal/packet too short": "RTCP version must be 2, got 0",
    "pion-rtcp/TestFullIntraRequestUnmarshal/invalid header": "RTCP version must be 2, got 0",
    "pion-rtcp/TestFullIntraRequestUnmarshal/wrong type": (
        "RR report count 4 needs 100 octets after the header, packet has 16"
    ),
    "pion-rtcp/TestFullIntraRequestUnmarshal/wrong length": (
        "FIR FCI must be a non-empty multiple of 8 octets, got 4"
    ),
    "pion-rtcp/TestTransportLayerNackUnmarshal/short report": (
        "RTCP length field says 12 octets, only 8 left"
    ),
    "pion-rtcp/TestTransportLayerNackUnmarshal/bad length": (
        "Generic NACK FCI must be a non-empty multiple of 4 octets, got 0"
    ),
    "pion-rtcp/TestTransportLayerCC_Unmarshal/example2": (
        "TWCC receive delta 1 truncated: 0 of 2 octets present"
    ),
    "pion-rtcp/TestTransportLayerCC_Unmarshal/example3": (
        "RTCP padding bit set but padding count is 0"
    ),
    "pion-rtcp/TestTransportLayerCC_Unmarshal/example5": (
        "TWCC receive delta 3 truncated: 0 of 1 octets present"
    ),
    "pion-rtcp/TestTransportLayerCC_Unmarshal/example8": (
        "TWCC receive delta 1 truncated: 0 of 1 octets present"
    ),
    "pion-rtcp/TestTransportLayerCC_Unmarshal/example9": (
        "TWCC receive delta 0 truncated: 1 of 2 octets present"
    ),
    "pion-rtcp/TestBadCompound/truncated": "RTCP header truncated: need 4 octets, have 2",
    "pion-rtcp/TestReadEOF": "RTCP header truncated: need 4 octets, have 2",
    "pion-rtcp/TestInvalidHeaderLength": "RTCP length field says 404 octets, only 4 left",
    "aiortc/test_bye_invalid": (
        "BYE source count 17 needs 68 octets after the header, packet has 4"
    ),
    "aiortc/test_bye_only_padding_zero/rtcp_bye_padding.bin[0:4] + 00000000": (
        "RTCP padding bit set but padding count is 0"
    ),
    "aiortc/test_psfb_invalid": "PSFB too short: 4 octets after the header, SSRCs need 8",
    "aiortc/test_rr_invalid": "RR report count 1 needs 28 octets after the header, packet has 4",
    "aiortc/test_rr_truncated/rtcp_rr.bin[0:31]": (
        "RTCP length field says 32 octets, only 31 left"
    ),
    "aiortc/test_bad_version/c0 + rtcp_rr.bin[1:]": "RTCP version must be 2, got 3",
    "aiortc/test_rtpfb_invalid": "RTPFB too short: 4 octets after the header, SSRCs need 8",
    "aiortc/test_sdes_item_truncated": "SDES item truncated: type 71 needs 148 octets, 22 left",
    "aiortc/test_sdes_source_truncated": "SDES chunk 0 truncated: SSRC needs 4 octets, 0 left",
    "aiortc/test_sr_invalid": "SR too short: 4 octets after the header, sender info needs 24",
    "mediasoup/TestSdes/buffer2": "RTCP padding bit set but padding count is 0",
    "mediasoup/TestSdes/missing-null-octets": (
        "SDES chunk 0: item list not terminated by a null octet"
    ),
}


@pytest.mark.parametrize("case", _cases("rtcp", error=True))
def test_rtcp_error_case_fails_with_exact_message(case: dict[str, Any] | None) -> None:
    case = _need(case)
    with pytest.raises(RtcpParseError) as info:
        parse_compound(bytes.fromhex(case["raw_hex"]))
    assert str(info.value) == ERROR_MESSAGES[case["name"]]


# Cases where the source's own test accepts the bytes and the corpus (RFC reading) rejects
# them; each line: case -> (why we reject, the message that proves we rejected it for that).
QUIRKS_REJECTED: dict[str, tuple[str, str]] = {
    "pion-rtcp/TestSenderReportUnmarshal/valid": (
        "length_field_quirk: length 7 announces 32 octets, an SR with one block needs 52",
        "SR report count 1 needs 48 octets after the header, packet has 28",
    ),
    "pion-rtcp/TestGoodbyeUnmarshal/valid": (
        "length_field_quirk: pion wrote 12 (octets) where RFC 3550 wants words minus one",
        "RTCP length field says 52 octets, only 12 left",
    ),
    "pion-rtcp/TestGoodbyeUnmarshal/short reason": (
        "length_field_quirk: octet count in the length field",
        "RTCP length field says 52 octets, only 12 left",
    ),
    "pion-rtcp/TestGoodbyeUnmarshal/empty packet": (
        "length_field_quirk: octet count in the length field",
        "RTCP length field says 20 octets, only 4 left",
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/no chunks": (
        "length_field_quirk: octet count in the length field",
        "RTCP length field says 20 octets, only 4 left",
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/zero item chunk": (
        "length_field_quirk: octet count in the length field",
        "RTCP length field says 52 octets, only 12 left",
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/empty string": (
        "length_field_quirk: octet count in the length field",
        "RTCP length field says 52 octets, only 12 left",
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/two items": (
        "length_field_quirk: octet count in the length field",
        "RTCP length field says 68 octets, only 16 left",
    ),
    "pion-rtcp/TestSourceDescriptionUnmarshal/two chunks": (
        "length_field_quirk: octet count in the length field",
        "RTCP length field says 100 octets, only 24 left",
    ),
    "pion-rtcp/TestTransportLayerCC_Unmarshal/example2": (
        "twcc_quirk: the 3 padding octets are needed by the large delta",
        "TWCC receive delta 1 truncated: 0 of 2 octets present",
    ),
    "pion-rtcp/TestTransportLayerCC_Unmarshal/example3": (
        "twcc_quirk: P bit set with padding count 0",
        "RTCP padding bit set but padding count is 0",
    ),
    "pion-rtcp/TestTransportLayerCC_Unmarshal/example5": (
        "twcc_quirk: padding count 3 eats the fourth delta",
        "TWCC receive delta 3 truncated: 0 of 1 octets present",
    ),
    "mediasoup/TestSdes/buffer2": (
        "DIFFERS: P bit set with padding count 0 (mediasoup ignores the padding)",
        "RTCP padding bit set but padding count is 0",
    ),
}


@pytest.mark.parametrize(("name", "why"), [(k, v[0]) for k, v in QUIRKS_REJECTED.items()])
def test_quirk_cases_are_rejected_deliberately(name: str, why: str) -> None:
    corpus_path(CASES_FILE)
    case = next(c for c in _all_cases() if c["name"] == name)
    # the corpus marks the case as a quirk the way our reason says
    flag = why.split(":")[0]
    if flag == "DIFFERS":
        assert "DIFFERS" in case["expectation_basis"]
    else:
        assert case.get(flag) is True
    assert case["error"] is True
    with pytest.raises(RtcpParseError) as info:
        parse_compound(bytes.fromhex(case["raw_hex"]))
    assert str(info.value) == QUIRKS_REJECTED[name][1]


def test_every_flagged_quirk_case_is_listed() -> None:
    corpus_path(CASES_FILE)
    flagged = {
        c["name"]
        for c in _all_cases()
        if c["kind"].startswith("rtcp")
        and c.get("error")
        and (
            c.get("length_field_quirk")
            or c.get("twcc_quirk")
            or "DIFFERS" in c["expectation_basis"]
        )
    }
    assert flagged == set(QUIRKS_REJECTED)


def test_differs_cases_that_parse_follow_the_rfc() -> None:
    """Two accepted cases where the source test asserts something the RFC does not say."""
    corpus_path(CASES_FILE)
    by_name = {c["name"]: c for c in _all_cases()}
    # pion builds SLI as RTPFB (PT 205) FMT 2; RFC 4585 6.3.2 puts SLI in PSFB, and RTPFB
    # FMT 2 is unassigned, so it must come out as an unknown transport-layer message.
    sli = by_name["pion-rtcp/TestSliceLossIndicationUnmarshal/valid"]
    assert sli.get("differs_from_source") is True
    (packet,) = parse_compound(bytes.fromhex(sli["raw_hex"]))
    assert isinstance(packet, RtpFeedback)
    assert (packet.fmt, packet.feedback, packet.fci.hex()) == (2, "other", "5550002c")
    # REMB with mantissa 0: the formula gives 0 bit/s; pion's 2**70 is a float artefact.
    remb = by_name["pion-rtcp/TestReceiverEstimatedMaximumBitrateOverflow/mantissa-zero"]
    assert remb.get("differs_from_source") is True
    (packet,) = parse_compound(bytes.fromhex(remb["raw_hex"]))
    assert isinstance(packet, Remb)
    assert (packet.bitrate_exp, packet.bitrate_mantissa, packet.bitrate) == (47, 0, 0)


# --- rtcp-part cases ---------------------------------------------------------------------------


def _part(part: str, raw: bytes) -> tuple[dict[str, Any], bytes]:
    """Decode one fragment; returns its fields and its re-encoding."""
    if part == "rtcp_common_header":
        h = RtcpHeader.parse(raw)
        assert len(raw) == 4
        fields = {
            "version": h.version,
            "padding": h.padding,
            "count": h.count,
            "packet_type": h.packet_type,
            "length": h.length,
        }
        return fields, bytes(h)
    if part == "twcc_packet_chunk":
        chunk = parse_chunk(raw)
        assert len(raw) == 2
        return _twcc_chunk(chunk), bytes(chunk)
    if part == "twcc_recv_delta":
        symbol = 1 if len(raw) == 1 else 2
        delta = parse_recv_delta(raw, symbol)
        fields = {"symbol": symbol, "delta": delta, "delta_us": delta * 250}
        return fields, recv_delta_bytes(symbol, delta)
    if part == "ccfb_report_block":
        block = CcfbReportBlock.parse(raw)
        return _ccfb_block(block), bytes(block)
    if part == "ccfb_metric_block":
        metric = CcfbMetricBlock.parse(raw)
        return _metric(metric), bytes(metric)
    raise AssertionError(f"unknown part {part}")


PART_ERRORS: dict[str, str] = {
    "pion-rtcp/TestHeaderUnmarshal/bad version": "RTCP version must be 2, got 0",
    "pion-rtcp/TestCCFeedbackReportBlockUnmarshalMarshal/incorrectNumReports": (
        "CCFB report block truncated: 5 metric blocks need 12 octets, 8 left"
    ),
    "pion-rtcp/TestCCFeedbackReportBlockUnmarshalMarshal/shortRawPacket": (
        "CCFB report block truncated: header needs 8 octets, 6 left"
    ),
}


@pytest.mark.parametrize("case", _cases("rtcp-part"))
def test_rtcp_part_case(case: dict[str, Any] | None) -> None:
    case = _need(case)
    raw = bytes.fromhex(case["raw_hex"])
    if case.get("error"):
        with pytest.raises(RtcpParseError) as info:
            _part(case["part"], raw)
        assert str(info.value) == PART_ERRORS[case["name"]]
        return
    fields, again = _part(case["part"], raw)
    expected = {k: v for k, v in case["expected"].items() if k != "part"}
    assert fields == expected
    assert again == raw


# --- raw vector files --------------------------------------------------------------------------


def _raw_rtcp_files() -> list[Path]:
    vectors = CORPUS / "vectors"
    if not vectors.is_dir():
        return []
    return sorted(vectors.glob("aiortc__rtcp_*.bin")) + sorted(vectors.glob("janus__*.rtcp"))


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in _raw_rtcp_files()] or [None])
def test_raw_rtcp_vector_file(path: Path | None) -> None:
    if path is None:
        corpus_path("vectors")
        return
    data = path.read_bytes()
    rel = f"vectors/{path.name}"
    matching = [c for c in _all_cases() if c.get("raw_file") == rel]
    assert len(matching) == 1, f"no JSON case describes {rel}"
    case = matching[0]
    assert data.hex() == case["raw_hex"]
    if case.get("error"):
        with pytest.raises(RtcpParseError) as info:
            parse_compound(data)
        assert str(info.value) == ERROR_MESSAGES[case["name"]]
    else:
        _check_packets(data, case["expected"]["packets"])


def test_raw_rtcp_vector_files_all_found() -> None:
    corpus_path("vectors/janus__rr.rtcp")
    names = {p.name for p in _raw_rtcp_files()}
    assert len([n for n in names if n.startswith("aiortc__")]) == 15
    assert len([n for n in names if n.startswith("janus__")]) == 9


# --- libwebrtc fuzz seeds ----------------------------------------------------------------------

FUZZ_DIR = "vectors/janus__libwebrtc-fuzz-corpus/rtcp"


def test_libwebrtc_fuzz_seeds_parse_or_raise_parse_error() -> None:
    folder = corpus_path(FUZZ_DIR)
    seeds = sorted(folder.glob("*.rtcp"))
    assert len(seeds) == 67
    parsed = 0
    for seed in seeds:
        data = seed.read_bytes()
        try:
            packets = parse_compound(data)
        except ParseError:
            continue
        parsed += 1
        assert serialize_compound(packets) == data, seed.name
    # most seeds are well-formed packets; the odd ones are errors, not crashes
    assert parsed >= 50


TSHARK_SEEDS = "expected/tshark_vector_dissections/janus__libwebrtc-fuzz-corpus_rtcp.txt"
# seeds tshark dissects without a "malformed" mark that we reject, and why (RFC reading)
STRICTER_THAN_TSHARK = {
    "9.rtcp": "SDES item list not ended by a null octet (RFC 3550 6.5 requires one)",
    "13.rtcp": "FIR without FCI entries (RFC 5104 4.3.1.1: one or more entries)",
}


def _tshark_packet_types() -> dict[str, tuple[list[int], bool]]:
    text = corpus_path(TSHARK_SEEDS).read_text()
    order = {int(m[1]): m[2] for m in re.finditer(r"^#\s+frame (\d+) = rtcp/(\S+)$", text, re.M)}
    parts = re.split(r"^Frame (\d+): .*$", text, flags=re.M)
    out: dict[str, tuple[list[int], bool]] = {}
    for number, body in zip(parts[1::2], parts[2::2], strict=True):
        types = [int(t) for t in re.findall(r"^\s+Packet type: .*\((\d+)\)$", body, re.M)]
        out[order[int(number)]] = (types, "Malformed" in body)
    return out


def test_libwebrtc_seeds_agree_with_tshark() -> None:
    folder = corpus_path(FUZZ_DIR)
    tshark = _tshark_packet_types()
    for seed in sorted(folder.glob("*.rtcp")):
        types, malformed = tshark[seed.name]
        try:
            packets = parse_compound(seed.read_bytes())
        except RtcpParseError:
            # we reject only what tshark also flags, does not take for RTCP, or is listed
            assert malformed or not types or seed.name in STRICTER_THAN_TSHARK, seed.name
            continue
        assert seed.name not in STRICTER_THAN_TSHARK
        # tshark names no packet type it does not know (we keep those raw): compare the rest
        known = [p.packet_type for p in packets if 200 <= p.packet_type <= 207]
        assert known == types, seed.name
