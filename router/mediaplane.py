"""The interface between the control plane and the media plane.

The control plane (HTTP API and WebSocket signaling) decides *who* is in a session and *what*
flows where; the media plane moves the packets. The control plane only ever calls the methods
of :class:`MediaPlane`, and only for **routed** sessions (relayed sessions carry no media
through the router). :class:`NullMediaPlane` implements the protocol without moving a packet;
the control-plane tests use it, and it is what the router runs with until a real media plane is
plugged in through ``router.app.create_app(config, media_plane)``.

Contract for implementers
-------------------------

* **Lifecycle.** ``start()`` is awaited once before the HTTP server accepts requests (bind the
  UDP socket(s) here: one port with RFC 7983 demultiplexing, or a port range from
  ``RouterConfig.media_ports``); ``close()`` once at shutdown, after every participant was
  removed. Neither is called twice.
* **Calls arrive in a sane order** for each session: ``add_session`` → ``add_participant`` →
  ``add_publication`` / ``add_subscription`` → the matching ``remove_*`` → ``remove_session``.
  A participant's subscriptions and publications (and the subscriptions of others to them) are
  removed before the participant; every participant before the session.
* **Errors.** A method that refuses raises a :class:`router.errors.RouterError` subclass (its
  code and message reach the client unchanged); any other exception is reported to the client
  as ``media_plane_error`` and logged. When ``add_*`` raises, the control plane forgets the
  object and will not call the matching ``remove_*``.
* **Transport (native clients).** ``add_participant`` returns a :class:`TransportInfo`: the UDP
  address to send to, and fresh SRTP keying (AEAD_AES_128_GCM by default, RFC 7714) for each
  direction of this hop (``client_key``: client→router, ``router_key``: router→client), never
  reused across participants, and the ``rtcp_ssrc`` the client sends its RTCP with (the wire
  contract is ``docs/transport.md``). It is sent to the client over the authenticated
  WebSocket in the ``joined`` message. The router learns the client's address from the first
  packet that authenticates with ``client_key``; until then it sends nothing to that
  participant.
* **SSRC ownership.** ``add_publication`` tells which SSRCs (media and RTX) the participant's
  transport owns; packets with other SSRCs from that transport are dropped and counted (a
  participant cannot inject into another's stream). The control plane guarantees an SSRC is
  published only once per session.
* **Subscriptions.** ``add_subscription`` returns, for each publisher SSRC (media and any
  RTX), the SSRC the subscriber will see it as (several publisher SSRCs, e.g. simulcast
  layers, may map to one subscriber SSRC); the media plane rewrites SSRC, sequence number and
  timestamp per subscription so each subscriber sees continuous streams.
* **Recording.** ``start_recording`` records the forwarded RTP of the given publications to a
  pcapng file at ``path`` (with the SDP beside it); it is called only for routed sessions
  without e2ee. ``stop_recording`` finishes the file.
* **Events.** The media plane reports the active speaker of a session (from the audio-level
  header extension, smoothed) through the callback passed to ``set_event_callback``; the
  control plane announces it to the session's participants as an ``active_speaker`` event. Call
  it from the event loop's thread.
* **Stats.** ``stats()`` is cheap and synchronous; ``/metrics`` calls it on every scrape.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from router.sessions import Publication

if TYPE_CHECKING:
    from router.webrtc.answer import WebRtcAnswer

__all__ = [
    "AEAD_AES_128_GCM",
    "ActiveSpeakerEvent",
    "EventCallback",
    "MediaPlane",
    "MediaStats",
    "NullMediaPlane",
    "SrtpKeying",
    "TransportInfo",
    "WebRtcMediaPlane",
]

#: The native transport's default SRTP protection profile (RFC 7714): 16-byte key, 12-byte salt.
AEAD_AES_128_GCM = "AEAD_AES_128_GCM"
_KEY_SALT_LENGTHS = {AEAD_AES_128_GCM: (16, 12), "AES_CM_128_HMAC_SHA1_80": (16, 14)}


@dataclass(frozen=True, slots=True)
class SrtpKeying:
    """SRTP master key and salt for one direction of one hop."""

    profile: str
    key: bytes
    salt: bytes

    def __post_init__(self) -> None:
        lengths = _KEY_SALT_LENGTHS.get(self.profile)
        if lengths is None:
            raise ValueError(f"unknown SRTP profile {self.profile!r}")
        if (len(self.key), len(self.salt)) != lengths:
            raise ValueError(f"{self.profile} needs a {lengths[0]}-byte key and "
                             f"a {lengths[1]}-byte salt")

    @classmethod
    def generate(cls, profile: str = AEAD_AES_128_GCM) -> SrtpKeying:
        """Fresh random keying from the operating system's CSPRNG."""
        key_len, salt_len = _KEY_SALT_LENGTHS[profile]
        return cls(profile, os.urandom(key_len), os.urandom(salt_len))

    def to_b64(self) -> str:
        """Standard base64 (with padding) of master key || master salt, as sent to clients."""
        return base64.b64encode(self.key + self.salt).decode("ascii")

    @classmethod
    def from_b64(cls, text: str, profile: str = AEAD_AES_128_GCM) -> SrtpKeying:
        """Inverse of :meth:`to_b64` (what a client does with ``client_key``/``router_key``)."""
        key_len, salt_len = _KEY_SALT_LENGTHS[profile]
        raw = base64.b64decode(text, validate=True)
        if len(raw) != key_len + salt_len:
            raise ValueError(f"{profile} keying is {key_len + salt_len} bytes, got {len(raw)}")
        return cls(profile, raw[:key_len], raw[key_len:])


