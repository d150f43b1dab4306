"""Stream statistics on captures built here: loss, duplicates, reordering, wrap, jitter,
clock rates, heuristics, RTCP counts and round-trip time, SRTP decryption."""

from __future__ import annotations

import io
import struct

import pytest

from rtpstack.capture.analysis import CaptureAnalysis, CaptureAnalyzer
from rtpstack.capture.detect import Hints, hints_from_sdp, parse_clock_rate_option
from rtpstack.capture.ip import udp_ip_packet
from rtpstack.capture.link import ethernet_frame
from rtpstack.capture.pcap import LINKTYPE_ETHERNET
from rtpstack.capture.pcapng import PcapngWriter
from rtpstack.capture.reader import iter_stream
from rtpstack.errors import SdpParseError
from rtpstack.rtp import RtpPacket
from rtpstack.srtp import SrtpKeyingMaterial, SrtpProfile, SrtpSession

A, B = ("192.0.2.10", 40000), ("192.0.2.20", 50000)
T0 = 1_700_000_000 * 10**9

Packet = tuple[int, tuple[str, int], tuple[str, int], bytes]  # (time ns, src, dst, payload)


def rtp(seq: int, ts: int, *, pt: int = 0, ssrc: int = 0x11223344, marker: bool = False,
        payload: bytes = b"\xff" * 160) -> bytes:
    return bytes(RtpPacket(payload_type=pt, sequence_number=seq % 65536, timestamp=ts % 2**32,
                           ssrc=ssrc, marker=marker, payload=payload))


def analyze(packets: list[Packet], hints: Hints | None = None, **kw: object) -> CaptureAnalysis:
    buf = io.BytesIO()
    w = PcapngWriter(buf, LINKTYPE_ETHERNET)
    for i, (t, src, dst, data) in enumerate(packets):
        w.write(ethernet_frame(udp_ip_packet(src[0], src[1], dst[0], dst[1], data, i)), t)
    analyzer = CaptureAnalyzer(hints, **kw)  # type: ignore[arg-type]
    for pkt in iter_stream(io.BytesIO(buf.getvalue())):
        analyzer.feed(pkt)
    return analyzer.result("built")


def audio(seqs: list[int], *, start_seq: int = 1000, times: list[int] | None = None,
          **kw: object) -> list[Packet]:
    """PCMU packets: index i of ``seqs`` is sent at 20 ms * i, seq start+s, ts 160 * s."""
    out = []
    for i, s in enumerate(seqs):
        t = T0 + (times[i] if times else i * 20_000_000)
        out.append((t, A, B, rtp(start_seq + s, 160 * s, **kw)))  # type: ignore[arg-type]
    return out


def test_clean_stream_counts() -> None:
    (s,) = analyze(audio(list(range(50)))).streams
    assert (s.packets, s.expected, s.lost, s.seq_errors, s.duplicates) == (50, 50, 0, 0, 0)
    assert s.clock_rate == 8000 and s.encoding == "PCMU"
    assert s.max_delta_ms == 20.0 and s.min_delta_ms == 20.0
    assert s.max_jitter_ms == 0.0
    assert s.bytes == 50 * 172 and s.payload_bytes == 50 * 160
    assert s.bitrate_kbps == pytest.approx(50 * 172 * 8 / 0.98 / 1000, abs=0.001)
    assert s.first_epoch == pytest.approx(1_700_000_000.0)


def test_loss_duplicates_and_reordering() -> None:
    # 0..19 with 5 and 6 lost, 9 duplicated, 12 and 13 swapped
    seqs = [0, 1, 2, 3, 4, 7, 8, 9, 9, 10, 11, 13, 12, 14, 15, 16, 17, 18, 19]
    (s,) = analyze(audio(seqs)).streams
    assert s.packets == 19 and s.expected == 20
    assert s.lost == 1  # 2 lost, 1 duplicate: RFC 3550 A.3 expected - received
    assert s.duplicates == 1
    # 4->7 gap, 9->9 duplicate, 11->13, 13->12, 12->14
    assert s.seq_errors == 5


