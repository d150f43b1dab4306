"""The client's sans-IO core: frames and datagrams in, datagrams and events out.

:class:`ClientCore` holds everything a native client needs once signaling has given it a
transport (:class:`TransportInfo`): the hop SRTP contexts, its published tracks (sequence
numbers, timestamps, a retransmission history), its subscriptions (reassembly, SFrame
decryption, statistics) and the loss feedback it sends. It never touches a socket or a clock:

* :meth:`ClientCore.send_frame` turns one media frame into protected datagrams (SFrame
  encrypt, packetize per the SFrame RTP payload format, RTP with the audio level in clear,
  SRTP protect);
* :meth:`ClientCore.receive` takes one datagram from the router and returns datagrams to send
  back (retransmissions answering a NACK); decoded frames, events and statistics accumulate;
* :meth:`ClientCore.tick` returns what is due at ``now``: the periodic SRTCP receiver report
  (the first one also announces the client's address to the router), NACKs for missing packets
  and PLIs for undecodable video.

The asyncio adapter (:mod:`rtpstack.client.client`) owns the socket and the clock.
"""

from __future__ import annotations

import base64
import binascii
import random
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rtpstack import fastpath
from rtpstack.client.carriage import (
    CARRIAGES,
    Carriage,
    open_frame,
    protect_frame,
    vp8_packetize,
    vp8_payload,
)
from rtpstack.client.events import KEYFRAME_REQUESTED, ClientEvent
from rtpstack.client.framecrypto import FrameCrypto, Reassembler, packetize
from rtpstack.client.hop import HopCrypto
from rtpstack.client.sources import MediaKind
from rtpstack.client.stats import ReceiveStats, ReceiveStreamState, SendStats, SendStreamState
from rtpstack.client.wire import DEFAULT_AUDIO_LEVEL_ID, build_rtp
from rtpstack.e2ee import random_sender_index
from rtpstack.errors import ParseError, SFrameError, SrtpError
from rtpstack.rtcp.compound import parse_compound
from rtpstack.rtcp.feedback import GenericNack, Pli
from rtpstack.rtcp.ntp import ntp_from_unix
from rtpstack.rtcp.reports import ReceiverReport, ReportBlock, SenderReport
from rtpstack.seqnum import seq_add, ts_add

__all__ = [
    "ClientCore",
    "ReceivedFrame",
    "TrackConfig",
    "TransportInfo",
    "TransportInfoError",
]

MAX_PACKET_PAYLOAD = 1200
"""Largest RTP payload (descriptor + SFrame fragment) the client sends."""
_HISTORY_PACKETS = 1024
_RR_INTERVAL = 1.0
_NACK_INTERVAL = 0.05
_NACK_MAX_TRIES = 3
_PLI_INTERVAL = 0.5
_GIVE_UP_AFTER = 0.2
_U32 = 1 << 32
_FRAME_LOG = 4096


class TransportInfoError(ValueError):
    """The ``transport`` object signaling sent is missing a field or has a bad value."""


@dataclass(frozen=True, slots=True)
class TransportInfo:
    """Where and how to send media: the native transport of ``docs/transport.md``."""

    host: str
    port: int
    profile: str
    client_key: bytes
    """Master key || salt the client protects with."""
    router_key: bytes
    """Master key || salt the router protects with (the client unprotects with it)."""
    rtcp_ssrc: int

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> TransportInfo:
        """Read the signaling ``transport`` object (keys in base64)."""
        try:
            host = obj["host"]
            port = obj["port"]
            profile = obj.get("profile", "AEAD_AES_128_GCM")
            client_key = base64.b64decode(obj["client_key"], validate=True)
            router_key = base64.b64decode(obj["router_key"], validate=True)
            rtcp_ssrc = obj["rtcp_ssrc"]
        except KeyError as exc:
            raise TransportInfoError(f"transport is missing {exc.args[0]!r}") from None
        except (binascii.Error, TypeError) as exc:
            raise TransportInfoError(f"transport key is not base64: {exc}") from None
        if not isinstance(host, str) or not isinstance(port, int) or not 0 < port < 65536:
            raise TransportInfoError(f"transport address is invalid: {host!r}:{port!r}")
        if not isinstance(rtcp_ssrc, int) or not 0 <= rtcp_ssrc < 2**32:
            raise TransportInfoError(f"transport rtcp_ssrc is invalid: {rtcp_ssrc!r}")
        return cls(host, port, str(profile), client_key, router_key, rtcp_ssrc)


