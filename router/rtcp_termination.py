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
client's hop key. Packets are parsed and built with :mod:`rtpstack.rtcp`'s typed values: RTCP
runs at a few packets per second per participant, far from the RTP hot path.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import pylibsrtp

from router.drops import DropReason
from router.forwarding.model import Participant, Stream, Subscription
from rtpstack.errors import RtcpParseError
from rtpstack.rtcp import (
    SDES_CNAME,
    Fir,
    FirEntry,
    GenericNack,
    Pli,
    ReceiverReport,
    ReportBlock,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    ntp_from_unix,
    parse_compound,
    serialize_compound,
)
from rtpstack.rtcp.compound import RtcpPacket
from rtpstack.seqnum import seq_add, ts_add

if TYPE_CHECKING:
    from router.forwarding.core import Datagram, ForwardingCore

__all__ = ["SRS_PER_COMPOUND", "RtcpTerminator"]

#: How many SRs go in one compound packet to a subscriber (keeps it well under the MTU).
SRS_PER_COMPOUND = 20
#: Report blocks per RR (RFC 3550: a 5-bit count).
_MAX_BLOCKS = 31

_U32 = struct.Struct(">I")
_NTP_FRAC = 1 << 32
_U32_MOD = 1 << 32


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
            packets = parse_compound(plain)
        except RtcpParseError:
            core.drops.add(DropReason.MALFORMED_RTCP)
            return
        sender = _U32.unpack_from(plain, 4)[0]
        if sender != part.rtcp_ssrc and sender not in part.streams:
            owned = core.stream_owner(sender) is not None
            if owned or not part.any_rtcp_sender:
                core.drops.add(DropReason.SSRC_HIJACK if owned else DropReason.UNKNOWN_SSRC)
                return
        core.rtcp_in += 1
        for pkt in packets:
            if isinstance(pkt, SenderReport):
                self._on_sr(part, pkt, now)
                self._on_blocks(part, pkt.reports)
            elif isinstance(pkt, ReceiverReport):
                self._on_blocks(part, pkt.reports)
            elif isinstance(pkt, GenericNack):
                sub = self._feedback_sub(part, pkt.media_ssrc)
                if sub is not None:
                    self._on_nack(sub, pkt.lost_sequence_numbers, now, out)
            elif isinstance(pkt, Pli):
                sub = self._feedback_sub(part, pkt.media_ssrc)
                if sub is not None:
                    self.request_keyframe(sub.stream, now, False, out)
            elif isinstance(pkt, Fir):
                for entry in pkt.entries:
                    sub = self._feedback_sub(part, entry.ssrc)
                    if sub is not None:
                        self.request_keyframe(sub.stream, now, True, out)
            # SDES, BYE, APP, XR, REMB, TWCC and unknown types end here: RTCP is per hop.

    def _feedback_sub(self, part: Participant, media_ssrc: int) -> Subscription | None:
        sub = part.subs.get(media_ssrc)
        if sub is None:
            self.core.drops.add(DropReason.FEEDBACK_UNKNOWN_SSRC)
        return sub

    def _on_sr(self, part: Participant, sr: SenderReport, now: float) -> None:
        stream = part.streams.get(sr.ssrc)
        if stream is None:
            return
        stream.sr_ntp = sr.ntp_timestamp
        stream.sr_rtp = sr.rtp_timestamp
        stream.sr_arrival = now
        stream.stats.on_sender_report(sr.ntp_timestamp, now)

    def _on_blocks(self, part: Participant, blocks: tuple[ReportBlock, ...]) -> None:
        for block in blocks:
            sub = part.subs.get(block.ssrc)
            if sub is not None:
                sub.remote_fraction_lost = block.fraction_lost
                sub.remote_jitter = block.jitter

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
        nack = GenericNack.from_lost(pub.router_ssrc, stream.ssrc, fresh)
        if self._send(pub, [ReceiverReport(pub.router_ssrc), nack], out):
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
        fb: Fir | Pli
        if fir:
            fb = Fir(pub.router_ssrc, (FirEntry(stream.ssrc, stream.fir_seq),))
            stream.fir_seq = (stream.fir_seq + 1) % 256
        else:
            fb = Pli(pub.router_ssrc, stream.ssrc)
        if self._send(pub, [ReceiverReport(pub.router_ssrc), fb], out):
            stream.last_keyframe_request = now
            core.keyframe_requests += 1

    def send_reports(self, now: float, out: list[Datagram]) -> None:
        """RRs to publishers and SRs to subscribers, one or more compounds per client."""
        cname = SourceDescription(())
        for part in self.core.participants.values():
            if part.addr is None:
                continue
            blocks = [
                s.stats.report_block(s.ssrc, now)
                for s in part.streams.values()
                if s.stats.received
            ]
            srs = [self.sender_report(sub, now) for sub in part.subs.values() if sub.started]
            if blocks or srs:
                cname = SourceDescription(
                    (SdesChunk(part.router_ssrc, (SdesItem(SDES_CNAME, self.core.cname),)),)
                )
            while blocks or srs:
                chunk_blocks, blocks = blocks[:_MAX_BLOCKS], blocks[_MAX_BLOCKS:]
                chunk_srs, srs = srs[:SRS_PER_COMPOUND], srs[SRS_PER_COMPOUND:]
                packets: list[RtcpPacket] = [ReceiverReport(part.router_ssrc, tuple(chunk_blocks))]
                packets += chunk_srs
                packets.append(cname)
                self._send(part, packets, out)

    def sender_report(self, sub: Subscription, now: float) -> SenderReport:
        """The SR for one subscription, in the subscriber's SSRC and timestamp domain."""
        stream = sub.stream
        rate = stream.clock_rate
        if stream.sr_ntp is not None and not sub.rebase:
            dt = now - stream.sr_arrival
            ntp = (stream.sr_ntp + round(dt * _NTP_FRAC)) % (1 << 64)
            rtp = ts_add(stream.sr_rtp, round(dt * rate) + sub.ts_off)
        else:
            ntp = ntp_from_unix(now + self.core.wall_offset)
            rtp = ts_add(sub.last_ts, round((now - sub.last_time) * rate))
        return SenderReport(sub.out_ssrc, ntp, rtp, sub.packets % _U32_MOD, sub.octets % _U32_MOD)

    def _send(self, part: Participant, packets: list[RtcpPacket], out: list[Datagram]) -> bool:
        if part.addr is None:
            return False
        try:
            pkt = part.crypto.tx.protect_rtcp(serialize_compound(packets))
        except (pylibsrtp.Error, ValueError):
            self.core.drops.add(DropReason.PROTECT_FAILED)
            return False
        out.append((pkt, part.addr))
        self.core.rtcp_out += 1
        return True
