"""RTCP unit tests: builders, helpers, NTP/RTT arithmetic and exact error messages.

Corpus-driven tests live in ``test_rtcp_corpus.py``, property tests in
``test_rtcp_properties.py``.
"""

from __future__ import annotations

import dataclasses

import pytest

from rtpstack.errors import ParseError, RtcpParseError
from rtpstack.rtcp import (
    SDES_CNAME,
    SDES_PRIV,
    SYMBOL_RESERVED,
    AppPacket,
    Bye,
    CcfbMetricBlock,
    CcfbReportBlock,
    CongestionControlFeedback,
    Dlrr,
    DlrrSubBlock,
    ExtendedReport,
    Fir,
    FirEntry,
    GenericNack,
    NackEntry,
    PayloadFeedback,
    Pli,
    RawRtcpPacket,
    ReceiverReport,
    Remb,
    ReportBlock,
    Rrtr,
    RtpFeedback,
    RunLengthChunk,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    StatusVectorChunk,
    TransportCcFeedback,
    XrBlock,
    build_packet,
    compact_to_seconds,
    frozen_factory,
    is_regular_compound,
    make_padding,
    ntp_from_unix,
    ntp_to_compact,
    ntp_to_unix,
    parse_compound,
    parse_packet,
    rtt_compact,
    rtt_seconds,
    seconds_to_compact,
    serialize_compound,
)

# --- errors: one exact message per fault --------------------------------------------------------

ERRORS: list[tuple[str, str, str]] = [
    ("empty datagram", "", "RTCP header truncated: need 4 octets, have 0"),
    ("3-octet header", "80c900", "RTCP header truncated: need 4 octets, have 3"),
    ("version 1", "41c90001deadbeef", "RTCP version must be 2, got 1"),
    ("length past end", "80c90002deadbeef", "RTCP length field says 12 octets, only 8 left"),
    ("second packet cut", "80c90001deadbeef81", "RTCP header truncated: need 4 octets, have 1"),
    ("padding count 0", "a0c90001deadbe00", "RTCP padding bit set but padding count is 0"),
    (
        "padding too large",
        "a0c90001deadbe09",
        "RTCP padding count 9 exceeds the 4 octets after the header",
    ),
    (
        "RR count too big",
        "82c90007" + "00" * 28,
        "RR report count 2 needs 52 octets after the header, packet has 28",
    ),
    (
        "SDES pad not zero",
        "81ca00031122334401024142" + "00ff0000",
        "SDES chunk 0: octets after the end item must be zero",
    ),
    (
        "SDES extra chunk",
        "81ca00031122334400000000aabbccdd",
        "SDES: 4 octets after the last chunk",
    ),
    (
        "SDES item without length octet",
        "81ca00021122334402014103",
        "SDES item truncated: type 3 has no length octet",
    ),
    (
        "BYE junk after reason",
        "81cb000311223344014100000000ffff",
        "BYE: 6 octets after the reason where 2 zero octets pad it to 32 bits",
    ),
    (
        "BYE reason cut by RTCP padding",
        "a1cb0003112233440141" + "eeeeeeeeee06",
        "BYE: 0 octets after the reason where 2 zero octets pad it to 32 bits",
    ),
    (
        "BYE reason too long",
        "81cb00021122334405414243",
        "BYE reason length 5 exceeds the 3 octets left",
    ),
    (
        "PLI with FCI",
        "81ce00030000000100000002deadbeef",
        "PLI must not carry FCI, got 4 octets",
    ),
    (
        "REMB SSRC count",
        "8fce00050000000100000000" + "52454d4202000001deadbeef",
        "REMB lists 2 SSRCs but its FCI has room for 1",
    ),
    (
        "TWCC chunks missing",
        "8fcd000400000001000000020000000500000101",
        "TWCC packet chunks truncated: 0 of 5 statuses described",
    ),
    (
        "TWCC FCI short",
        "8fcd00030000000100000002" + "00000000",
        "TWCC FCI too short: 4 octets, its fixed part needs 8",
    ),
    (
        "CCFB too short",
        "8bcd000100000001",
        "CCFB too short: 4 octets after the header, sender SSRC and report timestamp need 8",
    ),
    (
        "XR block past end",
        "80cf00021122334404000002",
        "XR block type 4 length 8 octets runs past the packet (0 left)",
    ),
    (
        "XR RRTR size",
        "80cf00031122334404000001aabbccdd",
        "XR RRTR block must have 8 octets, got 4",
    ),
    (
        "XR DLRR size",
        "80cf00031122334405000001aabbccdd",
        "XR DLRR block must be a multiple of 12 octets, got 4",
    ),
    (
        "XR statistics size",
        "80cf00031122334406000001aabbccdd",
        "XR statistics_summary block must have 36 octets, got 4",
    ),
    (
        "XR RLE head",
        "80cf00031122334401000001aabbccdd",
        "XR loss_rle block needs at least 8 octets, got 4",
    ),
]


