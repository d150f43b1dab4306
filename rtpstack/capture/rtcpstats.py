"""RTCP statistics per sender: packet-type counts, reported loss/jitter, and round-trip time.

The analyzer hands every RTCP datagram to :class:`RtcpTracker` with its capture time and
5-tuple. Counts are kept per (5-tuple, sender SSRC). The round-trip time is measured where the
capture sees both directions: a report block (in an SR or RR) whose LSR names an SR seen
earlier gives ``RTT = t(report) - t(SR) - DLSR`` (RFC 3550 6.4.1), with both times taken
from the capture, which is exact when the capture point is at the SR's sender.

Clear compounds are decoded with :func:`rtpstack.rtcp.parse_compound`. For SRTCP only the
first header and the sender SSRC are in clear; pass ``encrypted=True`` and only that first
packet is counted. SRTCP and compounds that the typed parser rejects (RFC 3550 A.2 drops them
whole) are read with a small header walker that counts what it can and marks the rest
``malformed`` (drop, don't crash).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from rtpstack.errors import RtcpParseError
from rtpstack.rtcp import (
    AppPacket,
    Bye,
    ExtendedReport,
    Fir,
    GenericNack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    RtcpPacket,
    SenderReport,
    SourceDescription,
    TransportCcFeedback,
    parse_compound,
)

__all__ = ["RtcpSenderSummary", "RtcpTracker", "RttStats"]

_SR, _RR, _SDES, _BYE, _APP, _RTPFB, _PSFB, _XR = range(200, 208)
_COUNTERS = ("sr", "rr", "sdes", "bye", "app", "nack", "pli", "fir", "remb", "twcc", "xr",
             "other_fb", "malformed")
_MAX_SR_MEMORY = 64


@dataclass(slots=True)
class RttStats:
    """Round-trip-time samples (seconds) reduced to count/min/mean/max."""

    count: int = 0
    total: float = 0.0
    minimum: float = float("inf")
    maximum: float = 0.0

    def add(self, rtt: float) -> None:
        """Add one sample."""
        self.count += 1
        self.total += rtt
        self.minimum = min(self.minimum, rtt)
        self.maximum = max(self.maximum, rtt)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready milliseconds (None when no sample)."""
        if not self.count:
            return {"samples": 0, "min_ms": None, "mean_ms": None, "max_ms": None}
        return {
            "samples": self.count,
            "min_ms": round(self.minimum * 1000, 3),
            "mean_ms": round(self.total / self.count * 1000, 3),
            "max_ms": round(self.maximum * 1000, 3),
        }


@dataclass(slots=True)
class RtcpSenderSummary:
    """What one RTCP sender (5-tuple + SSRC) sent."""

    src: str
    sport: int
    dst: str
    dport: int
    ssrc: int
    packets: int = 0
    first_time: float = 0.0
    last_time: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTERS, 0))
    nack_lost_packets: int = 0
    #: last report block values per reported SSRC: fraction lost (0-1), cumulative lost,
    #: interarrival jitter in timestamp units
    reports: dict[int, tuple[float, int, int]] = field(default_factory=dict)
    rtt: RttStats = field(default_factory=RttStats)
    encrypted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "src": self.src,
            "sport": self.sport,
            "dst": self.dst,
            "dport": self.dport,
            "ssrc": f"0x{self.ssrc:08X}",
            "packets": self.packets,
            "first_time": round(self.first_time, 6),
            "last_time": round(self.last_time, 6),
            "encrypted": self.encrypted,
            **{k: v for k, v in self.counts.items()},
            "nack_lost_packets": self.nack_lost_packets,
            "reports": {
                f"0x{s:08X}": {"fraction_lost": round(f, 4), "cumulative_lost": c, "jitter": j}
                for s, (f, c, j) in sorted(self.reports.items())
            },
            "rtt": self.rtt.to_dict(),
        }