def test_sequence_wrap_keeps_counting() -> None:
    (s,) = analyze(audio(list(range(40)), start_seq=65520)).streams
    assert (s.packets, s.expected, s.lost, s.seq_errors) == (40, 40, 0, 0)


def test_reordered_before_first_extends_the_base() -> None:
    (s,) = analyze(audio([1, 0, 2, 3])).streams
    assert s.expected == 4 and s.lost == 0


def test_jitter_follows_rfc3550_a8() -> None:
    # packet 5 arrives 8 ms late: D=+8 ms for it, D=-8 ms (|8|) for packet 6
    times = [i * 20_000_000 + (8_000_000 if i == 5 else 0) for i in range(10)]
    (s,) = analyze(audio(list(range(10)), times=times)).streams
    j5 = 8 / 16
    j6 = j5 + (8 - j5) / 16
    assert s.max_jitter_ms == pytest.approx(round(j6, 3))
    assert s.last_jitter_ms == pytest.approx(round(j6 * (15 / 16) ** 3, 3))
    assert s.max_delta_ms == 28.0 and s.min_delta_ms == 12.0


def test_marker_packets_are_not_regular_for_max_delta() -> None:
    # a talkspurt starts after 400 ms of silence with the marker bit: not a delay problem
    pkts = audio(list(range(5)))
    pkts.append((T0 + 500_000_000, A, B, rtp(1005, 160 * 25, marker=True)))
    pkts.append((T0 + 520_000_000, A, B, rtp(1006, 160 * 26)))
    (s,) = analyze(pkts).streams
    assert s.max_delta_ms == 20.0 and s.max_jitter_ms == 0.0


def test_clock_rate_sources() -> None:
    pkts = audio(list(range(5)), pt=111)
    (unknown,) = analyze(pkts).streams
    assert unknown.clock_rate is None and unknown.mean_jitter_ms is None
    hints = Hints()
    pt, hz = parse_clock_rate_option("111=48000")
    hints.clock_rates[pt] = hz
    (given,) = analyze(pkts, hints).streams
    assert given.clock_rate == 48000 and given.max_jitter_ms is not None
    sdp = "v=0\r\nc=IN IP4 192.0.2.20\r\nm=audio 50000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n"
    (from_sdp,) = analyze(pkts, hints_from_sdp(sdp)).streams
    assert from_sdp.clock_rate == 48000 and from_sdp.encoding == "opus"


@pytest.mark.parametrize("bad", ["111", "x=1", "111=", "200=8000", "0=0"])
def test_clock_rate_option_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="bad clock rate"):
        parse_clock_rate_option(bad)


def test_sdp_errors() -> None:
    with pytest.raises(SdpParseError, match=r"^no SDP description \(missing v=0\)$"):
        hints_from_sdp("hello")
    with pytest.raises(SdpParseError, match="bad SDP media line"):
        hints_from_sdp("v=0\nm=audio x RTP/AVP 0\n")


def test_sdp_inside_sip_gives_the_dynamic_clock_rate() -> None:
    sdp = ("v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
           "m=audio 50000 RTP/AVP 96\r\na=rtpmap:96 L16/16000\r\n")
    sip = (f"INVITE sip:bob@192.0.2.20 SIP/2.0\r\nContent-Type: application/sdp\r\n"
           f"Content-Length: {len(sdp)}\r\n\r\n{sdp}").encode()
    pkts: list[Packet] = [(T0 - 1_000_000, ("192.0.2.10", 5060), ("192.0.2.20", 5060), sip)]
    pkts += audio(list(range(5)), pt=96)
    (s,) = analyze(pkts).streams
    assert s.clock_rate == 16000 and s.encoding == "L16"


