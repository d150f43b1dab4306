"""The sans-IO forwarding core: datagrams and ``now`` in, datagrams and events out.

One :class:`ForwardingCore` serves every participant behind one media socket. The control
plane adds participants (hop keys), streams (SSRCs a participant owns) and subscriptions (a
stream forwarded to a subscriber under a router-chosen SSRC). The adapter feeds it datagrams
(:meth:`ForwardingCore.handle_datagram`) and timer ticks (:meth:`ForwardingCore.handle_timer`
at :meth:`ForwardingCore.next_deadline`) and sends what they return.

Per RTP packet: unprotect with the sender's hop key, check the sender owns the SSRC, account
receive statistics, keep a copy for NACKs, read the audio level (header extension only), then
for each subscription rewrite SSRC / sequence number / timestamp in a copy of the header and
protect with the subscriber's hop key. The payload is carried, never read, sliced or changed.

RTCP is terminated per hop (:mod:`router.rtcp_termination`).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pylibsrtp

from router.drops import DropCounters, DropReason
from router.forwarding.hop import HopCrypto, HopKeys, classify_srtp_error
from router.forwarding.model import Addr, Kind, Participant, RecordTap, Stream, Subscription
from router.forwarding.speaker import ActiveSpeakerDetector
from rtpstack.errors import RtpParseError
from rtpstack.fastpath import header_length, scan_elements
from rtpstack.seqnum import seq_add, seq_diff, seq_gt, ts_add, ts_diff

__all__ = [
    "ActiveSpeakerChanged",
    "AddressBound",
    "CoreEvent",
    "Datagram",
    "ForwardingConfigError",
    "ForwardingCore",
]

#: One datagram to send: (bytes, destination address).
Datagram = tuple[bytes, Addr]

_RTP_FIXED = struct.Struct(">BBHII")
_U32 = struct.Struct(">I")


class ForwardingConfigError(ValueError):
    """The control plane asked for something inconsistent (duplicate SSRC, unknown id)."""


@dataclass(frozen=True, slots=True)
class AddressBound:
    """A participant's address was learned (or changed) from an authenticated packet."""

    participant_id: str
    addr: Addr


@dataclass(frozen=True, slots=True)
class ActiveSpeakerChanged:
    """The loudest audio stream (smoothed, with hysteresis) changed."""

    participant_id: str
    ssrc: int
    level: float
    group: str = ""


CoreEvent = AddressBound | ActiveSpeakerChanged