@dataclass(frozen=True, slots=True)
class TransportInfo:
    """What a native client needs to reach the router's media plane (``docs/transport.md``).

    ``client_key`` protects everything the client sends (client→router; the router unprotects
    with it); ``router_key`` protects everything the router sends to this client. ``rtcp_ssrc``
    is the router-chosen sender SSRC of the client's own RTCP. ``extra`` carries anything else a
    transport wants the client to know (e.g. ICE parameters for another transport).
    """

    host: str
    port: int
    client_key: SrtpKeying
    router_key: SrtpKeying
    rtcp_ssrc: int
    protocol: str = "udp/srtp"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.client_key.profile != self.router_key.profile:
            raise ValueError("both directions of a hop use the same SRTP profile")

    def to_json(self) -> dict[str, Any]:
        """As sent in the ``joined`` message: keys are base64 of master key || master salt."""
        return {
            "protocol": self.protocol,
            "host": self.host,
            "port": self.port,
            "profile": self.client_key.profile,
            "client_key": self.client_key.to_b64(),
            "router_key": self.router_key.to_b64(),
            "rtcp_ssrc": self.rtcp_ssrc,
            **dict(self.extra),
        }


@dataclass(frozen=True, slots=True)
class MediaStats:
    """Counters for ``/metrics``: totals since start, plus drops by :class:`DropReason` name."""

    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    srtp_failures: int = 0
    drops: Mapping[str, int] = field(default_factory=dict)
    #: Datagrams read by an optional accelerated (C) forwarding path, by how they were
    #: handled: ``fast`` (forwarded there) and ``slow`` (handed to the Python path). Empty
    #: when no such path runs.
    fast_path: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActiveSpeakerEvent:
    """The media plane's word that ``participant_id`` is now the session's active speaker."""

    session_id: str
    participant_id: str
    stream_id: str
    level: float


EventCallback = Callable[[ActiveSpeakerEvent], None]


@runtime_checkable
class MediaPlane(Protocol):
    """What the control plane needs from a media plane (see the module docstring)."""

    async def start(self) -> None:
        """Bind sockets and start forwarding."""

    async def close(self) -> None:
        """Stop forwarding and release every socket."""

    def set_event_callback(self, callback: EventCallback) -> None:
        """Where to report active-speaker changes."""

    async def add_session(self, session_id: str, *, e2ee: bool) -> None:
        """A routed session was created."""

    async def remove_session(self, session_id: str) -> None:
        """A routed session ended (all its participants were removed before)."""

    async def add_participant(self, session_id: str, participant_id: str) -> TransportInfo:
        """A participant joined: make its hop keys and tell how to reach the router."""

    async def remove_participant(self, session_id: str, participant_id: str) -> None:
        """A participant left: forget its transport and keys."""

    async def add_publication(self, session_id: str, publication: Publication) -> None:
        """The participant now sends these SSRCs (its transport owns them)."""

    async def remove_publication(self, session_id: str, stream_id: str) -> None:
        """The stream ended (its subscriptions were removed before)."""

    async def add_subscription(
        self, session_id: str, subscription_id: str, subscriber_id: str,
        publication: Publication,
    ) -> Mapping[int, int]:
        """Forward ``publication`` to ``subscriber_id``; return publisher→subscriber SSRCs."""

    async def remove_subscription(self, session_id: str, subscription_id: str) -> None:
        """Stop forwarding for this subscription."""

    async def start_recording(
        self, session_id: str, recording_id: str, publications: Sequence[Publication],
        path: Path,
    ) -> None:
        """Record the forwarded RTP of ``publications`` to the pcapng file ``path``."""

    async def stop_recording(self, session_id: str, recording_id: str) -> None:
        """Finish the recording's file."""

    def stats(self) -> MediaStats:
        """Current counters (cheap; called on every ``/metrics`` scrape)."""


