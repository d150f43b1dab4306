"""Our per-stream statistics against tshark 4.0.17's ``-z rtp,streams`` on every corpus capture.

The expected values are the corpus's ``expected/tshark_rtp_streams/ALL_STREAMS.tsv``, mode
``heuristics``. Compared field by field, within the rounding of tshark's printout (3 decimals
of a millisecond, 6 decimals of a second): the set of streams (5-tuple + SSRC), packets, lost,
start/end time, min and max delta, and min/mean/max jitter where tshark computed it.

Deliberate differences, each named with its reason (``DIFFERENCES``):

* ``ndpi__FAX-Call-…`` stream 0x0EAF0EAF: after the T.38 re-INVITE, tshark's SDP-driven
  conversation table hands the port to the T.38 dissector, so it does not see the 27 PCMA
  packets (frames 1436-1488, seq 1845-1871, same SSRC) that follow. They are RTP, and we count
  them: packets +27, end time later, mean jitter and mean delta move with them.
* ``ndpi__stun_dtls_rtp`` streams 0x2F696C70 and 0x321D28BB travel inside TURN ChannelData
  over TCP. tshark reports no delta for them (min -1.000, max 0.000); we measure the deltas
  between the segments' capture times.
"""

from __future__ import annotations

import csv
from typing import Any

import pytest

from rtpstack.capture.analysis import StreamSummary, analyze_file
from tests.conftest import CORPUS, corpus_path

EXPECTED = "expected/tshark_rtp_streams/ALL_STREAMS.tsv"
MS_TOL = 0.0015  # tshark prints milliseconds with 3 decimals
S_TOL = 1.5e-6  # and seconds with 6

Key = tuple[str, int, str, int, int]

#: (capture, SSRC) -> fields not compared, and why; plus exact expected deltas we assert instead
DIFFERENCES: dict[tuple[str, int], dict[str, Any]] = {
    ("ndpi__FAX-Call-t38-CA-TDM-SIP-FB-1.pcap", 0x0EAF0EAF): {
        "reason": "tshark's SDP conversation gives frames 1436-1488 to T.38; they are RTP",
        "packets_extra": 27,
        "skip": {"end", "mean_jitter_ms"},
    },
    ("ndpi__stun_dtls_rtp.pcapng", 0x2F696C70): {
        "reason": "RTP in TURN ChannelData over TCP: tshark computes no deltas",
        "skip": {"min_delta_ms", "max_delta_ms"},
    },
    ("ndpi__stun_dtls_rtp.pcapng", 0x321D28BB): {
        "reason": "RTP in TURN ChannelData over TCP: tshark computes no deltas",
        "skip": {"min_delta_ms", "max_delta_ms"},
    },
}


def _captures() -> list[str]:
    folder = CORPUS / "pcaps"
    if not folder.is_dir():
        return ["(corpus absent)"]
    return sorted(p.name for p in folder.iterdir())


def _expected(capture: str) -> dict[Key, dict[str, str]]:
    path = corpus_path(EXPECTED)
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t")
                if r["capture"] == capture and r["mode"] == "heuristics"]
    return {(r["src"], int(r["sport"]), r["dst"], int(r["dport"]), int(r["ssrc"], 16)): r
            for r in rows}


def _close(ours: float | None, theirs: str, tol: float) -> bool:
    return ours is not None and abs(ours - float(theirs)) <= tol


@pytest.mark.parametrize("capture", _captures())
def test_streams_match_tshark(capture: str) -> None:
    path = corpus_path(f"pcaps/{capture}")
    expected = _expected(capture)
    analysis = analyze_file(path)
    got: dict[Key, StreamSummary] = {
        (s.src, s.sport, s.dst, s.dport, s.ssrc): s for s in analysis.streams
    }
    assert set(got) == set(expected), "the same streams (5-tuple + SSRC) as tshark"
    problems: list[str] = []
    for key, row in expected.items():
        s = got[key]
        diff = DIFFERENCES.get((capture, key[4]), {})
        skip = diff.get("skip", set())
        name = f"0x{key[4]:08X}"

        def check(field: str, ok: bool, ours: object, theirs: object, name: str = name,
                  skip: set[str] = skip) -> None:
            if field not in skip and not ok:
                problems.append(f"{name} {field}: ours {ours}, tshark {theirs}")

        check("packets", s.packets == int(row["pkts"]) + diff.get("packets_extra", 0),
              s.packets, row["pkts"])
        check("lost", s.lost == int(row["lost"]), s.lost, row["lost"])
        check("start", abs(s.first_time - float(row["start"])) <= S_TOL,
              s.first_time, row["start"])
        check("end", abs(s.last_time - float(row["end"])) <= S_TOL, s.last_time, row["end"])
        if float(row["min_delta_ms"]) >= 0:  # tshark: -1.000 = no delta measured
            check("min_delta_ms", _close(s.min_delta_ms, row["min_delta_ms"], MS_TOL),
                  s.min_delta_ms, row["min_delta_ms"])
            check("max_delta_ms", _close(s.max_delta_ms, row["max_delta_ms"], MS_TOL),
                  s.max_delta_ms, row["max_delta_ms"])
        else:
            check("min_delta_ms", s.min_delta_ms is None, s.min_delta_ms, "none")
        if float(row["min_jitter_ms"]) >= 0:  # tshark knew the clock rate
            for field in ("min_jitter_ms", "mean_jitter_ms", "max_jitter_ms"):
                check(field, _close(getattr(s, field), row[field], MS_TOL),
                      getattr(s, field), row[field])
        else:
            check("mean_jitter_ms", s.mean_jitter_ms is None, s.mean_jitter_ms, "none")
    assert not problems, "\n".join(problems)