@pytest.mark.parametrize(
    ("hexdata", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_parse_error_messages(hexdata: str, message: str) -> None:
    with pytest.raises(RtcpParseError) as info:
        parse_compound(bytes.fromhex(hexdata))
    assert str(info.value) == message
    assert isinstance(info.value, ParseError | ValueError)


def test_typed_parse_checks_type_and_trailing_octets() -> None:
    rr = bytes(ReceiverReport(1))
    with pytest.raises(RtcpParseError, match=r"^RTCP packet type 200 expected, got 201$"):
        SenderReport.parse(rr)
    with pytest.raises(RtcpParseError, match=r"^4 octets after the RTCP packet$"):
        ReceiverReport.parse(rr + bytes(4))
    with pytest.raises(RtcpParseError, match=r"^4 octets after the RTCP packet$"):
        parse_packet(rr + bytes(4))
    with pytest.raises(RtcpParseError, match=r"^PLI needs FMT 1, got 4$"):
        Pli.parse(bytes(Fir(1, (FirEntry(2, 3),))))
    assert ReceiverReport.parse(rr) == ReceiverReport(1)


# --- building -----------------------------------------------------------------------------------


def test_build_packet_rejects_unaligned_and_bad_padding() -> None:
    with pytest.raises(ValueError, match="not a multiple of 4"):
        build_packet(0, 204, b"\x00" * 9)
    with pytest.raises(ValueError, match="ends with count"):
        build_packet(0, 204, b"\x00" * 8, b"\x00\x00\x00\x05")
    with pytest.raises(ValueError, match="count field"):
        build_packet(32, 201, b"\x00" * 4)


def test_app_with_unaligned_data_needs_padding() -> None:
    app = AppPacket(3, 0x11223344, b"TEST", b"hello", make_padding(3))
    wire = bytes(app)
    assert wire.hex() == "a3cc00041122334454455354" + "68656c6c6f" + "000003"
    assert parse_compound(wire) == [app]
    with pytest.raises(ValueError, match="not a multiple of 4"):
        bytes(AppPacket(3, 1, b"TEST", b"hello"))


def test_padding_octets_are_kept_as_received() -> None:
    # RR with 8 octets of padding whose filler is not zero: must re-serialize identically
    wire = bytes.fromhex("a0c9000311223344" + "deadbeefcafe0008")
    (rr,) = parse_compound(wire)
    assert isinstance(rr, ReceiverReport)
    assert rr.padding == bytes.fromhex("deadbeefcafe0008")
    assert bytes(rr) == wire


def test_report_block_negative_cumulative_lost() -> None:
    block = ReportBlock(7, fraction_lost=12, cumulative_lost=-3, extended_highest_seq=70000)
    assert bytes(block)[4:8].hex() == "0cfffffd"
    sr = SenderReport(1, 2**63, 3, 4, 5, (block,), profile_extension=b"EXT!")
    assert parse_compound(bytes(sr)) == [sr]
    with pytest.raises(ValueError, match="24-bit"):
        bytes(ReportBlock(1, cumulative_lost=1 << 23))


def test_sdes_items_priv_and_unknown_types() -> None:
    priv = SdesItem.priv(b"x-app", b"value")
    unknown = SdesItem(42, b"\x00\x01raw")
    chunk = SdesChunk(0xCAFE, (SdesItem.text_item(SDES_CNAME, "üser@host"), priv, unknown))
    sdes = SourceDescription((chunk, SdesChunk(5)))
    (again,) = parse_compound(bytes(sdes))
    assert again == sdes
    assert isinstance(again, SourceDescription)
    items = again.chunks[0].items
    assert again.chunks[0].cname == "üser@host"
    assert (items[1].type, items[1].prefix, items[1].priv_value) == (SDES_PRIV, b"x-app", b"value")
    assert (items[2].name, items[2].value) == ("TYPE42", b"\x00\x01raw")
    assert again.chunks[1].items == ()
    assert len(bytes(sdes)) % 4 == 0


def test_bye_reason_forms() -> None:
    for bye in (Bye((1, 2)), Bye((1,), b""), Bye.with_reason((3,), "bye now"), Bye()):
        assert parse_compound(bytes(bye)) == [bye]
    assert Bye.with_reason((3,), "ciao").reason_text == "ciao"
    assert bytes(Bye((1,), b"")).hex() == "81cb00020000000100000000"


def test_nack_from_lost_wraps_and_expands_back() -> None:
    nack = GenericNack.from_lost(1, 2, [1, 65534, 0, 65535, 20, 65534])
    assert nack.entries == (NackEntry(65534, 0b111), NackEntry(20, 0))
    assert nack.lost_sequence_numbers == [65534, 65535, 0, 1, 20]
    assert parse_compound(bytes(nack)) == [nack]
    with pytest.raises(ValueError, match="at least one"):
        GenericNack.from_lost(1, 2, [])


def test_remb_from_bitrate() -> None:
    remb = Remb.from_bitrate(1, 8_927_168, (0x4874ED16,))
    assert (remb.bitrate_exp, remb.bitrate_mantissa, remb.bitrate) == (6, 139_487, 8_927_168)
    assert Remb.from_bitrate(1, 128_000).bitrate_exp == 0
    big = Remb.from_bitrate(1, 10**12 + 12345)
    assert big.bitrate_mantissa < 1 << 18 and big.bitrate <= 10**12 + 12345
    assert big.bitrate > (10**12) * (1 - 2**-17)
    assert parse_compound(bytes(remb)) == [remb]


def test_psfb_fmt15_without_remb_id_is_kept_raw() -> None:
    afb = PayloadFeedback(15, 1, 0, b"ABCDEFGH")
    (again,) = parse_compound(bytes(afb))
    assert again == afb
    assert isinstance(again, PayloadFeedback) and again.feedback == "AFB"


def test_unknown_packet_type_and_unknown_xr_block_kept_raw() -> None:
    raw = RawRtcpPacket(195, 1, b"\x01\x02\x03\x04")
    xr = ExtendedReport(9, (XrBlock(42, 0x5A, b"abcdefgh"), Rrtr(1 << 40)), reserved=3)
    rtpfb = RtpFeedback(3, 1, 2, b"\x00" * 8)
    wire = serialize_compound([raw, xr, rtpfb])
    assert parse_compound(wire) == [raw, xr, rtpfb]
    assert serialize_compound(parse_compound(wire)) == wire
    assert rtpfb.feedback == "TMMBR"
    # any packet can also be framed without decoding, and rebuilt
    framed = RawRtcpPacket.parse(bytes(xr))
    assert (framed.packet_type, framed.count, bytes(framed)) == (207, 3, bytes(xr))


def test_bytearray_and_memoryview_input_give_immutable_values() -> None:
    wire = bytes(AppPacket(1, 2, b"NAME", b"data"))
    for data in (bytearray(wire), memoryview(wire)):
        (app,) = parse_compound(data)
        assert isinstance(app, AppPacket) and type(app.data) is bytes and app.data == b"data"
        assert parse_packet(data) == app


def test_reduced_size_rtcp_parses_and_is_not_a_regular_compound() -> None:
    pli = Pli(1, 2)
    nack = GenericNack.from_lost(1, 2, [100, 101])
    assert parse_compound(bytes(pli)) == [pli]
    assert parse_compound(bytes(nack) + bytes(pli)) == [nack, pli]
    assert not is_regular_compound([nack, pli])
    cname = SourceDescription((SdesChunk(1, (SdesItem.text_item(SDES_CNAME, "a"),)),))
    assert is_regular_compound([ReceiverReport(1), cname, pli])
    assert not is_regular_compound([ReceiverReport(1), pli])


# --- TWCC -------------------------------------------------------------------------------------


def test_twcc_build_chooses_chunks_and_aligns() -> None:
    fb = TransportCcFeedback.build(1, 2, 65534, 9, 1000, [1, None, 300, -5])
    assert fb.chunks == (StatusVectorChunk(2, (1, 0, 2, 2, 0, 0, 0)),)
    assert fb.deltas == (1, 300, -5)
    wire = bytes(fb)
    assert len(wire) % 4 == 0 and fb.trailing == b"\x00"
    (again,) = parse_compound(wire)
    assert again == fb
    assert isinstance(again, TransportCcFeedback)
    got = [(p.seq, p.symbol, p.delta, p.arrival_us) for p in again.packets()]
    base = 1000 * 64_000
    assert got == [
        (65534, 1, 1, base + 250),
        (65535, 0, None, None),
        (0, 2, 300, base + 301 * 250),
        (1, 2, -5, base + 296 * 250),
    ]


def test_twcc_long_runs_use_run_length_chunks() -> None:
    deltas: list[int | None] = [None] * 20 + [4] * 30
    fb = TransportCcFeedback.build(1, 2, 0, 0, 0, deltas)
    assert fb.chunks == (RunLengthChunk(0, 20), RunLengthChunk(1, 30))
    one_bit = TransportCcFeedback.build(1, 2, 0, 0, 0, [1, None] * 4)
    assert one_bit.chunks == (StatusVectorChunk(1, (1, 0) * 4 + (0,) * 6),)


def test_twcc_reserved_symbol_has_no_delta() -> None:
    chunks = (RunLengthChunk(SYMBOL_RESERVED, 2),)
    fb = TransportCcFeedback(1, 2, 10, 2, 0, 0, chunks, (), trailing=b"\x00\x00")
    (again,) = parse_compound(bytes(fb))
    assert isinstance(again, TransportCcFeedback)
    assert [(p.symbol, p.received, p.delta) for p in again.packets()] == [(3, True, None)] * 2


def test_twcc_from_arrivals() -> None:
    arrivals = [1_000_000, 1_000_400, None, 1_100_000, 1_099_000]
    fb = TransportCcFeedback.from_arrivals(1, 2, 500, 7, arrivals)
    assert fb.reference_time == 1_000_000 // 64_000
    (again,) = parse_compound(bytes(fb))
    assert isinstance(again, TransportCcFeedback)
    assert [p.arrival_us for p in again.packets()] == [
        1_000_000,
        1_000_250,
        None,
        1_100_000,
        1_099_000,
    ]
    with pytest.raises(ValueError, match="does not fit 16 bits"):
        TransportCcFeedback.build(1, 2, 0, 0, 0, [40_000])


def test_twcc_inconsistent_object_does_not_serialize() -> None:
    fb = TransportCcFeedback(1, 2, 0, 3, 0, 0, (RunLengthChunk(1, 3),), (1, 2))
    with pytest.raises(ValueError, match="do not agree"):
        bytes(fb)


# --- CCFB, XR ---------------------------------------------------------------------------------


def test_ccfb_build_and_metric_fields() -> None:
    metrics = (
        CcfbMetricBlock.make(True, 2, 100),
        CcfbMetricBlock.make(False),
        CcfbMetricBlock(0x6200),
    )
    fb = CongestionControlFeedback(9, (CcfbReportBlock(3, 65535, metrics),), 0x12345678)
    (again,) = parse_compound(bytes(fb))
    assert again == fb
    assert isinstance(again, CongestionControlFeedback)
    block = again.report_blocks[0]
    assert block.sequence_numbers == [65535, 0, 1]
    assert [(m.received, m.ecn, m.arrival_time_offset) for m in block.metrics] == [
        (True, 2, 100),
        (False, 0, 0),
        (False, 0, 0),
    ]
    assert block.metrics[2].raw == 0x6200


def test_xr_rrtr_dlrr_round_trip() -> None:
    xr = ExtendedReport(
        0xABCDEF01,
        (Rrtr(0x0102030405060708), Dlrr((DlrrSubBlock(1, 2, 3), DlrrSubBlock(4, 5, 6)))),
    )
    wire = bytes(xr)
    assert wire[:4].hex() == "80cf000b"  # 48 octets
    assert parse_compound(wire) == [xr]


# --- NTP / RTT --------------------------------------------------------------------------------


def test_rtt_example_from_rfc3550_section_6_4_1() -> None:
    # A = 0xb710:8000 (46864.5 s), LSR = 0xb705:2000 (46853.125 s), DLSR = 0x0005:4000 (5.25 s)
    assert rtt_compact(0xB7108000, 0xB7052000, 0x00054000) == 0x00062000
    assert compact_to_seconds(0x00062000) == 6.125
    arrival_ntp = 0xB7108000 << 16
    assert rtt_seconds(arrival_ntp, 0xB7052000, 0x00054000) == 6.125


def test_rtt_without_sr_or_negative_is_none() -> None:
    assert rtt_compact(1000, 0, 5) is None
    assert rtt_compact(1000, 2000, 0) is None  # arrival before LSR: clock step
    assert rtt_compact(5, 0xFFFFFFFE, 1) == 6  # across the 2**32 wrap


def test_ntp_conversions() -> None:
    assert ntp_to_compact(0x1122334455667788) == 0x33445566
    ntp = ntp_from_unix(1_700_000_000.25)
    assert ntp == (1_700_000_000 + 2_208_988_800) << 32 | 1 << 30
    assert ntp_to_unix(ntp) == 1_700_000_000.25
    assert seconds_to_compact(5.25) == 0x00054000
    with pytest.raises(ValueError, match="compact"):
        seconds_to_compact(70_000)


def test_rtt_through_sr_and_rr_values() -> None:
    """The analyzer's path: SR sent at t0, RR back with LSR/DLSR, RTT = what we put in."""
    t0 = 1_700_000_000.0
    sr = SenderReport(1, ntp_from_unix(t0), 0, 0, 0)
    (sr_again,) = parse_compound(bytes(sr))
    assert isinstance(sr_again, SenderReport)
    lsr = ntp_to_compact(sr_again.ntp_timestamp)
    rr = ReceiverReport(2, (ReportBlock(1, lsr=lsr, dlsr=seconds_to_compact(0.5)),))
    (rr_again,) = parse_compound(bytes(rr))
    assert isinstance(rr_again, ReceiverReport)
    block = rr_again.reports[0]
    rtt = rtt_seconds(ntp_from_unix(t0 + 0.5 + 0.080), block.lsr, block.dlsr)
    assert rtt is not None and abs(rtt - 0.080) < 2 / 65536


def test_frozen_factory_builds_equal_frozen_values() -> None:
    make = frozen_factory(ReportBlock)
    block = make(1, 2, -3, 4, 5, 6, 7)
    assert block == ReportBlock(1, 2, -3, 4, 5, 6, 7)
    assert hash(block) == hash(ReportBlock(1, 2, -3, 4, 5, 6, 7))
    with pytest.raises(dataclasses.FrozenInstanceError):
        block.ssrc = 9  # type: ignore[misc]

    @dataclasses.dataclass(frozen=True, slots=True)
    class WithPostInit:
        x: int

        def __post_init__(self) -> None:
            pass

    with pytest.raises(TypeError):
        frozen_factory(WithPostInit)