@dataclass(frozen=True, slots=True)
class TrackConfig:
    """One published track."""

    track_id: str
    kind: MediaKind
    ssrc: int
    payload_type: int
    clock_rate: int
    audio_level_id: int = DEFAULT_AUDIO_LEVEL_ID


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    """A frame a subscription reassembled and decrypted."""

    ssrc: int
    publisher: str
    kind: str
    timestamp: int
    data: bytes
    at: float


class _SendTrack:
    __slots__ = ("config", "history", "last_sent_at", "last_ts", "seq", "state", "ts_offset")

    def __init__(self, config: TrackConfig, rng: random.Random) -> None:
        self.config = config
        self.last_ts: int | None = None  # RTP timestamp (offset applied) of the last frame
        self.last_sent_at: float | None = None
        self.seq = rng.randrange(0, 1 << 15)
        self.ts_offset = rng.randrange(0, 1 << 31)
        self.state = SendStreamState(config.ssrc, config.kind)
        self.history: OrderedDict[int, bytes] = OrderedDict()


class _RecvTrack:
    __slots__ = ("kind", "last_pli", "nack_tries", "need_keyframe", "pli_mark",
                 "publisher", "reassembler", "state")

    def __init__(self, ssrc: int, publisher: str, kind: str, clock_rate: int) -> None:
        self.publisher = publisher
        self.kind = kind
        self.state = ReceiveStreamState(ssrc, kind=kind, publisher=publisher,
                                        clock_rate=clock_rate)
        self.reassembler = Reassembler()
        self.nack_tries: dict[int, tuple[int, float, float]] = {}  # seq: (tries, last, first)
        self.last_pli = -1e9
        self.need_keyframe = False
        self.pli_mark = 0