def test_heuristics_reject_other_udp() -> None:
    dns_like = rtp(1, 1)  # RTP-looking bytes on the DNS port
    stun = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + b"\0" * 12
    dtls = bytes([22, 0xFE, 0xFD]) + b"\0" * 20
    pkts: list[Packet] = [
        (T0, A, ("192.0.2.53", 53), dns_like),
        (T0 + 1, A, ("192.0.2.53", 53), rtp(2, 160)),
        (T0 + 2, A, B, stun),
        (T0 + 3, A, B, dtls),
        (T0 + 4, A, B, b"\x90" + b"\0" * 3),  # too short for RTP
        (T0 + 5, ("192.0.2.1", 1111), ("192.0.2.2", 2222), rtp(7, 7, ssrc=99)),  # lone packet
    ]
    analysis = analyze(pkts)
    assert analysis.streams == []
    assert analysis.drops["not a media flow"] == 2
    assert analysis.drops["STUN"] == 1 and analysis.drops["DTLS"] == 1
    hinted = Hints()
    hinted.ports.add(53)
    assert [s.packets for s in analyze(pkts, hinted).streams] == [2]


def test_payload_type_filter_and_no_heuristics() -> None:
    pkts = audio(list(range(4))) + audio(list(range(4)), pt=8, ssrc=5)
    assert {s.ssrc for s in analyze(pkts, Hints(payload_types={8})).streams} == {5}
    assert analyze(pkts, Hints(heuristics=False)).streams == []
    assert len(analyze(pkts, Hints(heuristics=False, ports={50000})).streams) == 2


def _sr(ssrc: int, ntp_sec: int, ntp_frac: int) -> bytes:
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, ntp_sec, ntp_frac, 0, 10, 1600)


def _rr(ssrc: int, media: int, lsr: int, dlsr: int) -> bytes:
    return struct.pack("!BBHI", 0x81, 201, 7, ssrc) + struct.pack(
        "!IIIIII", media, (12 << 24) | 3, 1050, 40, lsr, dlsr)