class ForwardingCore:
    """Payload-blind SRTP forwarding between the participants behind one socket.

    ``rng`` makes SSRC and offset choices reproducible in tests; ``wall_offset`` is added to
    ``now`` to get seconds since the Unix epoch for NTP timestamps (the adapter passes
    ``time.time() - loop.time()``; tests keep 0).
    """

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        rtcp_interval: float = 1.0,
        keyframe_min_interval: float = 0.5,
        nack_repeat_interval: float = 0.1,
        cache_age: float = 1.0,
        last_n: int | None = None,
        wall_offset: float = 0.0,
        cname: bytes = b"rtp-router",
        speaker_interval: float = 0.2,
        speaker_factory: Callable[[], ActiveSpeakerDetector] = ActiveSpeakerDetector,
    ) -> None:
        self._rng = rng if rng is not None else random.SystemRandom()
        self.rtcp_interval = rtcp_interval
        self.keyframe_min_interval = keyframe_min_interval
        self.nack_repeat_interval = nack_repeat_interval
        self.cache_age = cache_age
        self.last_n = last_n
        self.wall_offset = wall_offset
        self.cname = cname
        self.speaker_interval = speaker_interval
        self._speaker_factory = speaker_factory
        #: One active-speaker detector per group (session).
        self.speakers: dict[str, ActiveSpeakerDetector] = {}
        self._next_speaker = 0.0
        self.drops = DropCounters()
        self.participants: dict[str, Participant] = {}
        self._by_addr: dict[Addr, Participant] = {}
        #: Every SSRC a client sends with (published media/RTX and rtcp_ssrc) → its owner.
        self._owner: dict[int, Participant] = {}
        self._used_ssrcs: set[int] = set()
        self._speaker_order: list[str] = []
        self._next_rtcp = 0.0
        self._events: list[CoreEvent] = []
        self.packets_in = 0
        self.bytes_in = 0
        self.packets_out = 0
        self.bytes_out = 0
        self.rtcp_in = 0
        self.rtcp_out = 0
        self.retransmits = 0
        self.nacks_upstream = 0
        self.keyframe_requests = 0
        # Imported here: rtcp_termination imports this module's types.
        from router.rtcp_termination import RtcpTerminator

        self.rtcp = RtcpTerminator(self)

    # ------------------------------------------------------------------ control plane

    def new_ssrc(self) -> int:
        """A random non-zero SSRC not used anywhere in this core yet (and now reserved)."""
        while True:
            ssrc = self._rng.getrandbits(32)
            if ssrc and ssrc not in self._used_ssrcs:
                self._used_ssrcs.add(ssrc)
                return ssrc

    def add_participant(
        self,
        pid: str,
        keys: HopKeys | None = None,
        rtcp_ssrc: int | None = None,
        group: str = "",
    ) -> Participant:
        """Create a participant with its hop keys (fresh ones unless given).

        ``group`` is its session: the active speaker is chosen among a group's streams.
        """
        if pid in self.participants:
            raise ForwardingConfigError(f"participant {pid!r} already exists")
        if rtcp_ssrc is None:
            rtcp_ssrc = self.new_ssrc()
        elif rtcp_ssrc in self._owner:
            raise ForwardingConfigError(f"SSRC {rtcp_ssrc} is already in use")
        else:
            self._used_ssrcs.add(rtcp_ssrc)
        part = Participant(pid, keys or HopKeys.generate(), rtcp_ssrc, self.new_ssrc(), group)
        self.participants[pid] = part
        self._owner[rtcp_ssrc] = part
        self._speaker_order.append(pid)
        return part

    def remove_participant(self, pid: str) -> None:
        """Forget a participant, its streams and every subscription to or from it."""
        part = self._participant(pid)
        for out_ssrc in list(part.subs):
            self.remove_subscription(pid, out_ssrc)
        for ssrc in list(part.streams):
            self.remove_stream(pid, ssrc)
        self._owner.pop(part.rtcp_ssrc, None)
        self._used_ssrcs.discard(part.rtcp_ssrc)
        self._used_ssrcs.discard(part.router_ssrc)
        if part.addr is not None and self._by_addr.get(part.addr) is part:
            del self._by_addr[part.addr]
        del self.participants[pid]
        self._speaker_order.remove(pid)
        if not any(p.group == part.group for p in self.participants.values()):
            self.speakers.pop(part.group, None)

    def rekey(self, pid: str, keys: HopKeys) -> None:
        """Replace a participant's hop keys (e.g. from a DTLS-SRTP handshake, or a rotation).

        SRTP state restarts with the new keys; packets still in flight under the old ones are
        dropped as authentication failures.
        """
        part = self._participant(pid)
        part.keys = keys
        part.crypto = HopCrypto(keys)

    def bind_address(self, pid: str, addr: Addr) -> None:
        """Bind ``addr`` to a participant whose address another layer learned (e.g. ICE)."""
        part = self._participant(pid)
        if part.addr != addr:
            self._bind(part, addr)

    def add_stream(
        self,
        pid: str,
        ssrc: int,
        kind: Kind,
        clock_rate: int,
        audio_level_id: int | None = None,
    ) -> Stream:
        """``pid`` now sends ``ssrc``; other senders of it are dropped as hijacks."""
        part = self._participant(pid)
        if ssrc in self._used_ssrcs or ssrc == 0:
            raise ForwardingConfigError(f"SSRC {ssrc} is already in use")
        stream = Stream(part, ssrc, kind, clock_rate, audio_level_id, self.cache_age)
        part.streams[ssrc] = stream
        self._owner[ssrc] = part
        self._used_ssrcs.add(ssrc)
        if audio_level_id is not None:
            detector = self.speakers.get(part.group)
            if detector is None:
                detector = self.speakers[part.group] = self._speaker_factory()
            detector.track(ssrc)
            stream.speaker = detector
        return stream

    def remove_stream(self, pid: str, ssrc: int) -> None:
        """The stream ended: drop its subscriptions too."""
        part = self._participant(pid)
        stream = part.streams.pop(ssrc, None)
        if stream is None:
            raise ForwardingConfigError(f"participant {pid!r} has no stream {ssrc}")
        for sub in list(stream.subs):
            self.remove_subscription(sub.subscriber.pid, sub.out_ssrc)
        self._owner.pop(ssrc, None)
        self._used_ssrcs.discard(ssrc)
        if stream.speaker is not None:
            stream.speaker.remove(ssrc)

    def add_subscription(self, subscriber: str, ssrc: int, out_ssrc: int | None = None) -> int:
        """Forward stream ``ssrc`` to ``subscriber``; returns the SSRC the subscriber sees."""
        part = self._participant(subscriber)
        stream = self._stream(ssrc)
        if out_ssrc is None:
            out_ssrc = self.new_ssrc()
        elif out_ssrc in self._used_ssrcs:
            raise ForwardingConfigError(f"SSRC {out_ssrc} is already in use")
        else:
            self._used_ssrcs.add(out_ssrc)
        sub = Subscription(part, stream, out_ssrc)
        part.subs[out_ssrc] = sub
        stream.subs.append(sub)
        self._apply_last_n(None, [])
        return out_ssrc

    def remove_subscription(self, subscriber: str, out_ssrc: int) -> None:
        """Stop forwarding to ``subscriber`` under ``out_ssrc``."""
        part = self._participant(subscriber)
        sub = part.subs.pop(out_ssrc, None)
        if sub is None:
            raise ForwardingConfigError(f"{subscriber!r} has no subscription {out_ssrc}")
        sub.stream.subs.remove(sub)
        self._used_ssrcs.discard(out_ssrc)

    def switch_subscription(self, subscriber: str, out_ssrc: int, ssrc: int, now: float) -> list[
        Datagram
    ]:
        """Feed subscription ``out_ssrc`` from stream ``ssrc`` from now on (publisher switch).

        The subscriber keeps its SSRC and sees sequence numbers and timestamps continue; a
        video source is asked for a key frame. Returns datagrams to send (the request).
        """
        part = self._participant(subscriber)
        sub = part.subs.get(out_ssrc)
        if sub is None:
            raise ForwardingConfigError(f"{subscriber!r} has no subscription {out_ssrc}")
        new = self._stream(ssrc)
        out: list[Datagram] = []
        if new is sub.stream:
            return out
        sub.stream.subs.remove(sub)
        sub.stream = new
        new.subs.append(sub)
        sub.rebase = True
        if new.kind == "video":
            self.rtcp.request_keyframe(new, now, False, out)
        return out

    def set_record_tap(self, ssrc: int, tap: RecordTap | None) -> None:
        """Call ``tap(plain_rtp, now)`` for every accepted packet of ``ssrc`` (None stops)."""
        self._stream(ssrc).record = tap

    def set_last_n(self, last_n: int | None, now: float) -> list[Datagram]:
        """Forward video of only the ``last_n`` most recent speakers (None: everyone)."""
        self.last_n = last_n
        out: list[Datagram] = []
        self._apply_last_n(now, out)
        return out

    def stream_owner(self, ssrc: int) -> str | None:
        """The participant id that sends ``ssrc`` (media or RTCP), if any."""
        part = self._owner.get(ssrc)
        return part.pid if part is not None else None

    def _participant(self, pid: str) -> Participant:
        part = self.participants.get(pid)
        if part is None:
            raise ForwardingConfigError(f"unknown participant {pid!r}")
        return part

    def _stream(self, ssrc: int) -> Stream:
        part = self._owner.get(ssrc)
        stream = part.streams.get(ssrc) if part is not None else None
        if stream is None:
            raise ForwardingConfigError(f"unknown stream {ssrc}")
        return stream

    # ------------------------------------------------------------------ packets

    def handle_datagram(self, data: bytes, addr: Addr, now: float) -> list[Datagram]:
        """Process one datagram from ``addr``; return the datagrams to send."""
        out: list[Datagram] = []
        n = len(data)
        if n < 8 or not 128 <= data[0] <= 191:
            self.drops.add(DropReason.NOT_RTP if not data or not 128 <= data[0] <= 191
                           else DropReason.MALFORMED_RTP)
            return out
        if 192 <= data[1] <= 223:
            self.rtcp.handle(data, addr, now, out)
            return out
        # Fast path: RTP from a bound address that authenticates with its key. Anything else
        # (address learning, a moved client, failures) takes the general path, which
        # authenticates again from scratch (a failed unprotect changes no SRTP state).
        part = self._by_addr.get(addr)
        if part is None or n < 12:
            self._on_rtp(data, addr, now, out)
            return out
        try:
            plain = part.crypto.unprotect(data)
        except (pylibsrtp.Error, ValueError):
            self._on_rtp(data, addr, now, out)
            return out
        part.last_seen = now
        self._forward(part, n, plain, now, out)
        return out

    def authenticate(
        self, data: bytes, addr: Addr, sender_ssrc: int, now: float, rtcp: bool
    ) -> tuple[Participant, bytes] | None:
        """Unprotect ``data`` with the key of whoever sends from ``addr`` (or owns the SSRC).

        Binds (or re-binds) the address on success with the SSRC owner's key; counts the drop
        and returns None on failure.
        """
        part = self._by_addr.get(addr)
        owner = self._owner.get(sender_ssrc)
        if part is None and owner is None:
            self.drops.add(DropReason.UNKNOWN_ADDRESS)
            return None
        first = part if part is not None else owner
        assert first is not None
        try:
            plain = first.crypto.rx.unprotect_rtcp(data) if rtcp else first.crypto.unprotect(data)
        except (pylibsrtp.Error, ValueError) as exc:
            if owner is None or owner is first:
                self.drops.add(classify_srtp_error(exc))
                return None
            # The address belongs to someone else; the SSRC owner may have moved there.
            try:
                plain = (owner.crypto.rx.unprotect_rtcp(data) if rtcp
                         else owner.crypto.unprotect(data))
            except (pylibsrtp.Error, ValueError) as exc2:
                self.drops.add(classify_srtp_error(exc2))
                return None
            first = owner
        if first.addr != addr:
            self._bind(first, addr)
        first.last_seen = now
        return first, plain

    def _bind(self, part: Participant, addr: Addr) -> None:
        if part.addr is not None and self._by_addr.get(part.addr) is part:
            del self._by_addr[part.addr]
        prev = self._by_addr.get(addr)
        if prev is not None and prev is not part:
            prev.addr = None
        part.addr = addr
        self._by_addr[addr] = part
        self._events.append(AddressBound(part.pid, addr))

    def _on_rtp(self, data: bytes, addr: Addr, now: float, out: list[Datagram]) -> None:
        if len(data) < 12:
            self.drops.add(DropReason.MALFORMED_RTP)
            return
        auth = self.authenticate(data, addr, _U32.unpack_from(data, 8)[0], now, False)
        if auth is None:
            return
        part, plain = auth
        self._forward(part, len(data), plain, now, out)

    def _forward(
        self, part: Participant, wire_len: int, plain: bytes, now: float, out: list[Datagram]
    ) -> None:
        """An authenticated RTP packet of ``part``: account it and fan it out.

        The per-subscription work is inlined for the common case (active, bound, no rebase
        pending); everything else goes through :meth:`_rewrite`. Same results either way.
        """
        b0, _b1, seq, ts, ssrc = _RTP_FIXED.unpack_from(plain, 0)
        stream = part.streams.get(ssrc)
        if stream is None:
            owner = self._owner.get(ssrc)
            self.drops.add(
                DropReason.SSRC_HIJACK if owner is not None and owner is not part
                else DropReason.UNKNOWN_SSRC
            )
            return
        size = len(plain)
        if b0 & 0x30:  # extension or padding: the full check
            try:
                hlen = header_length(plain)
            except RtpParseError:
                self.drops.add(DropReason.MALFORMED_RTP)
                return
        else:
            hlen = 12 + ((b0 & 0x0F) << 2)
            if hlen > size:
                self.drops.add(DropReason.MALFORMED_RTP)
                return
        self.packets_in += 1
        self.bytes_in += wire_len
        stream.stats.update(seq, ts, size, now)
        stream.cache.put(seq, plain, now)
        if stream.audio_level_id is not None and b0 & 0x10:
            self._audio_level(stream, plain, b0, hlen)
        if stream.record is not None:
            stream.record(plain, now)
        subs = stream.subs
        if not subs:
            self.drops.add(DropReason.NO_SUBSCRIBERS)
            return
        payload_len = size - hlen
        sent = 0
        sent_bytes = 0
        append = out.append
        for sub in subs:
            dest = sub.subscriber.addr
            if dest is None or sub.rebase or not sub.active or sub.pt_map is not None:
                pkt = self._rewrite(sub, plain, seq, ts, now, True)
                if pkt is None:
                    continue
                dest = sub.subscriber.addr
            else:
                out_seq = seq_add(seq, sub.seq_off)
                out_ts = ts_add(ts, sub.ts_off)
                if seq_gt(out_seq, sub.last_seq):
                    sub.last_seq = out_seq
                    sub.last_ts = out_ts
                    sub.last_time = now
                try:
                    pkt = sub.subscriber.crypto.protect_rewritten(plain, out_seq, out_ts,
                                                                  sub.out_ssrc)
                except (pylibsrtp.Error, ValueError):
                    self.drops.add(DropReason.PROTECT_FAILED)
                    continue
            append((pkt, dest))  # type: ignore[arg-type]
            sub.packets += 1
            sub.octets += payload_len
            sent += 1
            sent_bytes += len(pkt)
        self.packets_out += sent
        self.bytes_out += sent_bytes

    def _rewrite(
        self, sub: Subscription, plain: bytes, seq: int, ts: int, now: float, live: bool
    ) -> bytes | None:
        """Protected copy of ``plain`` with the subscription's header, or None (counted)."""
        if not sub.active:
            self.drops.add(DropReason.LAST_N)
            return None
        if sub.subscriber.addr is None:
            self.drops.add(DropReason.SUBSCRIBER_UNBOUND)
            return None
        if live:
            if sub.rebase:
                self._rebase(sub, seq, ts, now)
            out_seq = seq_add(seq, sub.seq_off)
            out_ts = ts_add(ts, sub.ts_off)
            if seq_gt(out_seq, sub.last_seq):
                sub.last_seq = out_seq
                sub.last_ts = out_ts
                sub.last_time = now
        else:
            out_seq = seq_add(seq, sub.seq_off)
            out_ts = ts_add(ts, sub.ts_off)
        if sub.pt_map is not None:
            b1 = plain[1]
            plain = b"".join((plain[:1], bytes(((b1 & 0x80) | sub.pt_map[b1 & 0x7F],)),
                              plain[2:]))
        try:
            return sub.subscriber.crypto.protect_rewritten(plain, out_seq, out_ts, sub.out_ssrc)
        except (pylibsrtp.Error, ValueError):
            self.drops.add(DropReason.PROTECT_FAILED)
            return None

    def _rebase(self, sub: Subscription, seq: int, ts: int, now: float) -> None:
        if not sub.started:
            # Random initial offsets, as RFC 3550 asks of a new stream's numbering.
            sub.seq_off = self._rng.getrandbits(16)
            sub.ts_off = self._rng.getrandbits(32)
            sub.started = True
            sub.last_seq = seq_add(seq, sub.seq_off - 1)
        else:
            sub.seq_off = seq_diff(seq_add(sub.last_seq, 1), seq)
            elapsed = max(1, round((now - sub.last_time) * sub.stream.clock_rate))
            sub.ts_off = ts_diff(ts_add(sub.last_ts, elapsed), ts)
        sub.rebase = False

    def retransmit(self, sub: Subscription, out_seq: int, now: float) -> bytes | None:
        """The protected copy of subscriber sequence ``out_seq`` from the cache, if held."""
        if sub.rebase or not sub.started:
            return None
        in_seq = seq_add(out_seq, -sub.seq_off)
        plain = sub.stream.cache.get(in_seq, now)
        if plain is None:
            return None
        ts = _U32.unpack_from(plain, 4)[0]
        return self._rewrite(sub, plain, in_seq, ts, now, False)

    def _audio_level(self, stream: Stream, plain: bytes, b0: int, hlen: int) -> None:
        start = 12 + ((b0 & 0x0F) << 2)
        profile = (plain[start] << 8) | plain[start + 1]
        try:
            elements = scan_elements(plain, profile, start + 4, hlen)
        except RtpParseError:
            return
        want = stream.audio_level_id
        for eid, off, ln in elements:
            if eid == want and ln >= 1 and stream.speaker is not None:
                stream.speaker.add(stream.ssrc, plain[off])
                return

    # ------------------------------------------------------------------ timers

    def next_deadline(self) -> float:
        """When :meth:`handle_timer` wants to run next."""
        return min(self._next_rtcp, self._next_speaker)

    def handle_timer(self, now: float) -> list[Datagram]:
        """Run what is due at ``now`` (RTCP reports, speaker detection); return datagrams."""
        out: list[Datagram] = []
        if now >= self._next_rtcp:
            self._next_rtcp = now + self.rtcp_interval
            self.rtcp.send_reports(now, out)
        if now >= self._next_speaker:
            self._next_speaker = now + self.speaker_interval
            changed = False
            for group, detector in self.speakers.items():
                if not detector.tick(now) or detector.current is None:
                    continue
                ssrc = detector.current
                owner = self._owner.get(ssrc)
                if owner is None:
                    continue
                self._speaker_order.remove(owner.pid)
                self._speaker_order.insert(0, owner.pid)
                self._events.append(
                    ActiveSpeakerChanged(owner.pid, ssrc, detector.loudness(ssrc), group)
                )
                changed = True
            if changed:
                self._apply_last_n(now, out)
        return out

    def _apply_last_n(self, now: float | None, out: list[Datagram]) -> None:
        rank = {pid: i for i, pid in enumerate(self._speaker_order)}
        for part in self.participants.values():
            video = [s for s in part.subs.values() if s.stream.kind == "video"]
            if self.last_n is None:
                allowed: set[str] | None = None
            else:
                pubs = sorted({s.stream.owner.pid for s in video}, key=rank.__getitem__)
                allowed = set(pubs[: self.last_n])
            for sub in video:
                active = allowed is None or sub.stream.owner.pid in allowed
                if active and not sub.active:
                    sub.rebase = True
                    if now is not None:
                        self.rtcp.request_keyframe(sub.stream, now, False, out)
                sub.active = active

    @property
    def has_events(self) -> bool:
        """True when :meth:`pop_events` would return something."""
        return bool(self._events)

    def pop_events(self) -> list[CoreEvent]:
        """Events since the last call (address bindings, speaker changes)."""
        events, self._events = self._events, []
        return events

    # ------------------------------------------------------------------ introspection

    def stats(self) -> dict[str, Any]:
        """Counters for metrics: packets/bytes in and out, RTCP, NACK, drops by reason."""
        return {
            "packets_in": self.packets_in,
            "bytes_in": self.bytes_in,
            "packets_out": self.packets_out,
            "bytes_out": self.bytes_out,
            "rtcp_in": self.rtcp_in,
            "rtcp_out": self.rtcp_out,
            "retransmits": self.retransmits,
            "nacks_upstream": self.nacks_upstream,
            "keyframe_requests": self.keyframe_requests,
            "participants": len(self.participants),
            "streams": sum(len(p.streams) for p in self.participants.values()),
            "subscriptions": sum(len(p.subs) for p in self.participants.values()),
            "drops": self.drops.snapshot(),
        }

    def subscriptions_of(self, pid: str) -> Iterable[Subscription]:
        """The subscriptions ``pid`` receives."""
        return tuple(self._participant(pid).subs.values())