class RtcpTracker:
    """Accumulate RTCP statistics over a capture (sans-IO; times are capture seconds)."""

    def __init__(self) -> None:
        self.senders: dict[tuple[str, int, str, int, int], RtcpSenderSummary] = {}
        #: SSRC -> {NTP middle 32 bits of its SR: capture time}
        self._sr_times: dict[int, dict[int, float]] = {}
        #: media SSRC -> RTT stats measured from reports about it
        self.rtt_by_media_ssrc: dict[int, RttStats] = {}
        #: media SSRC -> feedback counts aimed at it (nack/pli/fir)
        self.feedback_for: dict[int, dict[str, int]] = {}

    def feed(
        self, data: bytes, t: float, src: str, sport: int, dst: str, dport: int,
        *, encrypted: bool = False,
    ) -> bool:
        """Account one RTCP datagram; False when not even its first header is valid."""
        if not encrypted:
            try:
                typed = parse_compound(data)
            except RtcpParseError:
                typed = None
            if typed is not None:
                self._typed(typed, data, t, src, sport, dst, dport)
                return True
        return self._walk(data, t, src, sport, dst, dport, encrypted)

    def _typed(self, packets: list[RtcpPacket], data: bytes, t: float, src: str, sport: int,
               dst: str, dport: int) -> None:
        pos = 0
        lead: RtcpSenderSummary | None = None
        for pkt in packets:
            ssrc = struct.unpack_from("!I", data, pos + 4)[0] if pos + 8 <= len(data) else 0
            pos += (struct.unpack_from("!H", data, pos + 2)[0] + 1) * 4
            snd = self._sender(src, sport, dst, dport, ssrc, t, count=lead is None)
            lead = lead or snd
            c = snd.counts
            if isinstance(pkt, SenderReport):
                c["sr"] += 1
                self._remember_sr(snd.ssrc, (pkt.ntp_timestamp >> 16) % (1 << 32), t)
                self._report_blocks(snd, pkt.reports, t)
            elif isinstance(pkt, ReceiverReport):
                c["rr"] += 1
                self._report_blocks(snd, pkt.reports, t)
            elif isinstance(pkt, SourceDescription):
                c["sdes"] += 1
            elif isinstance(pkt, Bye):
                c["bye"] += 1
            elif isinstance(pkt, AppPacket):
                c["app"] += 1
            elif isinstance(pkt, ExtendedReport):
                c["xr"] += 1
            elif isinstance(pkt, GenericNack):
                c["nack"] += 1
                snd.nack_lost_packets += len(pkt.lost_sequence_numbers)
                self._fb(pkt.media_ssrc, "nack")
            elif isinstance(pkt, TransportCcFeedback):
                c["twcc"] += 1
            elif isinstance(pkt, Pli):
                c["pli"] += 1
                self._fb(pkt.media_ssrc, "pli")
            elif isinstance(pkt, Fir):
                c["fir"] += 1
                for entry in pkt.entries:
                    self._fb(entry.ssrc, "fir")
            elif isinstance(pkt, Remb):
                c["remb"] += 1
            elif getattr(pkt, "packet_type", None) in (_RTPFB, _PSFB):
                c["other_fb"] += 1

    def _remember_sr(self, ssrc: int, ntp_mid: int, t: float) -> None:
        times = self._sr_times.setdefault(ssrc, {})
        times[ntp_mid] = t
        if len(times) > _MAX_SR_MEMORY:
            del times[next(iter(times))]

    def _report_blocks(self, snd: RtcpSenderSummary, blocks: tuple[ReportBlock, ...],
                       t: float) -> None:
        for b in blocks:
            self._report(snd, b.ssrc, b.fraction_lost, b.cumulative_lost, b.jitter, b.lsr,
                         b.dlsr, t)

    def _report(self, snd: RtcpSenderSummary, ssrc: int, fraction: int, cum: int, jitter: int,
                lsr: int, dlsr: int, t: float) -> None:
        snd.reports[ssrc] = (fraction / 256, cum, jitter)
        if lsr:
            sent = self._sr_times.get(ssrc, {}).get(lsr)
            if sent is not None:
                rtt = t - sent - dlsr / 65536
                if rtt >= -0.001:  # clock granularity; anything else is a stale LSR
                    self.rtt_by_media_ssrc.setdefault(ssrc, RttStats()).add(max(rtt, 0.0))
                    snd.rtt.add(max(rtt, 0.0))

    def _walk(self, data: bytes, t: float, src: str, sport: int, dst: str, dport: int,
              encrypted: bool) -> bool:
        pos = 0
        first = True
        lead: RtcpSenderSummary | None = None
        while pos + 8 <= len(data):
            b0, pt, words, ssrc = struct.unpack_from("!BBHI", data, pos)
            size = (words + 1) * 4
            if b0 >> 6 != 2 or pos + size > len(data) or not 200 <= pt <= 207:
                if lead is None:
                    return False
                lead.counts["malformed"] += 1  # trailing bytes that do not parse
                break
            snd = self._sender(src, sport, dst, dport, ssrc, t, count=first)
            lead = lead or snd
            snd.encrypted = snd.encrypted or encrypted
            self._packet(snd, pt, b0 & 31, data[pos : pos + size], t, encrypted)
            first = False
            pos += size
            if encrypted:
                break  # the rest of an SRTCP packet is ciphertext
        return not first

    def _sender(
        self, src: str, sport: int, dst: str, dport: int, ssrc: int, t: float, count: bool = False
    ) -> RtcpSenderSummary:
        key = (src, sport, dst, dport, ssrc)
        snd = self.senders.get(key)
        if snd is None:
            snd = self.senders[key] = RtcpSenderSummary(src, sport, dst, dport, ssrc,
                                                         first_time=t, last_time=t)
        if count:
            snd.packets += 1
            snd.last_time = t
        return snd

    def _packet(
        self, snd: RtcpSenderSummary, pt: int, rc: int, pkt: bytes, t: float, encrypted: bool
    ) -> None:
        c = snd.counts
        if pt == _SR:
            c["sr"] += 1
            if encrypted or len(pkt) < 28:
                return
            self._remember_sr(snd.ssrc, struct.unpack_from("!I", pkt, 10)[0], t)
            self._blocks(snd, pkt, 28, rc, t)
        elif pt == _RR:
            c["rr"] += 1
            if not encrypted:
                self._blocks(snd, pkt, 8, rc, t)
        elif pt == _SDES:
            c["sdes"] += 1
        elif pt == _BYE:
            c["bye"] += 1
        elif pt == _APP:
            c["app"] += 1
        elif pt == _XR:
            c["xr"] += 1
        elif pt == _RTPFB:
            media = struct.unpack_from("!I", pkt, 8)[0] if len(pkt) >= 12 else 0
            if rc == 1:
                c["nack"] += 1
                self._fb(media, "nack")
                if not encrypted:
                    for off in range(12, len(pkt) - 3, 4):
                        blp = struct.unpack_from("!H", pkt, off + 2)[0]
                        snd.nack_lost_packets += 1 + blp.bit_count()
            elif rc == 15:
                c["twcc"] += 1
            else:
                c["other_fb"] += 1
        elif pt == _PSFB:
            media = struct.unpack_from("!I", pkt, 8)[0] if len(pkt) >= 12 else 0
            if rc == 1:
                c["pli"] += 1
                self._fb(media, "pli")
            elif rc == 4:
                c["fir"] += 1
                if not encrypted and len(pkt) >= 16:
                    media = struct.unpack_from("!I", pkt, 12)[0]
                self._fb(media, "fir")
            elif rc == 15 and (encrypted or pkt[12:16] == b"REMB"):
                c["remb"] += 1
            else:
                c["other_fb"] += 1

    def _fb(self, media: int, kind: str) -> None:
        d = self.feedback_for.setdefault(media, {"nack": 0, "pli": 0, "fir": 0})
        d[kind] += 1

    def _blocks(self, snd: RtcpSenderSummary, pkt: bytes, off: int, rc: int, t: float) -> None:
        for i in range(rc):
            p = off + 24 * i
            if p + 24 > len(pkt):
                snd.counts["malformed"] += 1
                return
            ssrc, lost_word, _hseq, jitter, lsr, dlsr = struct.unpack_from("!IIIIII", pkt, p)
            cum = lost_word % (1 << 24)
            if cum >= 1 << 23:
                cum -= 1 << 24
            self._report(snd, ssrc, lost_word >> 24, cum, jitter, lsr, dlsr, t)