def _fb(pt: int, fmt: int, sender: int, media: int, fci: bytes = b"") -> bytes:
    return struct.pack("!BBHII", 0x80 | fmt, pt, 2 + len(fci) // 4, sender, media) + fci


def test_rtcp_counts_and_round_trip_time() -> None:
    media, receiver = 0x11223344, 0x55667788
    sr = _sr(media, 3_900_000_000, 0x8000_0000)
    lsr = ((3_900_000_000 % 65536) << 16) | 0x8000
    pkts = audio(list(range(10)), ssrc=media)
    pkts += [
        (T0 + 100_000_000, A, B, sr),
        # RR 0.6 s after the SR, having held it 0.5 s: RTT = 100 ms
        (T0 + 700_000_000, B, A, _rr(receiver, media, lsr, 32768)),
        (T0 + 710_000_000, B, A, _rr(receiver, media, 0, 0)
         + _fb(205, 1, receiver, media, struct.pack("!HH", 1005, 0b101))),
        (T0 + 720_000_000, B, A, _rr(receiver, media, 0, 0) + _fb(206, 1, receiver, media)),
        (T0 + 730_000_000, B, A, _rr(receiver, media, 0, 0)
         + _fb(206, 4, receiver, 0, struct.pack("!IBBBB", media, 1, 0, 0, 0))),
        (T0 + 740_000_000, B, A, _rr(receiver, media, 0, 0)
         + _fb(206, 15, receiver, 0, b"REMB" + struct.pack("!BBBBI", 1, 3, 0x40, 0, media))),
        (T0 + 750_000_000, B, A, _rr(receiver, media, 0, 0)
         + _fb(205, 15, receiver, media, struct.pack("!HHIH", 1, 1, 0, 0x2001) + b"\x04\0")),
    ]
    analysis = analyze(pkts)
    by = {r.ssrc: r for r in analysis.rtcp}
    assert by[media].counts["sr"] == 1
    c = by[receiver].counts
    assert (c["rr"], c["nack"], c["pli"], c["fir"], c["remb"], c["twcc"]) == (6, 1, 1, 1, 1, 1)
    assert by[receiver].nack_lost_packets == 3  # PID plus two bits of the BLP
    assert by[receiver].reports[media] == (12 / 256, 3, 40)
    assert by[receiver].rtt.count == 1
    assert by[receiver].rtt.minimum == pytest.approx(0.1, abs=1e-6)
    (s,) = analysis.streams
    assert s.rtt is not None and s.rtt["mean_ms"] == pytest.approx(100.0, abs=0.01)
    assert s.feedback == {"nack": 1, "pli": 1, "fir": 1}


def test_srtp_is_decrypted_while_analysing() -> None:
    keys = SrtpKeyingMaterial.generate(SrtpProfile.AES_CM_128_HMAC_SHA1_80)
    tx = SrtpSession(keys)
    clear = audio(list(range(20)))
    protected = [(t, s, d, tx.protect(p)) for t, s, d, p in clear]
    protected.append((T0 + 500_000_000, A, B, tx.protect_rtcp(_sr(0x11223344, 1, 2))))
    (enc,) = analyze(protected).streams
    assert enc.bytes == 20 * (172 + 10)  # auth tag counted while encrypted
    analysis = analyze(protected, srtp_keys={0x11223344: keys})
    (dec,) = analysis.streams
    assert dec.bytes == 20 * 172 and dec.packets == 20
    assert analysis.rtcp[0].counts["sr"] == 1
    wrong = SrtpKeyingMaterial.generate(SrtpProfile.AES_CM_128_HMAC_SHA1_80)
    failed = analyze(protected, srtp_keys={None: wrong})
    assert failed.streams == []
    assert failed.drops["SRTP unprotect failed"] == 20
    assert failed.drops["SRTCP unprotect failed"] == 1


def test_series_kept_for_plots() -> None:
    analyzer = analyze(audio([0, 1, 3, 4]), keep_series=True)
    ((_key, series),) = analyzer.series.items()
    assert [p[1] for p in series] == [1000, 1001, 1003, 1004]
    assert [p[3] for p in series] == [0, 0, 1, 1]  # cumulative loss


def test_bitrate_series_bins_and_partial_last_bin() -> None:
    from rtpstack.capture.plot import bitrate_series

    series = [(0.0, 0, 0.0, 0, 1000), (0.5, 1, 0.0, 0, 1000), (1.25, 2, 0.0, 0, 500)]
    edges, values = bitrate_series(series)
    assert edges == [0.0, 1.0, 1.25]
    assert values == [16.0, 16.0]  # 2000 B in 1 s; 500 B in the last 0.25 s
    assert bitrate_series([]) == ([], [])


def test_malformed_rtcp_compound_falls_back_to_header_counts() -> None:
    from rtpstack.capture.rtcpstats import RtcpTracker

    tracker = RtcpTracker()
    garbage_tail = b"\x80\xc8\x00\x10" + b"\0" * 8  # claims 68 octets, has 12
    assert tracker.feed(_rr(7, 9, 0, 0) + garbage_tail, 1.0, "a", 1, "b", 2)
    (snd,) = tracker.senders.values()
    assert (snd.packets, snd.counts["rr"], snd.counts["malformed"]) == (1, 1, 1)
    assert snd.reports[9] == (12 / 256, 3, 40)
    # SRTCP: only the clear first header counts, the rest is ciphertext
    assert tracker.feed(_sr(7, 1, 2) + b"\x12" * 30, 2.0, "a", 1, "b", 2, encrypted=True)
    assert snd.counts["sr"] == 1 and snd.encrypted
    assert not tracker.feed(b"\x00" * 12, 3.0, "a", 1, "b", 2)


def test_result_can_be_taken_twice() -> None:
    pkts = [*audio(list(range(3))), (T0 + 100_000_000, A, B, _sr(0x11223344, 1, 2))]
    buf = io.BytesIO()
    w = PcapngWriter(buf, LINKTYPE_ETHERNET)
    for i, (t, src, dst, data) in enumerate(pkts):
        w.write(ethernet_frame(udp_ip_packet(src[0], src[1], dst[0], dst[1], data, i)), t)
    analyzer = CaptureAnalyzer()
    for pkt in iter_stream(io.BytesIO(buf.getvalue())):
        analyzer.feed(pkt)
    first, second = analyzer.result("a"), analyzer.result("a")
    assert first.to_dict() == second.to_dict()
    assert first.rtcp[0].first_time == pytest.approx(0.1)
