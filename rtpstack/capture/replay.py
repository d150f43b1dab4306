"""Replay the RTP/RTCP streams of a capture to a UDP target.

Two layers:

* :class:`ReplayPlan` (sans-IO) turns the media packets of a capture into a schedule of
  :class:`ScheduledPacket` values: due time (seconds after the start, already divided by the
  speed factor), the bytes to send (SSRC / payload type rewritten, SRTP-protected when a key
  is given) and the destination port. Streams can be chosen by SSRC; ``loops`` repeats the
  capture with sequence numbers and timestamps continued so that receivers see one stream.
* :class:`Replayer` sends a plan over :mod:`rtpstack.io.udp` with asyncio, sleeping until each
  packet is due (``speed=0``: as fast as possible), and counts sent, late and failed packets::

      async with Replayer(plan, ("127.0.0.1", 5004)) as replayer:
          summary = await replayer.run()

Ports: by default RTP goes to the target port and RTCP to the same port (rtcp-mux); give
``rtcp_port`` for a separate RTCP port, or ``port_map`` to map each captured destination
port to a target port.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from rtpstack.capture.analysis import CaptureAnalyzer, MediaPacket
from rtpstack.capture.detect import Hints
from rtpstack.capture.reader import iter_packets
from rtpstack.io.udp import UdpEndpoint, open_udp_endpoint
from rtpstack.seqnum import SeqUnwrapper, TimestampUnwrapper, seq_add, ts_add
from rtpstack.srtp import SrtpKeyingMaterial, SrtpSession

__all__ = [
    "ReplayOptions",
    "ReplayPlan",
    "ReplaySummary",
    "Replayer",
    "ScheduledPacket",
    "media_packets",
]

#: a packet sent later than this after its due time counts as late
LATE_AFTER = 0.010


@dataclass(frozen=True, slots=True)
class ScheduledPacket:
    """One datagram to send ``due`` seconds after the replay starts."""

    due: float
    data: bytes
    kind: str  # "rtp" or "rtcp"
    ssrc: int
    dport: int
    #: the original bytes from the capture (before rewriting and protection)
    original: bytes = b""


@dataclass(slots=True)
class ReplayOptions:
    """What to send and how (see the module docstring)."""

    speed: float = 1.0  # 0 = as fast as possible
    ssrcs: set[int] = field(default_factory=set)  # empty = all streams
    rewrite_ssrc: dict[int, int] = field(default_factory=dict)
    rewrite_pt: dict[int, int] = field(default_factory=dict)
    loops: int = 1
    include_rtcp: bool = True
    srtp_key: SrtpKeyingMaterial | None = None


def media_packets(path: str | Path, hints: Hints | None = None) -> Iterator[MediaPacket]:
    """Stream the RTP/RTCP packets found in a capture file, in file order."""
    analyzer = CaptureAnalyzer(hints)
    for pkt in iter_packets(path):
        yield from analyzer.feed(pkt)


def _rtp_ssrc(data: bytes) -> int:
    return int(struct.unpack_from("!I", data, 8)[0])


def _rtcp_ssrc(data: bytes) -> int:
    return int(struct.unpack_from("!I", data, 4)[0])


class ReplayPlan:
    """The schedule of a replay (sans-IO; iterate it, possibly several times)."""

    def __init__(self, packets: Iterable[MediaPacket], options: ReplayOptions | None = None):
        self.options = options or ReplayOptions()
        if self.options.speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")
        if self.options.loops < 1:
            raise ValueError("loops must be >= 1")
        opts = self.options
        chosen: list[MediaPacket] = []
        for p in packets:
            ssrc = _rtp_ssrc(p.data) if p.kind == "rtp" else _rtcp_ssrc(p.data)
            if p.kind == "rtcp" and not opts.include_rtcp:
                continue
            if opts.ssrcs and ssrc not in opts.ssrcs:
                continue
            chosen.append(p)
        self.packets = chosen
        self.start_ns = min((p.timestamp_ns for p in chosen), default=0)
        end_ns = max((p.timestamp_ns for p in chosen), default=0)
        self.duration = (end_ns - self.start_ns) / 1e9
        # per SSRC: (sequence span, timestamp span incl. one step) for continuing loops
        self._spans: dict[int, tuple[int, int]] = {}
        seqs: dict[int, tuple[SeqUnwrapper, TimestampUnwrapper, list[int]]] = {}
        for p in chosen:
            if p.kind != "rtp":
                continue
            s = _rtp_ssrc(p.data)
            su, tu, agg = seqs.setdefault(s, (SeqUnwrapper(), TimestampUnwrapper(), []))
            seq, ts = struct.unpack_from("!HI", p.data, 2)
            e, t = su.unwrap(seq), tu.unwrap(ts)
            if not agg:
                agg.extend([e, e, t, t, 0])
            agg[0], agg[1] = min(agg[0], e), max(agg[1], e)
            agg[2], agg[3] = min(agg[2], t), max(agg[3], t)
            agg[4] += 1
        for s, (_su, _tu, agg) in seqs.items():
            seq_span = agg[1] - agg[0] + 1
            ts_span = agg[3] - agg[2]
            step = ts_span // max(1, seq_span - 1)
            self._spans[s] = (seq_span, ts_span + step)
        self._session: SrtpSession | None = None

    def __len__(self) -> int:
        return len(self.packets) * self.options.loops

    def _rewrite(self, p: MediaPacket, loop: int) -> tuple[bytes, int]:
        opts = self.options
        if p.kind == "rtp":
            buf = bytearray(p.data)
            ssrc = _rtp_ssrc(p.data)
            if loop:
                seq_span, ts_span = self._spans[ssrc]
                seq, ts = struct.unpack_from("!HI", buf, 2)
                struct.pack_into(
                    "!HI", buf, 2, seq_add(seq, loop * seq_span), ts_add(ts, loop * ts_span)
                )
            pt = buf[1] & 0x7F
            if pt in opts.rewrite_pt:
                buf[1] = (buf[1] & 0x80) | opts.rewrite_pt[pt]
            new_ssrc = opts.rewrite_ssrc.get(ssrc, ssrc)
            struct.pack_into("!I", buf, 8, new_ssrc)
            out = bytes(buf)
            if self._session is not None:
                out = self._session.protect(out)
            return out, new_ssrc
        buf = bytearray(p.data)
        ssrc = _rtcp_ssrc(p.data)
        pos = 0
        while pos + 8 <= len(buf):  # sender SSRC of each packet of the compound
            old = struct.unpack_from("!I", buf, pos + 4)[0]
            struct.pack_into("!I", buf, pos + 4, opts.rewrite_ssrc.get(old, old))
            pos += (struct.unpack_from("!H", buf, pos + 2)[0] + 1) * 4
        out = bytes(buf)
        if self._session is not None:
            out = self._session.protect_rtcp(out)
        return out, opts.rewrite_ssrc.get(ssrc, ssrc)

    def __iter__(self) -> Iterator[ScheduledPacket]:
        opts = self.options
        # a fresh SRTP context per pass: protecting the same index twice would be a replay
        self._session = SrtpSession(opts.srtp_key) if opts.srtp_key is not None else None
        period = self.duration + 0.02  # a short pause between loops
        for loop in range(opts.loops):
            for p in self.packets:
                offset = (p.timestamp_ns - self.start_ns) / 1e9 + loop * period
                due = offset / opts.speed if opts.speed else 0.0
                data, ssrc = self._rewrite(p, loop)
                yield ScheduledPacket(due, data, p.kind, ssrc, p.dport, p.data)


@dataclass(slots=True)
class ReplaySummary:
    """What a replay did: packets sent, late (beyond ``LATE_AFTER``), failed; timing."""

    sent: int = 0
    late: int = 0
    errors: int = 0
    bytes: int = 0
    max_lateness: float = 0.0
    elapsed: float = 0.0

    def __str__(self) -> str:
        return (
            f"sent {self.sent} packets ({self.bytes} bytes) in {self.elapsed:.3f} s, "
            f"late {self.late} (max {self.max_lateness * 1000:.1f} ms), errors {self.errors}"
        )


class Replayer:
    """Send a :class:`ReplayPlan` to ``target`` over UDP with asyncio (``async with``)."""

    def __init__(
        self,
        plan: ReplayPlan,
        target: tuple[str, int],
        *,
        rtcp_port: int | None = None,
        port_map: dict[int, int] | None = None,
        bind: tuple[str, int] = ("127.0.0.1", 0),
        progress: Callable[[int, int, ReplaySummary], None] | None = None,
    ) -> None:
        self.plan = plan
        self.target = target
        self.rtcp_port = rtcp_port
        self.port_map = port_map or {}
        self.bind = bind
        self.progress = progress
        self.summary = ReplaySummary()
        self._endpoint: UdpEndpoint | None = None

    async def __aenter__(self) -> Replayer:
        self._endpoint = await open_udp_endpoint(*self.bind)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._endpoint is not None:
            self._endpoint.close()
            self._endpoint = None

    def _port(self, item: ScheduledPacket) -> int:
        if item.dport in self.port_map:
            return self.port_map[item.dport]
        if item.kind == "rtcp" and self.rtcp_port is not None:
            return self.rtcp_port
        return self.target[1]

    async def run(self) -> ReplaySummary:
        """Send every scheduled packet; returns (and keeps) the summary."""
        endpoint = self._endpoint
        if endpoint is None:
            raise RuntimeError("use 'async with Replayer(...)' before run()")
        loop = asyncio.get_running_loop()
        total = len(self.plan)
        s = self.summary
        start = loop.time()
        errors_before = endpoint.errors
        for i, item in enumerate(self.plan):
            due = start + item.due
            now = loop.time()
            if due - now > 0.0005:
                await asyncio.sleep(due - now)
                now = loop.time()
            elif item.due == 0.0 and i % 16 == 15:
                await asyncio.sleep(0)  # as fast as possible, but let the loop breathe
            lateness = now - due
            if item.due and lateness > LATE_AFTER:
                s.late += 1
            s.max_lateness = max(s.max_lateness, lateness if item.due else 0.0)
            endpoint.sendto(item.data, (self.target[0], self._port(item)))
            s.sent += 1
            s.bytes += len(item.data)
            if self.progress is not None and (i % 50 == 0 or i == total - 1):
                self.progress(i + 1, total, s)
        s.errors = endpoint.errors - errors_before
        s.elapsed = loop.time() - start
        return s