@runtime_checkable
class WebRtcMediaPlane(Protocol):
    """What a media plane adds to serve WebRTC participants (``docs/webrtc.md``).

    A participant that joins with ``"transport": "webrtc"`` is added with
    :meth:`MediaPlane.add_participant` like any other; its ``offer`` then goes to
    :meth:`webrtc_offer`, whose answer lists the publications the offer describes (the control
    plane registers them) and the receive slots subscriptions are mapped onto.
    """

    async def webrtc_offer(
        self, session_id: str, participant_id: str, sdp: object
    ) -> WebRtcAnswer:
        """Answer the participant's SDP offer (raise ``invalid_offer`` when impossible)."""

    def subscription_mid(self, session_id: str, subscription_id: str) -> str | None:
        """The mid of the answer's m-line the subscription is delivered on, if any."""


class NullMediaPlane:
    """A media plane that keeps the books and moves no packet.

    It hands out real random SRTP keying and subscriber SSRCs, records every call in
    :attr:`calls` (so tests can check what the control plane asked for), returns
    :attr:`counters` from :meth:`stats`, and lets a test raise an active-speaker event with
    :meth:`announce_speaker`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 40000) -> None:
        self.host = host
        self.port = port
        self.calls: list[tuple[Any, ...]] = []
        self.counters = MediaStats()
        self.participants: dict[tuple[str, str], TransportInfo] = {}
        self.recordings: dict[tuple[str, str], Path] = {}
        self.started = False
        self.closed = False
        self._callback: EventCallback | None = None
        self._used_ssrcs: set[int] = set()

    async def start(self) -> None:
        """Nothing to bind."""
        self.started = True
        self.calls.append(("start",))

    async def close(self) -> None:
        """Nothing to release."""
        self.closed = True
        self.calls.append(("close",))

    def set_event_callback(self, callback: EventCallback) -> None:
        """Remember the callback for :meth:`announce_speaker`."""
        self._callback = callback

    async def add_session(self, session_id: str, *, e2ee: bool) -> None:
        """Record the call."""
        self.calls.append(("add_session", session_id, e2ee))

    async def remove_session(self, session_id: str) -> None:
        """Record the call."""
        self.calls.append(("remove_session", session_id))

    async def add_participant(self, session_id: str, participant_id: str) -> TransportInfo:
        """Fresh keying for both directions of this participant's hop."""
        self.calls.append(("add_participant", session_id, participant_id))
        info = TransportInfo(
            self.host, self.port, SrtpKeying.generate(), SrtpKeying.generate(),
            rtcp_ssrc=self._new_ssrc(),
        )
        self.participants[(session_id, participant_id)] = info
        return info

    async def remove_participant(self, session_id: str, participant_id: str) -> None:
        """Forget the participant's keying."""
        self.calls.append(("remove_participant", session_id, participant_id))
        self.participants.pop((session_id, participant_id), None)

    async def add_publication(self, session_id: str, publication: Publication) -> None:
        """Record the call."""
        self.calls.append(("add_publication", session_id, publication.stream_id))

    async def remove_publication(self, session_id: str, stream_id: str) -> None:
        """Record the call."""
        self.calls.append(("remove_publication", session_id, stream_id))

    async def add_subscription(
        self, session_id: str, subscription_id: str, subscriber_id: str,
        publication: Publication,
    ) -> Mapping[int, int]:
        """Allocate a distinct random SSRC for each publisher SSRC."""
        self.calls.append(("add_subscription", session_id, subscription_id, subscriber_id,
                           publication.stream_id))
        return {ssrc: self._new_ssrc() for ssrc in publication.all_ssrcs}

    def _new_ssrc(self) -> int:
        new = 0
        while new == 0 or new in self._used_ssrcs:
            new = secrets.randbits(32)
        self._used_ssrcs.add(new)
        return new

    async def remove_subscription(self, session_id: str, subscription_id: str) -> None:
        """Record the call."""
        self.calls.append(("remove_subscription", session_id, subscription_id))

    async def start_recording(
        self, session_id: str, recording_id: str, publications: Sequence[Publication],
        path: Path,
    ) -> None:
        """Record the call (no file is written)."""
        self.calls.append(("start_recording", session_id, recording_id,
                           tuple(p.stream_id for p in publications), str(path)))
        self.recordings[(session_id, recording_id)] = path

    async def stop_recording(self, session_id: str, recording_id: str) -> None:
        """Record the call."""
        self.calls.append(("stop_recording", session_id, recording_id))
        self.recordings.pop((session_id, recording_id), None)

    def stats(self) -> MediaStats:
        """The counters a test set in :attr:`counters`."""
        return self.counters

    def announce_speaker(self, event: ActiveSpeakerEvent) -> None:
        """Raise an active-speaker event as a real media plane would."""
        if self._callback is not None:
            self._callback(event)
