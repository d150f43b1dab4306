"""The real media plane: the control plane's :class:`~router.mediaplane.MediaPlane` over UDP.

:class:`RouterMediaPlane` ties together one :class:`~router.forwarding.ForwardingCore` (every
session's participants behind the same socket(s); sessions are the core's groups), the asyncio
:class:`~router.transport.UdpMediaTransport`, and :class:`~router.recorder.Recorder` for
archives. The control plane's ids (session, participant, stream, subscription) are mapped to
the core's participants, SSRCs and subscription SSRCs here; nothing below knows about them.

``create_media_plane(config)`` is what :func:`router.app.default_media_plane` looks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from router.config import RouterConfig
from router.errors import Conflict, InternalError, NotFound
from router.forwarding.core import (
    ActiveSpeakerChanged,
    CoreEvent,
    ForwardingConfigError,
    ForwardingCore,
)
from router.forwarding.hop import HopKeys
from router.forwarding.model import Kind, RecordTap
from router.logs import log_event
from router.mediaplane import (
    AEAD_AES_128_GCM,
    ActiveSpeakerEvent,
    EventCallback,
    MediaStats,
    SrtpKeying,
    TransportInfo,
)
from router.recorder import RecordedStream, Recorder, RecorderError
from router.sessions import Publication
from router.transport.base import DatagramClass
from router.transport.udp import UdpMediaTransport
from router.webrtc.answer import RecvSlot, WebRtcAnswer, answer_offer, parse_offer
from router.webrtc.ice import IceCredentials
from router.webrtc.transport import WebRtcTransport

__all__ = ["AUDIO_LEVEL_URI", "RouterMediaPlane", "create_media_plane"]

log = logging.getLogger(__name__)

#: RFC 6464 client-to-mixer audio level header extension.
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


@dataclass(slots=True)
class _Session:
    e2ee: bool
    participants: dict[str, str] = field(default_factory=dict)  # participant id -> core pid
    streams: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    subscriptions: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    recordings: dict[str, tuple[Recorder, tuple[int, ...]]] = field(default_factory=dict)


class RouterMediaPlane:
    """Payload-blind SRTP forwarding for routed sessions, on one UDP port or a port range."""

    def __init__(
        self,
        config: RouterConfig | None = None,
        *,
        last_n: int | None = None,
        core: ForwardingCore | None = None,
    ) -> None:
        self.config = config if config is not None else RouterConfig()
        self.core = core if core is not None else ForwardingCore(last_n=last_n)
        self.transport = UdpMediaTransport(self.core, on_events=self._on_events)
        self._sessions: dict[str, _Session] = {}
        self._callback: EventCallback | None = None
        self._next_port = 0
        #: core pid -> (session id, participant id); SSRC -> stream id.
        self._who: dict[str, tuple[str, str]] = {}
        self._stream_of_ssrc: dict[int, str] = {}
        self._taps: dict[int, list[RecordTap]] = {}
        #: WebRTC participants: ICE-lite + DTLS handlers on the same socket(s) (docs/webrtc.md).
        self.webrtc = WebRtcTransport(self.core)
        self.transport.handlers[DatagramClass.STUN] = self.webrtc
        self.transport.handlers[DatagramClass.DTLS] = self.webrtc
        self._port_of: dict[str, int] = {}
        #: core pid -> the slots of its answer, each with the subscription id using it.
        self._slots: dict[str, list[tuple[RecvSlot, list[str]]]] = {}
        self._webrtc_timer: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind the media port(s) from ``config.media_ports``."""
        ports = self.config.media_ports
        bound = await self.transport.start(
            self.config.advertised_media_host, ports.first, ports.last
        )
        log_event(log, logging.INFO, "media plane listening",
                  host=self.config.advertised_media_host, ports=",".join(map(str, bound)))
        self._webrtc_timer = asyncio.get_running_loop().create_task(self._run_webrtc_timer())

    async def _run_webrtc_timer(self) -> None:
        """Drive DTLS retransmissions (the UDP adapter only times the forwarding core)."""
        loop = asyncio.get_running_loop()
        while True:
            deadline = self.webrtc.next_deadline()
            now = loop.time()
            await asyncio.sleep(0.2 if deadline is None else min(0.2, max(0.01, deadline - now)))
            out = self.webrtc.handle_timer(loop.time())
            if out:
                self.transport.send(out, None)

    async def close(self) -> None:
        """Close every recording and socket."""
        if self._webrtc_timer is not None:
            self._webrtc_timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webrtc_timer
            self._webrtc_timer = None
        for session in self._sessions.values():
            for recorder, _ in session.recordings.values():
                recorder.close()
        self.transport.close()

    @property
    def ports(self) -> list[int]:
        """The bound UDP ports (after :meth:`start`)."""
        return list(self.transport.ports)

    def set_event_callback(self, callback: EventCallback) -> None:
        """Where active-speaker changes are reported."""
        self._callback = callback

    # ------------------------------------------------------------------ sessions

    async def add_session(self, session_id: str, *, e2ee: bool) -> None:
        """A routed session was created."""
        self._sessions[session_id] = _Session(e2ee)

    async def remove_session(self, session_id: str) -> None:
        """A routed session ended; whatever is left of it goes too."""
        session = self._sessions.pop(session_id, None)
        if session is None:
            return
        for recorder, ssrcs in session.recordings.values():
            self._untap(recorder, ssrcs)
            recorder.close()
        for cpid in session.participants.values():
            if cpid in self.core.participants:
                self.core.remove_participant(cpid)
            self._who.pop(cpid, None)
            self._port_of.pop(cpid, None)
            self.webrtc.remove_peer(cpid)
            for slot, _ in self._slots.pop(cpid, []):
                self._release_slot_ssrc(slot.ssrc)

    def _session(self, session_id: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"no routed session {session_id!r} in the media plane")
        return session

    def _cpid(self, session: _Session, participant_id: str) -> str:
        cpid = session.participants.get(participant_id)
        if cpid is None:
            raise NotFound(f"no participant {participant_id!r} in the media plane")
        return cpid

    async def add_participant(self, session_id: str, participant_id: str) -> TransportInfo:
        """Fresh hop keys, a router-chosen RTCP SSRC, and where to send."""
        session = self._session(session_id)
        if participant_id in session.participants:
            raise Conflict(f"participant {participant_id!r} already has a transport")
        client = SrtpKeying.generate(AEAD_AES_128_GCM)
        router = SrtpKeying.generate(AEAD_AES_128_GCM)
        cpid = f"{session_id}\x00{participant_id}"
        part = self.core.add_participant(
            cpid, HopKeys(client.key + client.salt, router.key + router.salt), group=session_id
        )
        session.participants[participant_id] = cpid
        self._who[cpid] = (session_id, participant_id)
        ports = self.transport.ports or [self.config.media_ports.first]
        port = ports[self._next_port % len(ports)]
        self._next_port += 1
        self._port_of[cpid] = port
        return TransportInfo(
            self.config.advertised_media_host, port, client, router, rtcp_ssrc=part.rtcp_ssrc
        )

    async def remove_participant(self, session_id: str, participant_id: str) -> None:
        """Forget the participant's transport, keys and anything still attached to it."""
        session = self._session(session_id)
        cpid = session.participants.pop(participant_id, None)
        if cpid is None:
            return
        for sid_, (owner, _) in list(session.subscriptions.items()):
            if owner == cpid:
                del session.subscriptions[sid_]
        for stream_id, (owner, ssrcs) in list(session.streams.items()):
            if owner == cpid:
                del session.streams[stream_id]
                for ssrc in ssrcs:
                    self._stream_of_ssrc.pop(ssrc, None)
        addr = self.core.participants[cpid].addr
        self.core.remove_participant(cpid)
        if addr is not None:
            self.transport.forget(addr)
        self._who.pop(cpid, None)
        self._port_of.pop(cpid, None)
        self.webrtc.remove_peer(cpid)
        for slot, _ in self._slots.pop(cpid, []):
            self._release_slot_ssrc(slot.ssrc)

    async def add_publication(self, session_id: str, publication: Publication) -> None:
        """The participant's transport now owns the publication's media and RTX SSRCs."""
        session = self._session(session_id)
        cpid = self._cpid(session, publication.participant_id)
        level_id = next(
            (i for i, uri in publication.header_extensions if uri == AUDIO_LEVEL_URI), None
        )
        kind: Kind = "audio" if str(publication.kind) == "audio" else "video"
        added: list[int] = []
        try:
            for ssrc in publication.ssrcs:
                self.core.add_stream(cpid, ssrc, kind, publication.codec.clock_rate,
                                     level_id if kind == "audio" else None)
                added.append(ssrc)
            for ssrc in publication.rtx_ssrcs:
                self.core.add_stream(cpid, ssrc, kind, publication.codec.clock_rate)
                added.append(ssrc)
        except ForwardingConfigError as exc:
            for ssrc in added:
                self.core.remove_stream(cpid, ssrc)
            raise Conflict(str(exc), code="ssrc_in_use") from None
        session.streams[publication.stream_id] = (cpid, tuple(added))
        for ssrc in added:
            self._stream_of_ssrc[ssrc] = publication.stream_id

    async def remove_publication(self, session_id: str, stream_id: str) -> None:
        """The stream ended."""
        session = self._session(session_id)
        entry = session.streams.pop(stream_id, None)
        if entry is None:
            return
        cpid, ssrcs = entry
        for ssrc in ssrcs:
            if cpid in self.core.participants and ssrc in self.core.participants[cpid].streams:
                self.core.remove_stream(cpid, ssrc)
            self._stream_of_ssrc.pop(ssrc, None)

    async def add_subscription(
        self, session_id: str, subscription_id: str, subscriber_id: str,
        publication: Publication,
    ) -> Mapping[int, int]:
        """Forward each of the publication's SSRCs under a fresh router-chosen SSRC."""
        session = self._session(session_id)
        cpid = self._cpid(session, subscriber_id)
        if cpid in self._slots:
            return self._subscribe_slot(session, subscription_id, cpid, publication)
        mapping: dict[int, int] = {}
        try:
            for ssrc in publication.all_ssrcs:
                mapping[ssrc] = self.core.add_subscription(cpid, ssrc)
        except ForwardingConfigError as exc:
            for out_ssrc in mapping.values():
                self.core.remove_subscription(cpid, out_ssrc)
            raise NotFound(str(exc)) from None
        session.subscriptions[subscription_id] = (cpid, tuple(mapping.values()))
        return mapping

    async def remove_subscription(self, session_id: str, subscription_id: str) -> None:
        """Stop forwarding for this subscription."""
        session = self._session(session_id)
        entry = session.subscriptions.pop(subscription_id, None)
        if entry is None:
            return
        cpid, out_ssrcs = entry
        part = self.core.participants.get(cpid)
        for out_ssrc in out_ssrcs:
            if part is not None and out_ssrc in part.subs:
                self.core.remove_subscription(cpid, out_ssrc)
        for slot, users in self._slots.get(cpid, []):
            if subscription_id in users:
                users.remove(subscription_id)
                self._reserve_slot_ssrc(slot.ssrc)

    # ------------------------------------------------------------------ WebRTC

    async def webrtc_offer(
        self, session_id: str, participant_id: str, sdp: object
    ) -> WebRtcAnswer:
        """Answer a WebRTC participant's offer and start ICE-lite + DTLS for it.

        The participant joined like any other (:meth:`add_participant`); its hop keys are
        replaced by the DTLS-SRTP ones once the handshake completes. Raises ``invalid_offer``
        (BadRequest) for an SDP the router cannot answer.
        """
        session = self._session(session_id)
        cpid = self._cpid(session, participant_id)
        offer = parse_offer(sdp)
        if any(users for _, users in self._slots.get(cpid, [])):
            raise Conflict("renegotiation with subscriptions in place is not supported",
                           code="renegotiation_unsupported")
        for slot, _ in self._slots.pop(cpid, []):
            self._release_slot_ssrc(slot.ssrc)
        ice = IceCredentials.generate()
        answer = answer_offer(
            offer, ice=ice, fingerprint=self.webrtc.fingerprint,
            host=self.config.advertised_media_host,
            port=self._port_of.get(cpid, self.config.media_ports.first),
            new_ssrc=self.core.new_ssrc,
        )
        self.webrtc.add_peer(cpid, ice, remote_ufrag=answer.remote_ufrag,
                             remote_fingerprint=answer.remote_fingerprint)
        self._slots[cpid] = [(slot, []) for slot in answer.slots]
        log_event(log, logging.INFO, "webrtc offer answered", session=session_id,
                  participant=participant_id, sends=len(answer.sends), slots=len(answer.slots))
        return answer

    def subscription_mid(self, session_id: str, subscription_id: str) -> str | None:
        """The answer's m-line (mid) a WebRTC subscriber receives a subscription on."""
        session = self._sessions.get(session_id)
        entry = session.subscriptions.get(subscription_id) if session is not None else None
        if entry is None:
            return None
        for slot, users in self._slots.get(entry[0], []):
            if subscription_id in users:
                return slot.mid
        return None

    def _subscribe_slot(
        self, session: _Session, subscription_id: str, cpid: str, publication: Publication
    ) -> Mapping[int, int]:
        kind = str(publication.kind)
        name = publication.codec.name
        free = next(((slot, users) for slot, users in self._slots[cpid]
                     if not users and slot.kind == kind
                     and slot.payload_type_for(name) is not None), None)
        if free is None:
            raise Conflict(
                f"no free {kind} slot that can carry {name} in this participant's offer: "
                f"offer more recvonly {kind} m-lines", code="no_free_slot")
        slot, users = free
        ssrc = publication.ssrcs[0]
        self._release_slot_ssrc(slot.ssrc)
        try:
            out = self.core.add_subscription(cpid, ssrc, slot.ssrc)
        except ForwardingConfigError as exc:
            self._reserve_slot_ssrc(slot.ssrc)
            raise NotFound(str(exc)) from None
        pt = slot.payload_type_for(name)
        assert pt is not None
        table = bytearray(range(128))
        table[publication.codec.payload_type] = pt
        self.core.participants[cpid].subs[out].pt_map = bytes(table)
        users.append(subscription_id)
        session.subscriptions[subscription_id] = (cpid, (out,))
        return {ssrc: out}

    def _release_slot_ssrc(self, ssrc: int) -> None:
        # Slot SSRCs are reserved in the core from the answer on (so nothing else takes
        # them); the reservation is lifted while a subscription uses the slot.
        self.core._used_ssrcs.discard(ssrc)

    def _reserve_slot_ssrc(self, ssrc: int) -> None:
        self.core._used_ssrcs.add(ssrc)

    # ------------------------------------------------------------------ recording

    async def start_recording(
        self, session_id: str, recording_id: str, publications: Sequence[Publication],
        path: Path,
    ) -> None:
        """Record the accepted RTP of the publications' media SSRCs to ``path`` (+ ``.sdp``)."""
        session = self._session(session_id)
        if session.e2ee:
            raise Conflict("recording is refused in a session with end-to-end encryption: "
                           "the router only carries ciphertext", code="e2ee_session")
        if recording_id in session.recordings:
            raise Conflict(f"recording {recording_id!r} already runs")
        streams = [
            RecordedStream(
                ssrc, str(p.kind), p.codec.payload_type, p.codec.name, p.codec.clock_rate,
                p.codec.channels, p.codec.fmtp, tuple(p.header_extensions),
            )
            for p in publications
            for ssrc in p.ssrcs
        ]
        for s in streams:
            if self._stream_of_ssrc.get(s.ssrc) is None:
                raise NotFound(f"stream with SSRC {s.ssrc} is not published")
        try:
            recorder = Recorder(path, streams, wall_offset=self.core.wall_offset,
                                drops=self.core.drops)
        except RecorderError as exc:
            raise InternalError(str(exc), code="archive_failed") from None
        ssrcs = tuple(s.ssrc for s in streams)
        for ssrc in ssrcs:
            self._taps.setdefault(ssrc, []).append(recorder.tap_for(ssrc))
            self._install_tap(ssrc)
        session.recordings[recording_id] = (recorder, ssrcs)

    async def stop_recording(self, session_id: str, recording_id: str) -> None:
        """Detach the recording and close its file."""
        session = self._session(session_id)
        entry = session.recordings.pop(recording_id, None)
        if entry is None:
            return
        recorder, ssrcs = entry
        self._untap(recorder, ssrcs)
        recorder.close()

    def _untap(self, recorder: Recorder, ssrcs: tuple[int, ...]) -> None:
        for ssrc in ssrcs:
            taps = [t for t in self._taps.get(ssrc, [])
                    if getattr(t, "recorder", None) is not recorder]
            if taps:
                self._taps[ssrc] = taps
            else:
                self._taps.pop(ssrc, None)
            self._install_tap(ssrc)

    def _install_tap(self, ssrc: int) -> None:
        owner = self.core.stream_owner(ssrc)
        if owner is None or ssrc not in self.core.participants[owner].streams:
            return
        taps = self._taps.get(ssrc, [])
        if not taps:
            self.core.set_record_tap(ssrc, None)
        elif len(taps) == 1:
            self.core.set_record_tap(ssrc, taps[0])
        else:
            both = tuple(taps)

            def fan(packet: bytes, now: float) -> None:
                for tap in both:
                    tap(packet, now)

            self.core.set_record_tap(ssrc, fan)

    # ------------------------------------------------------------------ events and stats

    def _on_events(self, events: list[CoreEvent]) -> None:
        if self._callback is None:
            return
        for ev in events:
            if not isinstance(ev, ActiveSpeakerChanged):
                continue
            who = self._who.get(ev.participant_id)
            if who is None:
                continue
            stream_id = self._stream_of_ssrc.get(ev.ssrc, "")
            self._callback(ActiveSpeakerEvent(who[0], who[1], stream_id, ev.level))

    def stats(self) -> MediaStats:
        """Totals and drops by reason (cheap: a few integers and one dict)."""
        core = self.core
        drops = core.drops.snapshot()
        return MediaStats(
            packets_in=core.packets_in + core.rtcp_in,
            packets_out=core.packets_out + core.rtcp_out,
            bytes_in=core.bytes_in,
            bytes_out=core.bytes_out,
            srtp_failures=drops["srtp_auth_failed"] + drops["srtp_replay"] + drops["srtp_other"],
            drops=drops,
            fast_path=self._fast_path_split(),
        )

    def _fast_path_split(self) -> dict[str, int]:
        """How the C forwarding path handled what it read (empty on the Python path)."""
        fast = self.transport.fast_stats()
        if not fast:
            return {}
        return {"fast": fast.get("fast_in", 0), "slow": fast.get("slow_in", 0)}


def create_media_plane(config: RouterConfig) -> RouterMediaPlane:
    """The media plane ``rtp-router`` runs with (see :func:`router.app.default_media_plane`)."""
    return RouterMediaPlane(config, last_n=config.last_n or None)
