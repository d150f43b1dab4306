"""Property tests (hypothesis) for the RTCP wire layer.

* random bytes, and mutated valid packets -> a list of packets that re-serializes to the same
  bytes, or RtcpParseError; never another exception;
* random valid packets -> serialize -> parse is the identity;
* Generic NACK: build from lost sequence numbers and expand back are inverse;
* transport-cc: encode from per-packet deltas / arrival times and decode back are inverse.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from rtpstack.errors import RtcpParseError
from rtpstack.rtcp import (
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
    PacketReceiptTimes,
    PayloadFeedback,
    Pli,
    RawRtcpPacket,
    ReceiverReport,
    Remb,
    ReportBlock,
    RleReport,
    Rrtr,
    RtcpPacket,
    RtpFeedback,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    StatisticsSummary,
    TransportCcFeedback,
    VoipMetrics,
    XrBlock,
    XrBlockType,
    parse_compound,
    serialize_compound,
)
from rtpstack.seqnum import seq_add, seq_diff

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)


def words(max_words: int = 4) -> st.SearchStrategy[bytes]:
    """Byte strings whose length is a multiple of 4."""
    return st.integers(0, max_words).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n))


@st.composite
def padding_for(draw: st.DrawFn, unaligned: int = 0) -> bytes:
    """Padding keeping the packet 32-bit aligned, filler octets arbitrary (kept as received)."""
    need = -unaligned % 4
    if need == 0 and not draw(st.booleans()):
        return b""
    size = need + 4 * draw(st.integers(0 if need else 1, 2))
    return draw(st.binary(min_size=size - 1, max_size=size - 1)) + bytes((size,))


report_blocks = st.builds(
    ReportBlock,
    ssrc=u32,
    fraction_lost=u8,
    cumulative_lost=st.integers(-(2**23), 2**23 - 1),
    extended_highest_seq=u32,
    jitter=u32,
    lsr=u32,
    dlsr=u32,
)
reports = st.lists(report_blocks, max_size=3).map(tuple)

sender_reports = st.builds(
    SenderReport,
    ssrc=u32,
    ntp_timestamp=u64,
    rtp_timestamp=u32,
    packet_count=u32,
    octet_count=u32,
    reports=reports,
    profile_extension=words(2),
    padding=padding_for(),
)
receiver_reports = st.builds(
    ReceiverReport, ssrc=u32, reports=reports, profile_extension=words(2), padding=padding_for()
)
sdes_items = st.builds(SdesItem, type=st.integers(1, 255), value=st.binary(max_size=20))
sdes = st.builds(
    SourceDescription,
    chunks=st.lists(
        st.builds(SdesChunk, ssrc=u32, items=st.lists(sdes_items, max_size=3).map(tuple)),
        max_size=3,
    ).map(tuple),
    padding=padding_for(),
)
byes = st.builds(
    Bye,
    sources=st.lists(u32, max_size=4).map(tuple),
    reason=st.none() | st.binary(max_size=30),
    padding=padding_for(),
)


@st.composite
def apps(draw: st.DrawFn) -> AppPacket:
    data = draw(st.binary(max_size=20))
    return AppPacket(
        draw(st.integers(0, 31)),
        draw(u32),
        draw(st.binary(min_size=4, max_size=4)),
        data,
        draw(padding_for(len(data))),
    )


nacks = st.builds(
    GenericNack,
    sender_ssrc=u32,
    media_ssrc=u32,
    entries=st.lists(st.builds(NackEntry, u16, u16), min_size=1, max_size=4).map(tuple),
    padding=padding_for(),
)
plis = st.builds(Pli, sender_ssrc=u32, media_ssrc=u32, padding=padding_for())
firs = st.builds(
    Fir,
    sender_ssrc=u32,
    entries=st.lists(
        st.builds(FirEntry, u32, u8, st.binary(min_size=3, max_size=3)), min_size=1, max_size=3
    ).map(tuple),
    media_ssrc=u32,
    padding=padding_for(),
)
rembs = st.builds(
    Remb,
    sender_ssrc=u32,
    bitrate_exp=st.integers(0, 63),
    bitrate_mantissa=st.integers(0, 2**18 - 1),
    ssrcs=st.lists(u32, max_size=4).map(tuple),
    media_ssrc=u32,
    padding=padding_for(),
)
rtpfb_raw = st.builds(
    RtpFeedback,
    fmt=st.integers(0, 31).filter(lambda f: f not in (1, 11, 15)),
    sender_ssrc=u32,
    media_ssrc=u32,
    fci=words(3),
    padding=padding_for(),
)
psfb_raw = st.builds(
    PayloadFeedback,
    fmt=st.integers(0, 31).filter(lambda f: f not in (1, 4, 15)),
    sender_ssrc=u32,
    media_ssrc=u32,
    fci=words(3),
    padding=padding_for(),
)
twcc_deltas = st.lists(st.none() | st.integers(-32768, 32767) | st.integers(0, 255), max_size=60)


@st.composite
def twccs(draw: st.DrawFn) -> TransportCcFeedback:
    fb = TransportCcFeedback.build(
        draw(u32),
        draw(u32),
        draw(u16),
        draw(u8),
        draw(st.integers(0, 2**24 - 1)),
        draw(twcc_deltas),
    )
    if draw(st.booleans()):  # move the 32-bit alignment from zero filler into RTCP padding
        size = len(fb.trailing) or 4
        fb = TransportCcFeedback(
            fb.sender_ssrc,
            fb.media_ssrc,
            fb.base_seq,
            fb.status_count,
            fb.reference_time,
            fb.fb_count,
            fb.chunks,
            fb.deltas,
            b"",
            bytes(size - 1) + bytes((size,)),
        )
    return fb


ccfbs = st.builds(
    CongestionControlFeedback,
    sender_ssrc=u32,
    report_blocks=st.lists(
        st.builds(
            CcfbReportBlock,
            media_ssrc=u32,
            begin_seq=u16,
            metrics=st.lists(st.builds(CcfbMetricBlock, u16), max_size=5).map(tuple),
        ),
        max_size=3,
    ).map(tuple),
    report_timestamp=u32,
    padding=padding_for(),
)


@st.composite
def rle_reports(draw: st.DrawFn) -> RleReport:
    n = draw(st.integers(0, 3))
    chunks = tuple(draw(st.lists(u16, min_size=2 * n, max_size=2 * n)))
    return RleReport(
        draw(st.sampled_from([1, 2])), draw(u32), draw(u16), draw(u16), chunks, draw(u8)
    )


xr_blocks: st.SearchStrategy[XrBlockType] = st.one_of(
    st.builds(Rrtr, u64, u8),
    st.builds(Dlrr, st.lists(st.builds(DlrrSubBlock, u32, u32, u32), max_size=3).map(tuple), u8),
    rle_reports(),
    st.builds(PacketReceiptTimes, u32, u16, u16, st.lists(u32, max_size=3).map(tuple), u8),
    st.builds(StatisticsSummary, u32, u16, u16, u32, u32, u32, u32, u32, u32, u8, u8, u8, u8, u8),
    st.builds(VoipMetrics, ssrc=u32, signal_level=st.integers(-128, 127), jb_abs_max=u16),
    st.builds(XrBlock, st.integers(8, 255), u8, words(3)),
)
xrs = st.builds(
    ExtendedReport,
    ssrc=u32,
    blocks=st.lists(xr_blocks, max_size=4).map(tuple),
    reserved=st.integers(0, 31),
    padding=padding_for(),
)
raws = st.builds(
    RawRtcpPacket,
    packet_type=st.integers(0, 255).filter(lambda t: not 200 <= t <= 207),
    count=st.integers(0, 31),
    body=words(3),
    padding=padding_for(),
)

any_packet: st.SearchStrategy[RtcpPacket] = st.one_of(
    sender_reports,
    receiver_reports,
    sdes,
    byes,
    apps(),
    nacks,
    plis,
    firs,
    rembs,
    rtpfb_raw,
    psfb_raw,
    twccs(),
    ccfbs,
    xrs,
    raws,
)


@settings(max_examples=250, deadline=None)
@given(st.lists(any_packet, min_size=1, max_size=4))
def test_valid_packets_round_trip(packets: list[RtcpPacket]) -> None:
    wire = serialize_compound(packets)
    assert len(wire) % 4 == 0
    again = parse_compound(wire)
    assert again == packets
    assert serialize_compound(again) == wire


def _parse_or_error(data: bytes) -> None:
    try:
        packets = parse_compound(data)
    except RtcpParseError:
        return
    assert serialize_compound(packets) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_bytes_parse_or_raise_parse_error(data: bytes) -> None:
    _parse_or_error(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60).map(lambda b: b"\x80" + b))
def test_random_version_2_bytes_parse_or_raise_parse_error(data: bytes) -> None:
    _parse_or_error(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(any_packet, min_size=1, max_size=3), st.data())
def test_mutated_packets_parse_or_raise_parse_error(
    packets: list[RtcpPacket], data: st.DataObject
) -> None:
    wire = bytearray(serialize_compound(packets))
    for _ in range(data.draw(st.integers(1, 3))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(u8)
    cut = data.draw(st.integers(0, len(wire)))
    _parse_or_error(bytes(wire[:cut]))
    _parse_or_error(bytes(wire))


@st.composite
def lost_sets(draw: st.DrawFn) -> tuple[int, list[int]]:
    """A window start and lost sequence numbers inside the window, in random order."""
    base = draw(u16)
    offsets = draw(st.lists(st.integers(0, 2000), min_size=1, max_size=60, unique=True))
    return base, [seq_add(base, o) for o in offsets]


@settings(max_examples=300, deadline=None)
@given(lost_sets())
def test_nack_build_and_expand_are_inverse(window: tuple[int, list[int]]) -> None:
    base, lost = window
    nack = GenericNack.from_lost(1, 2, lost)
    (again,) = parse_compound(bytes(nack))
    assert isinstance(again, GenericNack)
    expected = sorted(lost, key=lambda s: seq_diff(s, base))
    assert again.lost_sequence_numbers == expected
    # the packing is tight: every entry after the first starts more than 16 after the last PID
    pids = [seq_diff(e.pid, base) for e in again.entries]
    assert all(b - a > 16 for a, b in itertools.pairwise(pids))


@settings(max_examples=300, deadline=None)
@given(u16, st.integers(0, 2**24 - 1), twcc_deltas)
def test_twcc_encode_decode_inverse(base: int, ref: int, deltas: list[int | None]) -> None:
    fb = TransportCcFeedback.build(7, 8, base, 3, ref, deltas)
    (again,) = parse_compound(bytes(fb))
    assert isinstance(again, TransportCcFeedback)
    assert again == fb
    packets = again.packets()
    assert [p.seq for p in packets] == [seq_add(base, i) for i in range(len(deltas))]
    assert [p.delta for p in packets] == deltas
    assert [p.received for p in packets] == [d is not None for d in deltas]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 10**9),
    st.lists(st.none() | st.integers(-2_000_000, 2_000_000), max_size=50),
)
def test_twcc_from_arrivals_recovers_arrival_times(start: int, steps: list[int | None]) -> None:
    arrivals: list[int | None] = []
    now = start
    for step in steps:
        if step is None:
            arrivals.append(None)
        else:
            now = max(now + step, start)
            arrivals.append(now)
    fb = TransportCcFeedback.from_arrivals(1, 2, 65530, 0, arrivals)
    (again,) = parse_compound(bytes(fb))
    assert isinstance(again, TransportCcFeedback)
    got = [p.arrival_us for p in again.packets()]
    assert got == [None if a is None else a // 250 * 250 for a in arrivals]