def test_named_differences_still_differ() -> None:
    """Each deliberate difference is real: if tshark and we ever agree, drop the entry."""
    fax = analyze_file(corpus_path("pcaps/ndpi__FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"))
    s = next(x for x in fax.streams if x.ssrc == 0x0EAF0EAF)
    assert s.packets == 132 + 27 and s.mean_jitter_ms != 1.414
    turn = analyze_file(corpus_path("pcaps/ndpi__stun_dtls_rtp.pcapng"))
    tcp = {x.ssrc: x for x in turn.streams if x.transport == "tcp"}
    assert set(tcp) == {0x2F696C70, 0x321D28BB}
    assert tcp[0x321D28BB].max_delta_ms is not None and tcp[0x321D28BB].max_delta_ms > 0


def test_every_capture_without_rtp_gives_no_stream() -> None:
    for name in ("ndpi__discord_mid_flow.pcap",
                 "ndpi__rtcp_multiple_pkts_in_the_same_datagram.pcap",
                 "tcpdump__rtp-seg-fault-1.pcapng", "tcpdump__rtp-seg-fault-2.pcapng"):
        analysis = analyze_file(corpus_path(f"pcaps/{name}"))
        assert analysis.streams == [], name


def test_rtcp_only_captures_are_counted() -> None:
    multi = analyze_file(corpus_path("pcaps/ndpi__rtcp_multiple_pkts_in_the_same_datagram.pcap"))
    counts = {r.ssrc: (r.packets, r.counts["sr"], r.counts["rr"], r.counts["sdes"])
              for r in multi.rtcp}
    # 5 datagrams: 3 SR+SDES from one side, 2 RR+SDES from the other (Linux cooked capture)
    assert counts == {0x5D931534: (3, 3, 0, 3), 0x01932DB4: (2, 0, 2, 2)}
    # one side's RR answers the other's SR (LSR/DLSR): both directions are in the capture
    rr = next(r for r in multi.rtcp if r.ssrc == 0x01932DB4)
    assert rr.rtt.count >= 1 and 0 <= rr.rtt.minimum < 1
    # last report blocks, as tshark_rtcp_fields shows them (frames 4 and 5)
    sr = next(r for r in multi.rtcp if r.ssrc == 0x5D931534)
    assert rr.reports[0x5D931534] == (0.0, 1, 6)
    assert sr.reports[0x01932DB4] == (0.0, 1, 0)
    sip = analyze_file(corpus_path("pcaps/ndpi__sip.pcap"))
    ((ssrc, sip_counts),) = [(r.ssrc, r.counts) for r in sip.rtcp]
    assert ssrc == 0x3796CB71
    assert (sip_counts["sr"], sip_counts["sdes"], sip_counts["bye"]) == (1, 1, 1)


@pytest.mark.parametrize("capture", _captures())
def test_without_heuristics_sdp_in_sip_finds_what_tshark_default_finds(capture: str) -> None:
    """tshark's default mode finds RTP only through signalling; so do we with heuristics off
    (SDP bodies of SIP messages in the capture announce the flows)."""
    from rtpstack.capture.detect import Hints

    path = corpus_path(f"pcaps/{capture}")
    with open(corpus_path(EXPECTED), newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t")
                if r["capture"] == capture and r["mode"] == "default"]
    expected = {(r["src"], int(r["sport"]), r["dst"], int(r["dport"]), int(r["ssrc"], 16))
                for r in rows}
    analysis = analyze_file(path, Hints(heuristics=False))
    assert {(s.src, s.sport, s.dst, s.dport, s.ssrc) for s in analysis.streams} == expected


def test_dtls_marks_flows_as_srtp_also_inside_turn() -> None:
    analysis = analyze_file(corpus_path("pcaps/ndpi__stun_dtls_rtp.pcapng"))
    assert {s.transport: s.secure for s in analysis.streams} == {"udp": True, "tcp": True}
    assert analysis.drops["DTLS"] > 23  # 23 DTLS datagrams over UDP, more inside TURN/TCP
