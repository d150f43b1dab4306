"""Per-stream RTP statistics over a capture, and the pipeline from file bytes to streams.

:class:`CaptureAnalyzer` is sans-IO: feed it :class:`CapturedPacket` values (any order a file
gives them), then ask for :meth:`CaptureAnalyzer.result`. It strips link, IP (reassembling
fragments), UDP or TCP, unwraps TURN, tells RTP from RTCP (:mod:`rtpstack.capture.detect`) and
keeps, per stream (5-tuple + SSRC):

* packets, expected and lost per RFC 3550 A.3 (``expected = highest - base + 1`` over
  extended sequence numbers; ``lost = expected - received``, negative with duplicates, as in
  RFC 3550 and tshark);
* sequence errors (packets whose number is not the previous one plus one) and duplicates (a
  number already received, within the last 4096);
* inter-arrival deltas (min/mean/max), RFC 3550 A.8 interarrival jitter (running value, its
  mean and maximum, in ms) when the clock rate is known;
* bytes, bitrate, first/last time.

Memory per stream is constant unless ``keep_series`` asks for the per-packet series used by
plots.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rtpstack.capture.detect import (
    Hints,
    RtpHeader,
    hints_from_sdp,
    looks_like_rtcp,
    read_rtp_header,
    sdp_from_sip,
)
from rtpstack.capture.ip import PROTO_TCP, PROTO_UDP, IpDecoder, Segment
from rtpstack.capture.link import strip_link
from rtpstack.capture.pcap import CapturedPacket
from rtpstack.capture.reader import iter_packets
from rtpstack.capture.rtcpstats import RtcpSenderSummary, RtcpTracker
from rtpstack.capture.turn import TcpMessageReassembler, is_stun, unwrap
from rtpstack.errors import CaptureParseError, SdpParseError, SrtpError
from rtpstack.seqnum import SeqUnwrapper, TimestampUnwrapper
from rtpstack.srtp import SrtpKeyingMaterial, SrtpSession

__all__ = [
    "CaptureAnalysis",
    "CaptureAnalyzer",
    "MediaPacket",
    "StreamKey",
    "StreamStats",
    "StreamSummary",
    "analyze_file",
    "analyze_packets",
]

_DUP_WINDOW = 4096


def _u32(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "big")


@dataclass(frozen=True, slots=True)
class StreamKey:
    """Identifies a stream: the 5-tuple it travels on and its SSRC."""

    src: str
    sport: int
    dst: str
    dport: int
    ssrc: int
    transport: str = "udp"

    def flow(self) -> tuple[str, int, str, int]:
        """The flow as an unordered pair of endpoints (sorted)."""
        a, b = (self.src, self.sport), (self.dst, self.dport)
        return (*min(a, b), *max(a, b))


@dataclass(frozen=True, slots=True)
class MediaPacket:
    """One RTP or RTCP packet found in a capture, with where and when it was seen."""

    frame: int
    timestamp_ns: int
    src: str
    sport: int
    dst: str
    dport: int
    transport: str
    kind: str  # "rtp" or "rtcp"
    data: bytes
    secure: bool = False


_CN_TYPES = (13, 19)


class StreamStats:
    """Running statistics of one RTP stream (see the module docstring).

    Delta and jitter follow the conventions of Wireshark's RTP stream analysis, so the numbers
    compare with ``tshark -z rtp,streams``:

    * the running jitter is RFC 3550 A.8 (``J += (|D| - J) / 16``) with
      ``D = (R_i - R_prev) - (S_i - S_ref) / rate``, where ``R_prev`` is the arrival of the
      previous packet of the stream and ``S_ref`` the timestamp of the last packet that had a
      clock rate and was in timestamp order (RFC 4733 events and packets whose timestamp goes
      backwards do not move the reference);
    * min/max/mean delta and jitter count only *regular* packets: not the first, not a marker
      packet (a talkspurt or frame boundary), not comfort noise (PT 13/19) nor the packet right
      after it, not behind in timestamp order;
    * the mean is Wireshark's running mean, ``mean = (mean * (n - 1) + x) / n`` with ``n`` the
      number of packets before this one (it is weighted by all packets, not only regular ones).
    """

    def __init__(self, key: StreamKey, keep_series: bool = False) -> None:
        self.key = key
        self.packets = 0
        self.bytes = 0
        self.payload_bytes = 0
        self.seq_errors = 0
        self.duplicates = 0
        self.markers = 0
        self.payload_types: dict[int, int] = {}
        self.first_ns = 0
        self.last_ns = 0
        self.base_ext = 0
        self.highest_ext = 0
        self.min_delta = math.inf
        self.max_delta = 0.0
        self.mean_delta = 0.0
        self.deltas = 0
        self.jitter = 0.0  # running RFC 3550 A.8 value, in seconds
        self.max_jitter = 0.0
        self.min_jitter = math.inf
        self.mean_jitter = 0.0
        self.jitter_samples = 0
        self.clock_rate: int | None = None
        self.secure = False
        self._seq = SeqUnwrapper()
        self._ts = TimestampUnwrapper()
        self._prev_seq_ext: int | None = None
        self._prev_t = 0.0
        self._prev_pt = -1
        self._ref_ts: int | None = None
        self._seen: set[int] = set()
        self.series: list[tuple[float, int, float, int, int]] | None = [] if keep_series else None

    def add(self, t_ns: int, hdr: RtpHeader, size: int, clock_rate: int | None) -> None:
        """Account one packet that arrived at capture time ``t_ns`` (``size``: RTP bytes)."""
        t = t_ns / 1e9
        ext = self._seq.unwrap(hdr.sequence_number)
        ts_ext = self._ts.unwrap(hdr.timestamp)
        n_before = self.packets
        self.packets += 1
        self.bytes += size
        self.payload_bytes += size - hdr.header_size
        self.markers += hdr.marker
        pt = hdr.payload_type
        self.payload_types[pt] = self.payload_types.get(pt, 0) + 1
        jitter_ms = math.nan
        if n_before == 0:
            self.first_ns = t_ns
            self.base_ext = self.highest_ext = ext
            self._ref_ts = ts_ext
            if clock_rate:
                self.clock_rate = clock_rate
        else:
            assert self._prev_seq_ext is not None and self._ref_ts is not None
            if ext != self._prev_seq_ext + 1:
                self.seq_errors += 1
            if ext in self._seen:
                self.duplicates += 1
            if ext > self.highest_ext:
                self.highest_ext = ext
            elif ext < self.base_ext:
                self.base_ext = ext  # reordered before the first packet
            in_order = ts_ext >= self._ref_ts
            regular = not (
                hdr.marker or pt in _CN_TYPES or self._prev_pt in _CN_TYPES or not in_order
            )
            delta = t - self._prev_t
            if clock_rate:
                self.clock_rate = clock_rate
                d = abs(delta - (ts_ext - self._ref_ts) / clock_rate)
                self.jitter += (d - self.jitter) / 16
                if regular:
                    jitter_ms = self.jitter * 1000
                if in_order:
                    self._ref_ts = ts_ext
            if regular:
                self.deltas += 1
                self.min_delta = min(self.min_delta, delta)
                self.max_delta = max(self.max_delta, delta)
                self.mean_delta = (self.mean_delta * (n_before - 1) + delta) / n_before
                if clock_rate:
                    self.jitter_samples += 1
                    self.max_jitter = max(self.max_jitter, self.jitter)
                    self.min_jitter = min(self.min_jitter, self.jitter)
                    self.mean_jitter = (self.mean_jitter * (n_before - 1) + self.jitter) / n_before
        self._seen.add(ext)
        if len(self._seen) > 2 * _DUP_WINDOW:
            floor = self.highest_ext - _DUP_WINDOW
            self._seen = {s for s in self._seen if s >= floor}
        self.last_ns = t_ns
        self._prev_t = t
        self._prev_pt = pt
        self._prev_seq_ext = ext
        if self.series is not None:
            lost = (self.highest_ext - self.base_ext + 1) - self.packets
            self.series.append(((t_ns - self.first_ns) / 1e9, ext, jitter_ms, lost, size))

    def summary(self, origin_ns: int, rtt_ms: dict[str, Any] | None = None,
                feedback: dict[str, int] | None = None, encoding: str = "") -> StreamSummary:
        """Freeze the statistics (``origin_ns``: the capture's first packet time)."""
        expected = self.highest_ext - self.base_ext + 1
        lost = expected - self.packets
        duration = (self.last_ns - self.first_ns) / 1e9
        jit = self.jitter_samples > 0
        return StreamSummary(
            src=self.key.src,
            sport=self.key.sport,
            dst=self.key.dst,
            dport=self.key.dport,
            ssrc=self.key.ssrc,
            transport=self.key.transport,
            payload_types=tuple(sorted(self.payload_types)),
            encoding=encoding,
            clock_rate=self.clock_rate,
            packets=self.packets,
            expected=expected,
            lost=lost,
            lost_pct=round(100 * lost / expected, 2) if expected > 0 else 0.0,
            seq_errors=self.seq_errors,
            duplicates=self.duplicates,
            markers=self.markers,
            bytes=self.bytes,
            payload_bytes=self.payload_bytes,
            min_delta_ms=round(self.min_delta * 1000, 3) if self.deltas else None,
            mean_delta_ms=round(self.mean_delta * 1000, 3) if self.deltas else None,
            max_delta_ms=round(self.max_delta * 1000, 3) if self.deltas else None,
            min_jitter_ms=round(self.min_jitter * 1000, 3) if jit else None,
            mean_jitter_ms=round(self.mean_jitter * 1000, 3) if jit else None,
            max_jitter_ms=round(self.max_jitter * 1000, 3) if jit else None,
            last_jitter_ms=round(self.jitter * 1000, 3) if jit else None,
            bitrate_kbps=round(self.bytes * 8 / duration / 1000, 3) if duration > 0 else None,
            first_time=round((self.first_ns - origin_ns) / 1e9, 6),
            last_time=round((self.last_ns - origin_ns) / 1e9, 6),
            first_epoch=round(self.first_ns / 1e9, 6),
            duration_s=round(duration, 6),
            secure=self.secure,
            rtt=rtt_ms,
            feedback=feedback or {"nack": 0, "pli": 0, "fir": 0},
        )


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """Final statistics of one RTP stream. Times are seconds; ``*_ms`` are milliseconds;
    jitter fields are ``None`` when the clock rate is unknown."""

    src: str
    sport: int
    dst: str
    dport: int
    ssrc: int
    transport: str
    payload_types: tuple[int, ...]
    encoding: str
    clock_rate: int | None
    packets: int
    expected: int
    lost: int
    lost_pct: float
    seq_errors: int
    duplicates: int
    markers: int
    bytes: int
    payload_bytes: int
    min_delta_ms: float | None
    mean_delta_ms: float | None
    max_delta_ms: float | None
    min_jitter_ms: float | None
    mean_jitter_ms: float | None
    max_jitter_ms: float | None
    last_jitter_ms: float | None
    bitrate_kbps: float | None
    first_time: float
    last_time: float
    first_epoch: float
    duration_s: float
    secure: bool
    rtt: dict[str, Any] | None
    feedback: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (SSRC as ``0x%08X``)."""
        return {
            "src": self.src,
            "sport": self.sport,
            "dst": self.dst,
            "dport": self.dport,
            "ssrc": f"0x{self.ssrc:08X}",
            "transport": self.transport,
            "payload_types": list(self.payload_types),
            "encoding": self.encoding,
            "clock_rate": self.clock_rate,
            "packets": self.packets,
            "expected": self.expected,
            "lost": self.lost,
            "lost_pct": self.lost_pct,
            "seq_errors": self.seq_errors,
            "duplicates": self.duplicates,
            "markers": self.markers,
            "bytes": self.bytes,
            "payload_bytes": self.payload_bytes,
            "min_delta_ms": self.min_delta_ms,
            "mean_delta_ms": self.mean_delta_ms,
            "max_delta_ms": self.max_delta_ms,
            "min_jitter_ms": self.min_jitter_ms,
            "mean_jitter_ms": self.mean_jitter_ms,
            "max_jitter_ms": self.max_jitter_ms,
            "last_jitter_ms": self.last_jitter_ms,
            "bitrate_kbps": self.bitrate_kbps,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "first_epoch": self.first_epoch,
            "duration_s": self.duration_s,
            "secure": self.secure,
            "rtt": self.rtt,
            "feedback": self.feedback,
        }


@dataclass(slots=True)
class CaptureAnalysis:
    """Everything the analyzer found in one capture."""

    name: str
    frames: int
    streams: list[StreamSummary]
    rtcp: list[RtcpSenderSummary]
    drops: dict[str, int]
    series: dict[StreamKey, list[tuple[float, int, float, int, int]]] = field(
        default_factory=dict
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "capture": self.name,
            "frames": self.frames,
            "streams": [s.to_dict() for s in self.streams],
            "rtcp": [r.to_dict() for r in self.rtcp],
            "drops": dict(sorted(self.drops.items())),
        }


class CaptureAnalyzer:
    """Turn captured frames into RTP stream and RTCP statistics (sans-IO)."""

    def __init__(self, hints: Hints | None = None, *, keep_series: bool = False,
                 sdp_from_capture: bool = True,
                 srtp_keys: dict[int | None, SrtpKeyingMaterial] | None = None) -> None:
        self.hints = hints if hints is not None else Hints()
        #: SRTP master keys per SSRC (``None``: any SSRC); matching packets are decrypted
        self.srtp_keys = srtp_keys or {}
        self._srtp: dict[int, SrtpSession] = {}
        #: packets decrypted / failing authentication
        self.decrypted = 0
        self.keep_series = keep_series
        self.sdp_from_capture = sdp_from_capture
        self.frames = 0
        self.origin_ns: int | None = None
        self.drops: dict[str, int] = {}
        #: (src, sport, dst, dport, ssrc, transport) -> statistics
        self.streams: dict[tuple[str, int, str, int, int, str], StreamStats] = {}
        self.rtcp = RtcpTracker()
        self._ip = IpDecoder()
        self._tcp = TcpMessageReassembler()
        self._secure_flows: set[tuple[str, int, str, int]] = set()
        self._rtcp_flows: set[tuple[str, int, str, int]] = set()

    def _drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1

    def feed(self, pkt: CapturedPacket) -> list[MediaPacket]:
        """Account one captured frame; returns the RTP/RTCP packets found in it."""
        self.frames += 1
        if self.origin_ns is None:
            self.origin_ns = pkt.timestamp_ns  # times are reported relative to frame 1
        try:
            ethertype, net = strip_link(pkt.linktype, pkt.data)
            seg = self._ip.decode(ethertype, net, pkt.timestamp_ns)
        except CaptureParseError as exc:
            self._drop(str(exc).split(" (")[0].split(":")[0])
            return []
        if seg is None:
            self._drop("not UDP/TCP over IP (or a fragment)")
            return []
        return self.feed_segment(pkt.index, pkt.timestamp_ns, seg)

    def feed_segment(self, frame: int, t_ns: int, seg: Segment) -> list[MediaPacket]:
        """Account one UDP datagram or TCP segment seen at ``t_ns``."""
        if seg.protocol == PROTO_TCP:
            transport = "tcp"
            if not seg.payload:
                self._drop("TCP without payload")
                return []
            frames = self._tcp.feed((seg.src, seg.sport, seg.dst, seg.dport), seg.tcp_seq,
                                    seg.payload)
            msgs = [m for m in (unwrap(x) for x in frames) if m is not None]
            if not msgs:
                self._drop("STUN/TURN control over TCP" if frames else
                           "TCP without whole TURN messages")
                return []
        elif seg.protocol == PROTO_UDP:
            transport = "udp"
            msgs = [seg.payload]
        else:  # pragma: no cover - IpDecoder only returns UDP/TCP
            return []
        flow = (*min((seg.src, seg.sport), (seg.dst, seg.dport)),
                *max((seg.src, seg.sport), (seg.dst, seg.dport)))
        out: list[MediaPacket] = []
        for msg in msgs:
            data = msg
            if not data:
                self._drop("empty payload")
                continue
            b0 = data[0]
            if transport == "udp":
                if self.sdp_from_capture and 0x41 <= b0 <= 0x5A:
                    sdp = sdp_from_sip(data)
                    if sdp is not None:
                        try:
                            self.hints.merge(hints_from_sdp(sdp))
                        except SdpParseError:
                            self._drop("bad SDP in SIP")
                        self._drop("SIP")
                        continue
                if b0 < 4 and is_stun(data):
                    inner = unwrap(data)
                    if inner is None:
                        self._drop("STUN")
                        continue
                    data = inner
                elif 64 <= b0 <= 79:
                    inner = unwrap(data)
                    if inner is None:
                        self._drop("not RTP/RTCP")
                        continue
                    data = inner
            if data and 20 <= data[0] <= 63:  # RFC 7983: DTLS (possibly inside TURN)
                if data[0] <= 25 and len(data) >= 13 and data[1] == 0xFE:
                    self._secure_flows.add(flow)  # DTLS: media on this flow is SRTP
                    self._drop("DTLS")
                else:
                    self._drop("not RTP/RTCP")
                continue
            if not data or not self.hints.is_media_flow(seg.sport, seg.dport, seg.src, seg.dst):
                self._drop("not a media flow")
                continue
            secure = flow in self._secure_flows
            if len(data) >= 2 and 192 <= data[1] <= 223:
                if self.srtp_keys and looks_like_rtcp(data):
                    clear = self._unprotect(data, _u32(data, 4), rtcp=True)
                    if clear is None:
                        continue
                    if clear is not data:
                        data, secure = clear, False
                if looks_like_rtcp(data) and self.rtcp.feed(
                    data, t_ns / 1e9, seg.src, seg.sport, seg.dst, seg.dport, encrypted=secure
                ):
                    self._rtcp_flows.add(flow)
                    out.append(MediaPacket(frame, t_ns, seg.src, seg.sport, seg.dst, seg.dport,
                                           transport, "rtcp", data, secure))
                else:
                    self._drop("not RTP/RTCP")
                continue
            hdr = read_rtp_header(data)
            if hdr is None:
                self._drop("not RTP/RTCP")
                continue
            if self.srtp_keys:
                clear = self._unprotect(data, hdr.ssrc, rtcp=False)
                if clear is None:
                    continue
                if clear is not data:
                    data, secure = clear, False
                    hdr = read_rtp_header(data) or hdr
            if self.hints.payload_types and hdr.payload_type not in self.hints.payload_types:
                self._drop("payload type filtered out")
                continue
            tkey = (seg.src, seg.sport, seg.dst, seg.dport, hdr.ssrc, transport)
            st = self.streams.get(tkey)
            if st is None:
                st = self.streams[tkey] = StreamStats(StreamKey(*tkey), self.keep_series)
            st.secure = st.secure or secure
            st.add(t_ns, hdr, len(data), self.hints.clock_rate(hdr.payload_type))
            out.append(MediaPacket(frame, t_ns, seg.src, seg.sport, seg.dst, seg.dport,
                                   transport, "rtp", data, secure))
        return out

    def _unprotect(self, data: bytes, ssrc: int, *, rtcp: bool) -> bytes | None:
        """Decrypt when a key is known for ``ssrc``: the clear bytes, ``data`` itself when no
        key applies, ``None`` (dropped and counted) when authentication fails."""
        keys = self.srtp_keys.get(ssrc) or self.srtp_keys.get(None)
        if keys is None:
            return data
        session = self._srtp.get(ssrc)
        if session is None:
            session = self._srtp[ssrc] = SrtpSession(keys, replay_window=1024)
        try:
            clear = session.unprotect_rtcp(data) if rtcp else session.unprotect(data)
        except SrtpError:
            self._drop("SRTCP unprotect failed" if rtcp else "SRTP unprotect failed")
            return None
        self.decrypted += 1
        return clear

    def accepted(self) -> list[StreamStats]:
        """Streams that survive the stream-level check: two packets or more, or a single
        packet on a flow that carries other RTP streams or RTCP."""
        multi = {s.key.flow() for s in self.streams.values() if s.packets >= 2}
        keep = [
            s for s in self.streams.values()
            if s.packets >= 2 or s.key.flow() in multi or s.key.flow() in self._rtcp_flows
        ]
        keep.sort(key=lambda s: (s.first_ns, s.key.src, s.key.sport, s.key.ssrc))
        return keep

    def result(self, name: str = "") -> CaptureAnalysis:
        """The analysis so far (call once the whole capture has been fed)."""
        origin = self.origin_ns or 0
        streams = []
        series = {}
        for st in self.accepted():
            pts = sorted(st.payload_types, key=lambda p: -st.payload_types[p])
            encoding = ", ".join(self.hints.encoding(p) for p in pts)
            rtt = self.rtcp.rtt_by_media_ssrc.get(st.key.ssrc)
            streams.append(st.summary(origin, rtt.to_dict() if rtt else None,
                                      self.rtcp.feedback_for.get(st.key.ssrc), encoding))
            if st.series is not None:
                series[st.key] = st.series
        rtcp = [
            replace(r, first_time=r.first_time - origin / 1e9,
                    last_time=r.last_time - origin / 1e9)
            for r in sorted(self.rtcp.senders.values(), key=lambda r: (r.first_time, r.ssrc))
        ]
        return CaptureAnalysis(name, self.frames, streams, rtcp, dict(self.drops), series)


def analyze_file(path: str | Path, hints: Hints | None = None, *, keep_series: bool = False,
                 srtp_keys: dict[int | None, SrtpKeyingMaterial] | None = None,
                 ) -> CaptureAnalysis:
    """Analyse the capture at ``path`` (streams it; raises CaptureParseError on bad files)."""
    analyzer = CaptureAnalyzer(hints, keep_series=keep_series, srtp_keys=srtp_keys)
    for pkt in iter_packets(path):
        analyzer.feed(pkt)
    return analyzer.result(Path(path).name)


def analyze_packets(packets: Iterable[CapturedPacket], hints: Hints | None = None,
                    name: str = "") -> CaptureAnalysis:
    """Analyse packets already in memory (tests, generated captures)."""
    analyzer = CaptureAnalyzer(hints)
    for pkt in packets:
        analyzer.feed(pkt)
    return analyzer.result(name)
