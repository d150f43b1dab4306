"""RTCP terminated per hop: what the router reads from clients and what it sends them.

The router does not forward RTCP between participants. Instead, per hop:

* **From publishers** it reads SRs (NTP/RTP mapping for the SRs it sends subscribers, and LSR
  for its RRs) and sends back **RRs** built from its own receive statistics.
* **To subscribers** it sends an **SR** per subscription, in the rewritten SSRC and timestamp
  domain: when the publisher has sent an SR, the publisher's NTP timeline is carried over (so
  audio and video of one publisher stay in sync); until then the router's own wall clock maps
  to the last forwarded timestamp advanced by the elapsed time.
* **From subscribers** it reads report blocks (kept as statistics), **PLI/FIR** (sent on to the
  publisher with the publisher's SSRC, at most once per ``keyframe_min_interval`` per stream)
  and **generic NACK** (answered from the stream's ~1 s retransmission cache; the misses are
  NACKed upstream to the publisher, each sequence number at most once per
  ``nack_repeat_interval``).

All sends are compound (RR or SR first, SDES CNAME last) and protected with the receiving
client's hop key.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import pylibsrtp

from router.drops import DropReason
from router.forwarding.model import Participant, Stream, Subscription
from router.forwarding.rtcpwire import (
    FMT_FIR,
    FMT_NACK,
    FMT_PLI,
    PT_PSFB,
    PT_RR,
    PT_RTPFB,
    PT_SR,
    RtcpMalformed,
    build_fir,
    build_nack,
    build_pli,
    build_rr,
    build_sdes_cname,
    build_sr,
    iter_compound,
    nack_seqs,
    ntp_from_seconds,
)
from rtpstack.seqnum import seq_add, ts_add

if TYPE_CHECKING:
    from router.forwarding.core import Datagram, ForwardingCore

__all__ = ["SRS_PER_COMPOUND", "RtcpTerminator"]

#: How many SRs go in one compound packet to a subscriber (keeps it well under the MTU).
SRS_PER_COMPOUND = 20

_U32 = struct.Struct(">I")
_SR_INFO = struct.Struct(">IQI")
_BLOCK = struct.Struct(">IB3sIIII")


class RtcpTerminator:
    """The RTCP half of a :class:`~router.forwarding.core.ForwardingCore`."""

    __slots__ = ("core",)

    def __init__(self, core: ForwardingCore) -> None:
        self.core = core

    # ------------------------------------------------------------------ incoming

    def handle(self, data: bytes, addr: tuple[str, int], now: float, out: list[Datagram]) -> None:
        """One SRTCP datagram from ``addr``."""
        core = self.core
        auth = core.authenticate(data, addr, _U32.unpack_from(data, 4)[0], now, True)
        if auth is None:
            return
        part, plain = auth
        try:
            parts = iter_compound(plain)
        except RtcpMalformed:
            core.drops.add(DropReason.MALFORMED_RTCP)
            return
        sender = _U32.unpack_from(plain, 4)[0] if len(plain) >= 8 else 0
        if sender != part.rtcp_ssrc and sender not in part.streams:
            core.drops.add(
                DropReason.SSRC_HIJACK if core.stream_owner(sender) is not None
                else DropReason.UNKNOWN_SSRC
            )
            return
        core.rtcp_in += 1
        for pt, fmt, start, end in parts:
            if pt == PT_SR and end - start >= 28:
                self._on_sr(part, plain, start, now)
                self._on_blocks(part, plain, start + 28, end, fmt)
            elif pt == PT_RR and end - start >= 8:
                self._on_blocks(part, plain, start + 8, end, fmt)
            elif pt == PT_RTPFB and fmt == FMT_NACK and end - start >= 16:
                sub = self._feedback_sub(part, _U32.unpack_from(plain, start + 8)[0])
                if sub is not None:
                    self._on_nack(sub, nack_seqs(plain, start, end), now, out)
            elif pt == PT_PSFB and fmt == FMT_PLI and end - start >= 12:
                sub = self._feedback_sub(part, _U32.unpack_from(plain, start + 8)[0])
                if sub is not None:
                    self.request_keyframe(sub.stream, now, False, out)
            elif pt == PT_PSFB and fmt == FMT_FIR and end - start >= 20:
                for off in range(start + 12, end - 7, 8):
                    sub = self._feedback_sub(part, _U32.unpack_from(plain, off)[0])
                    if sub is not None:
                        self.request_keyframe(sub.stream, now, True, out)
            # SDES, BYE, APP, XR and unknown types end here: RTCP is terminated per hop.

    def _feedback_sub(self, part: Participant, media_ssrc: int) -> Subscription | None:
        sub = part.subs.get(media_ssrc)
        if sub is None:
            self.core.drops.add(DropReason.FEEDBACK_UNKNOWN_SSRC)
        return sub

    def _on_sr(self, part: Participant, plain: bytes, start: int, now: float) -> None:
        ssrc, ntp, rtp = _SR_INFO.unpack_from(plain, start + 4)
        stream = part.streams.get(ssrc)
        if stream is None:
            return
        stream.sr_ntp = ntp
        stream.sr_rtp = rtp
        stream.sr_arrival = now
        stream.stats.on_sender_report(ntp, now)

    def _on_blocks(self, part: Participant, plain: bytes, off: int, end: int, count: int) -> None:
        for _ in range(count):
            if off + 24 > end:
                return
            ssrc, fraction, _lost, _ext, jitter, _lsr, _dlsr = _BLOCK.unpack_from(plain, off)
            sub = part.subs.get(ssrc)
            if sub is not None:
                sub.remote_fraction_lost = fraction
                sub.remote_jitter = jitter
            off += 24

    def _on_nack(
        self, sub: Subscription, seqs: list[int], now: float, out: list[Datagram]
    ) -> None:
        core = self.core
        dst = sub.subscriber.addr
        misses: list[int] = []
        for out_seq in seqs:
            pkt = core.retransmit(sub, out_seq, now)
            if pkt is None:
                if sub.started and not sub.rebase:
                    misses.append(seq_add(out_seq, -sub.seq_off))
                continue
            if dst is not None:
                out.append((pkt, dst))
                sub.retransmitted += 1
                core.retransmits += 1
                core.packets_out += 1
                core.bytes_out += len(pkt)
        if not misses:
            return
        stream = sub.stream
        asked = stream.nack_requested
        fresh = [s for s in misses if now - asked.get(s, -1e9) >= core.nack_repeat_interval]
        if not fresh:
            return
        for s in fresh:
            asked[s] = now
        if len(asked) > 1024:
            for s in [s for s, t in asked.items() if now - t > core.cache_age]:
                del asked[s]
        pub = stream.owner
        fb = build_nack(pub.router_ssrc, stream.ssrc, fresh)
        if self._send(pub, build_rr(pub.router_ssrc) + fb, out):
            core.nacks_upstream += 1

    # ------------------------------------------------------------------ outgoing

    def request_keyframe(self, stream: Stream, now: float, fir: bool, out: list[Datagram]) -> None:
        """Ask the publisher of ``stream`` for a key frame (PLI, or FIR), rate limited."""
        core = self.core
        last = stream.last_keyframe_request
        if last is not None and now - last < core.keyframe_min_interval:
            core.drops.add(DropReason.KEYFRAME_RATE_LIMITED)
            return
        pub = stream.owner
        if fir:
            fb = build_fir(pub.router_ssrc, stream.ssrc, stream.fir_seq)
            stream.fir_seq = (stream.fir_seq + 1) % 256
        else:
            fb = build_pli(pub.router_ssrc, stream.ssrc)
        if self._send(pub, build_rr(pub.router_ssrc) + fb, out):
            stream.last_keyframe_request = now
            core.keyframe_requests += 1

    def send_reports(self, now: float, out: list[Datagram]) -> None:
        """RRs to publishers and SRs to subscribers, one or more compounds per client."""
        for part in self.core.participants.values():
            if part.addr is None:
                continue
            blocks = [
                s.stats.report_block(s.ssrc, now)
                for s in part.streams.values()
                if s.stats.received
            ]
            srs = [self.sender_report(sub, now) for sub in part.subs.values() if sub.started]
            while blocks or srs:
                chunk_blocks, blocks = blocks[:31], blocks[31:]
                chunk_srs, srs = srs[:SRS_PER_COMPOUND], srs[SRS_PER_COMPOUND:]
                compound = (
                    build_rr(part.router_ssrc, chunk_blocks)
                    + b"".join(chunk_srs)
                    + build_sdes_cname(part.router_ssrc, self.core.cname)
                )
                self._send(part, compound, out)

    def sender_report(self, sub: Subscription, now: float) -> bytes:
        """The SR for one subscription, in the subscriber's SSRC and timestamp domain."""
        stream = sub.stream
        rate = stream.clock_rate
        if stream.sr_ntp is not None and not sub.rebase:
            dt = now - stream.sr_arrival
            ntp = stream.sr_ntp + int(dt * 4294967296.0)
            rtp = ts_add(stream.sr_rtp, round(dt * rate) + sub.ts_off)
        else:
            ntp = ntp_from_seconds(now + self.core.wall_offset)
            rtp = ts_add(sub.last_ts, round((now - sub.last_time) * rate))
        return build_sr(sub.out_ssrc, ntp, rtp, sub.packets, sub.octets)

    def _send(self, part: Participant, plain: bytes, out: list[Datagram]) -> bool:
        if part.addr is None:
            return False
        try:
            pkt = part.crypto.tx.protect_rtcp(plain)
        except pylibsrtp.Error:
            self.core.drops.add(DropReason.PROTECT_FAILED)
            return False
        out.append((pkt, part.addr))
        self.core.rtcp_out += 1
        return True