class ClientCore:
    """One participant's media state machine (see the module docstring)."""

    def __init__(
        self,
        transport: TransportInfo,
        *,
        session_id: str,
        participant_id: str,
        e2ee: bool,
        nack: bool = True,
        pli: bool = True,
        sender_index: int | None = None,
        seed: int | None = None,
        carriage: Carriage = "sframe",
    ) -> None:
        if carriage not in CARRIAGES:
            raise ValueError(f"carriage must be one of {', '.join(CARRIAGES)}, got {carriage!r}")
        self.carriage: Carriage = carriage
        """``sframe`` (SFrame RTP payload format) or ``codec`` (as browsers carry frames:
        :mod:`rtpstack.client.carriage`; VP8 for video)."""
        self.transport = transport
        self.session_id = session_id
        self.participant_id = participant_id
        self.e2ee = e2ee
        self.nack_enabled = nack
        self.pli_enabled = pli
        self._rng = random.Random(seed)
        self._hop = HopCrypto(transport.client_key, transport.router_key, transport.profile)
        self.sender_index = sender_index if sender_index is not None else random_sender_index()
        self._crypto: FrameCrypto | None = (
            FrameCrypto(session_id, self.sender_index) if e2ee else None
        )
        self._send: dict[str, _SendTrack] = {}
        self._send_by_ssrc: dict[int, _SendTrack] = {}
        self._recv: dict[int, _RecvTrack] = {}
        self._events: deque[ClientEvent] = deque()
        self._frames: deque[ReceivedFrame] = deque(maxlen=_FRAME_LOG)
        self._next_rr = 0.0
        self.drops: dict[str, int] = {}
        """Datagrams dropped, by reason (``srtp``, ``parse``, ``unknown_ssrc``, ...)."""

    # -- encryption ------------------------------------------------------------------------

    @property
    def has_secret(self) -> bool:
        """True once an encryption secret is set (always False in a non-e2ee session)."""
        return self._crypto is not None and self._crypto.has_secret

    def set_encryption_secret(self, secret: str) -> None:
        """Set or change the secret; a change starts a new key epoch for what this sends."""
        if self._crypto is None:
            raise ValueError("this session is not end-to-end encrypted: no secret to set")
        self._crypto.set_secret(secret)

    # -- publishing ------------------------------------------------------------------------

    def add_track(self, config: TrackConfig) -> None:
        """Start a published track (after signaling accepted the publication)."""
        if config.track_id in self._send or config.ssrc in self._send_by_ssrc:
            raise ValueError(f"track {config.track_id!r} or ssrc {config.ssrc} already exists")
        track = _SendTrack(config, self._rng)
        self._send[config.track_id] = track
        self._send_by_ssrc[config.ssrc] = track

    def remove_track(self, track_id: str) -> None:
        """Forget a published track."""
        track = self._send.pop(track_id, None)
        if track is not None:
            self._send_by_ssrc.pop(track.config.ssrc, None)

    def send_frame(
        self,
        track_id: str,
        frame: bytes,
        *,
        timestamp: int,
        keyframe: bool = False,
        audio_level: tuple[bool, int] | None = None,
        now: float | None = None,
    ) -> list[bytes]:
        """Encrypt, packetize and protect one frame; returns the datagrams to send in order.

        ``keyframe`` is only counted (a codec marks key frames in its own bits or in a
        dependency descriptor; the synthetic frames carry no such header). ``now`` (the
        caller's clock) lets the next sender report extrapolate the RTP timestamp.
        """
        track = self._send[track_id]
        cfg = track.config
        if self._crypto is not None:
            if not self._crypto.has_secret:
                raise ValueError("set the encryption secret before publishing in an e2ee session")
            crypto = self._crypto
            if self.carriage == "codec":
                body = protect_frame(cfg.kind, frame,
                                     lambda p, m: crypto.encrypt(cfg.ssrc, p, m))
            else:
                body = crypto.encrypt(cfg.ssrc, frame)
        else:
            body = frame
        if self.carriage == "sframe":
            payloads = packetize(body, MAX_PACKET_PAYLOAD)
        elif cfg.kind == "video":
            payloads = vp8_packetize(body, MAX_PACKET_PAYLOAD)
        else:
            payloads = [body]
        ts = ts_add(timestamp, track.ts_offset)
        out: list[bytes] = []
        last = len(payloads) - 1
        level = audio_level if cfg.kind == "audio" else None
        for i, payload in enumerate(payloads):
            packet = build_rtp(cfg.payload_type, i == last, track.seq, ts, cfg.ssrc, payload,
                               audio_level=level, audio_level_id=cfg.audio_level_id)
            protected = self._hop.protect(packet)
            track.history[track.seq] = protected
            if len(track.history) > _HISTORY_PACKETS:
                track.history.popitem(last=False)
            track.seq = seq_add(track.seq, 1)
            track.state.packets += 1
            track.state.bytes += len(packet)
            out.append(protected)
        track.state.frames += 1
        track.state.keyframes += keyframe
        track.last_ts = ts
        track.last_sent_at = now
        return out

    def protect_raw(self, rtp: bytes) -> bytes:
        """SRTP-protect any RTP packet with this hop's key (for tools and tests)."""
        return self._hop.protect(rtp)

    # -- subscribing -----------------------------------------------------------------------

    def add_subscription(self, ssrc: int, *, publisher: str, kind: str,
                         clock_rate: int = 90_000) -> None:
        """Expect a stream the router sends under ``ssrc`` (its subscriber-side SSRC)."""
        existing = self._recv.get(ssrc)
        if existing is not None:
            existing.publisher = publisher or existing.publisher
            existing.kind = kind or existing.kind
            existing.state.publisher = existing.publisher
            existing.state.kind = existing.kind
            return
        self._recv[ssrc] = _RecvTrack(ssrc, publisher, kind, clock_rate)

    def remove_subscription(self, ssrc: int) -> None:
        """Stop accounting a stream (late packets for it are then dropped)."""
        self._recv.pop(ssrc, None)

    # -- receiving -------------------------------------------------------------------------

    def _drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """Handle one datagram from the router; returns datagrams to send back."""
        if len(data) < 2 or data[0] >> 6 != 2:
            self._drop("not_rtp")
            return []
        if 192 <= data[1] <= 223:
            return self._receive_rtcp(data, now)
        try:
            packet = self._hop.unprotect(data)
        except SrtpError:
            self._drop("srtp")
            return []
        try:
            marker, _pt, seq, ts, ssrc, _xp, _xs, start, end = fastpath.parse_header(packet)
        except ParseError:
            self._drop("parse")
            return []
        track = self._recv.get(ssrc)
        if track is None:
            self._drop("unknown_ssrc")
            return []
        if not track.state.on_packet(seq, ts, len(packet), now):
            self._drop("duplicate")
            return []
        track.nack_tries.pop(seq, None)
        payload = packet[start:end]
        if self.carriage == "codec":
            payload = self._codec_payload(track, marker, payload)
            if not payload:
                return []
        for frame in track.reassembler.push(seq, ts, marker, payload):
            self._decode(track, frame.timestamp, frame.data, now)
        track.state.reassembly_dropped = track.reassembler.dropped_packets
        return []

    def _codec_payload(self, track: _RecvTrack, marker: bool, payload: bytes) -> bytes:
        """A codec-carried payload as the reassembler's descriptor byte + fragment."""
        if track.kind != "video":
            return b"\xc0" + payload          # one packet per audio frame
        try:
            start, data = vp8_payload(payload)
        except ParseError:
            self._drop("parse")
            return b""
        return bytes(((0x80 if start else 0) | (0x40 if marker else 0),)) + data

    def _decode(self, track: _RecvTrack, ts: int, body: bytes, now: float) -> None:
        crypto = self._crypto
        if crypto is None:
            frame = body
        else:
            try:
                if self.carriage == "codec":
                    frame = open_frame(track.kind, body, crypto.decrypt)
                else:
                    frame = crypto.decrypt(body)
            except SFrameError:
                track.state.frames_failed += 1
                self._secret_events(crypto, track, now)
                return
            self._secret_events(crypto, track, now)
        track.state.frames_decoded += 1
        self._frames.append(ReceivedFrame(track.state.ssrc, track.publisher, track.kind, ts,
                                          frame, now))

    def _secret_events(self, crypto: FrameCrypto, track: _RecvTrack, now: float) -> None:
        for ev in crypto.drain_events():
            self._events.append(ClientEvent(ev.kind, {
                "participant_id": track.publisher, "sender_index": ev.sender_index,
                "kid": ev.kid, "ssrc": track.state.ssrc, "kind": track.kind}, now))

    def _receive_rtcp(self, data: bytes, now: float) -> list[bytes]:
        try:
            plain = self._hop.unprotect_rtcp(data)
        except SrtpError:
            self._drop("srtcp")
            return []
        out: list[bytes] = []
        for pkt in self._feedback(plain):
            if isinstance(pkt, GenericNack):
                track = self._send_by_ssrc.get(pkt.media_ssrc)
                if track is None:
                    continue
                track.state.nacks_received += 1
                for seq in pkt.lost_sequence_numbers:
                    cached = track.history.get(seq)
                    if cached is not None:
                        out.append(cached)
                        track.state.retransmitted += 1
            else:
                track = self._send_by_ssrc.get(pkt.media_ssrc)
                if track is None:
                    continue
                track.state.plis_received += 1
                self._events.append(ClientEvent(
                    KEYFRAME_REQUESTED, {"track_id": track.config.track_id,
                                         "ssrc": track.config.ssrc}, now))
        return out

    def _feedback(self, plain: bytes) -> list[GenericNack | Pli]:
        """The NACKs and PLIs of a compound RTCP packet (other packet types are skipped)."""
        try:
            packets = parse_compound(plain)
        except ParseError:
            self._drop("rtcp_parse")
            return []
        return [p for p in packets if isinstance(p, GenericNack | Pli)]

    # -- timers ----------------------------------------------------------------------------

    def tick(self, now: float, wallclock: float | None = None) -> list[bytes]:
        """Datagrams due at ``now``: the periodic RTCP report, NACKs and PLIs.

        With ``wallclock`` (Unix seconds) the periodic report also carries a sender report per
        published track (NTP/RTP mapping, packet and octet counts).
        """
        out: list[bytes] = []
        if now >= self._next_rr:
            out.append(self.receiver_report(now, wallclock))
            self._next_rr = now + _RR_INTERVAL
        rtcp_ssrc = self.transport.rtcp_ssrc
        for ssrc, track in self._recv.items():
            due: list[int] = []
            gave_up: list[int] = []
            for ext in sorted(track.state.missing):
                seq = seq_add(ext, 0)
                tries, last, first = track.nack_tries.setdefault(seq, (0, -1e9, now))
                if (self.nack_enabled and tries < _NACK_MAX_TRIES
                        and now - last >= _NACK_INTERVAL):
                    track.nack_tries[seq] = (tries + 1, now, first)
                    due.append(seq)
                elif (tries >= _NACK_MAX_TRIES or not self.nack_enabled) and \
                        now - max(last, first) >= _GIVE_UP_AFTER:
                    gave_up.append(ext)
            if due:
                nack = GenericNack.from_lost(rtcp_ssrc, ssrc, due)
                out.append(self._hop.protect_rtcp(bytes(nack)))
                track.state.nacks_sent += 1
            for ext in gave_up:
                track.state.missing.discard(ext)
                track.nack_tries.pop(seq_add(ext, 0), None)
            if len(track.nack_tries) > 2 * len(track.state.missing) + 64:
                # entries of sequence numbers that left the missing window
                keep = {seq_add(e, 0) for e in track.state.missing}
                track.nack_tries = {k: v for k, v in track.nack_tries.items() if k in keep}
            if gave_up or track.reassembler.dropped_packets > track.pli_mark:
                track.need_keyframe = True
            if (self.pli_enabled and track.kind == "video" and track.need_keyframe
                    and now - track.last_pli >= _PLI_INTERVAL):
                track.last_pli = now
                track.need_keyframe = False
                track.pli_mark = track.reassembler.dropped_packets
                out.append(self._hop.protect_rtcp(bytes(Pli(rtcp_ssrc, ssrc))))
                track.state.plis_sent += 1
        return out

    def receiver_report(self, now: float | None = None, wallclock: float | None = None
                        ) -> bytes:
        """SRTCP: an RR from ``rtcp_ssrc`` with a block per received stream (max 31), then,
        given ``wallclock``, an SR per published track that has sent something."""
        blocks = []
        for ssrc, track in list(self._recv.items())[:31]:
            if track.state.packets == 0:
                continue
            fraction, lost, highest, jitter = track.state.report_block_values()
            blocks.append(ReportBlock(ssrc, fraction, lost, highest, jitter))
        parts = [bytes(ReceiverReport(self.transport.rtcp_ssrc, tuple(blocks)))]
        if wallclock is not None:
            for send in self._send.values():
                if send.last_ts is None:
                    continue
                rtp_ts = send.last_ts
                if now is not None and send.last_sent_at is not None:
                    elapsed = max(0.0, now - send.last_sent_at)
                    rtp_ts = ts_add(rtp_ts, round(elapsed * send.config.clock_rate))
                st = send.state
                parts.append(bytes(SenderReport(
                    send.config.ssrc, ntp_from_unix(wallclock), rtp_ts,
                    st.packets % _U32, st.bytes % _U32)))
        return self._hop.protect_rtcp(b"".join(parts))

    # -- results ---------------------------------------------------------------------------

    def pop_events(self) -> list[ClientEvent]:
        """Events raised since the last call (mismatch/match, keyframe requests)."""
        events = list(self._events)
        self._events.clear()
        return events

    def pop_frames(self) -> list[ReceivedFrame]:
        """Frames decoded since the last call (at most the last 4,096 are kept)."""
        frames = list(self._frames)
        self._frames.clear()
        return frames

    def receive_stats(self) -> dict[int, ReceiveStats]:
        """Statistics per received stream, by subscriber-side SSRC."""
        return {ssrc: t.state.snapshot() for ssrc, t in self._recv.items()}

    def send_stats(self) -> dict[str, SendStats]:
        """Statistics per published track, by track id."""
        return {tid: t.state.snapshot() for tid, t in self._send.items()}
