"""The asyncio client: signaling WebSocket + one UDP socket around :class:`ClientCore`.

Typical use (the token comes from the application server, which minted it with the router's
HTTP API; the client itself never calls the server API)::

    async with Client("http://127.0.0.1:8780", token) as client:   # connects and joins
        await client.set_encryption_secret("correct horse battery")
        await client.publish("audio")
        await client.publish("video", bitrate=300_000)
        await client.subscribe_all()                                   # what is published now
        await client.run_media(seconds=3.0)                            # bounded send loop
        print(client.stats())

Everything that sends is bounded: :meth:`Client.run_media` by time and frame count, the timer
loop by the client's life, every signaling request by a timeout. ``drop_outgoing`` and
``drop_incoming`` let a test inject loss at the socket (they see each datagram and return True
to drop it).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp

from rtpstack.client.capture_source import CaptureSource
from rtpstack.client.carriage import Carriage
from rtpstack.client.core import ClientCore, ReceivedFrame, TrackConfig, TransportInfo
from rtpstack.client.events import (
    KEYFRAME_REQUESTED,
    PARTICIPANT_LEFT,
    STREAM_CREATED,
    STREAM_DESTROYED,
    ClientEvent,
)
from rtpstack.client.framecrypto import check_secret, prepare_secret
from rtpstack.client.signaling import SignalingChannel, SignalingError
from rtpstack.client.sources import (
    AudioSource,
    FrameSource,
    MediaKind,
    SyntheticFrame,
    VideoSource,
)
from rtpstack.client.stats import ReceiveStats, SendStats
from rtpstack.client.wire import AUDIO_LEVEL_URI, DEFAULT_AUDIO_LEVEL_ID

__all__ = ["Client", "ClientStats", "LocalTrack", "RemoteStream"]

DropHook = Callable[[bytes], bool]
_TICK = 0.02
_MAX_EVENTS = 10_000
_MAX_FRAMES = 100_000
_RCVBUF = 1 << 20
_STATIC_NAMES = {0: "PCMU", 8: "PCMA", 9: "G722"}
_HANDSHAKE_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found",
                    503: "shutting_down"}


@dataclass(slots=True)
class LocalTrack:
    """A track this client publishes."""

    stream_id: str
    kind: MediaKind
    ssrc: int
    source: FrameSource
    next_index: int = 0
    force_keyframe: bool = False
    pending: SyntheticFrame | None = None


@dataclass(slots=True)
class RemoteStream:
    """A stream another participant publishes (from ``stream_created``)."""

    stream_id: str
    participant_id: str
    kind: str
    ssrcs: tuple[int, ...]
    clock_rate: int
    encrypted: bool
    subscription_id: str | None = None
    ssrc_map: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClientStats:
    """Everything a client counted: per received stream, per published track, drops, events."""

    participant_id: str
    received: Mapping[int, ReceiveStats]
    sent: Mapping[str, SendStats]
    drops: Mapping[str, int]
    events: Mapping[str, int]

    def decoded_from(self) -> dict[str, int]:
        """Frames decoded per publisher participant id."""
        out: dict[str, int] = {}
        for st in self.received.values():
            out[st.publisher] = out.get(st.publisher, 0) + st.frames_decoded
        return out

    def failed_from(self) -> dict[str, int]:
        """Frames that failed to decrypt, per publisher participant id."""
        out: dict[str, int] = {}
        for st in self.received.values():
            out[st.publisher] = out.get(st.publisher, 0) + st.frames_failed
        return out


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, client: Client) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.client._on_datagram(data)

    def error_received(self, exc: Exception) -> None:
        self.client._count_drop("socket_error")


class Client:
    """One participant: connect, join, publish, subscribe, send and receive media."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ws_path: str = "/ws",
        nack: bool = True,
        pli: bool = True,
        auto_subscribe: bool = False,
        drop_outgoing: DropHook | None = None,
        drop_incoming: DropHook | None = None,
        request_timeout: float = 5.0,
        max_lifetime: float = 3600.0,
        carriage: Carriage = "sframe",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.ws_path = ws_path
        self.auto_subscribe = auto_subscribe
        self.drop_outgoing = drop_outgoing
        self.drop_incoming = drop_incoming
        self.request_timeout = request_timeout
        self.max_lifetime = max_lifetime
        self._nack = nack
        self._pli = pli
        self.carriage: Carriage = carriage
        """``"codec"`` in sessions with browsers (``docs/browser.md``)."""
        self.participant_id = ""
        self.session_id = ""
        self.e2ee = False
        self.core: ClientCore | None = None
        self.tracks: dict[str, LocalTrack] = {}
        self.remote: dict[str, RemoteStream] = {}
        self.events: list[ClientEvent] = []
        self.frames: list[ReceivedFrame] = []
        self.keep_frames = False
        self.joined: Mapping[str, Any] = {}
        self._http: aiohttp.ClientSession | None = None
        self._chan: SignalingChannel | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._timer: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._t0 = time.monotonic()
        self._client_drops: dict[str, int] = {}
        self._bg: set[asyncio.Task[Any]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    def now(self) -> float:
        """The client's clock: seconds since it was created (monotonic)."""
        return time.monotonic() - self._t0

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the WebSocket with the token, join, open the UDP socket, announce the address."""
        self._http = aiohttp.ClientSession()
        try:
            ws = await self._http.ws_connect(f"{self.base_url}{self.ws_path}",
                                             params={"token": self.token},
                                             timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                                             heartbeat=None)
        except aiohttp.WSServerHandshakeError as exc:
            await self._http.close()
            self._http = None
            code = _HANDSHAKE_CODES.get(exc.status, "handshake_refused")
            raise SignalingError(code, f"the router refused the WebSocket (HTTP {exc.status})",
                                 status=exc.status) from None
        except (aiohttp.ClientError, OSError) as exc:
            await self._http.close()
            self._http = None
            raise SignalingError("unreachable", f"cannot reach the router at {self.base_url}: "
                                 f"{exc}") from None
        self._chan = SignalingChannel(ws, self._on_signal)
        try:
            joined = await self._chan.request("join", timeout=self.request_timeout)
        except SignalingError:
            await self.close()
            raise
        self.joined = joined
        self.participant_id = str(joined.get("participant_id", ""))
        session = joined.get("session", {})
        self.session_id = str(joined.get("session_id") or
                              (session.get("session_id") if isinstance(session, dict) else "")
                              or "")
        self.e2ee = bool(joined.get("e2ee",
                                    session.get("e2ee") if isinstance(session, dict) else False))
        raw_transport = joined.get("transport")
        if not isinstance(raw_transport, dict):
            await self.close()
            raise SignalingError("no_transport", "the router gave no media transport (a relayed "
                                 "session carries no media through the router)")
        try:
            transport = TransportInfo.from_json(raw_transport)
        except ValueError:
            await self.close()
            raise
        index = joined.get("sender_index")
        self.core = ClientCore(transport, session_id=self.session_id,
                               participant_id=self.participant_id, e2ee=self.e2ee,
                               nack=self._nack, pli=self._pli, carriage=self.carriage,
                               sender_index=index if isinstance(index, int) else None)
        loop = asyncio.get_running_loop()
        udp, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=("127.0.0.1", 0),
            remote_addr=(transport.host, transport.port))  # connected: only the router's
        sock = udp.get_extra_info("socket")  # datagrams reach us (the kernel filters the rest)
        if sock is not None:
            with contextlib.suppress(OSError):  # absorb key-frame bursts of many publishers
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        self._udp = udp
        for stream in self._streams_in(joined):
            self._remember_stream(stream)
        self._flush(self.core.tick(self.now()))  # the first RR announces our address
        self._timer = loop.create_task(self._timer_loop())

    async def close(self) -> None:
        """Leave (best effort), close the WebSocket and the socket, stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        for task in list(self._bg):
            task.cancel()
        if self._chan is not None:
            if not self._chan.closed.is_set():
                with contextlib.suppress(Exception):
                    await self._chan.send("leave")
            await self._chan.close()
            self._chan = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- encryption ------------------------------------------------------------------------

    async def set_encryption_secret(self, secret: str) -> None:
        """Set (or change: a new key epoch) the end-to-end encryption secret (8..256 chars).

        The slow key derivation runs in a worker thread, so media keeps flowing meanwhile.
        Raises :class:`rtpstack.e2ee.InvalidSecretError` (a ``ValueError``) at once for a bad
        secret, and ``ValueError`` in a session without end-to-end encryption.
        """
        core = self._require_core()
        if not self.e2ee:
            raise ValueError("this session is not end-to-end encrypted: no secret to set")
        check_secret(secret)
        await asyncio.to_thread(prepare_secret, secret, self.session_id)
        core.set_encryption_secret(secret)

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, kind: MediaKind, *, name: str = "",
                      source: FrameSource | None = None, bitrate: int = 300_000,
                      fps: float = 30.0, codec: Mapping[str, Any] | None = None) -> LocalTrack:
        """Declare a track over signaling and start its send state (frames via run_media).

        ``source`` defaults to a synthetic :class:`AudioSource` or :class:`VideoSource`; a
        :class:`CaptureSource` publishes a captured stream. ``codec`` overrides the declared
        codec (``name``, ``payload_type``, ``clock_rate``, ...).
        """
        core = self._require_core()
        chan = self._require_chan()
        ssrc = secrets.randbits(32) or 1
        src: FrameSource
        if kind == "audio":
            src = source or AudioSource()
            decl: dict[str, Any] = {"name": "opus", "payload_type": 111, "clock_rate": 48_000,
                                    "channels": 2}
            exts = {str(DEFAULT_AUDIO_LEVEL_ID): AUDIO_LEVEL_URI}
        else:
            src = source or VideoSource(bitrate=bitrate, fps=fps)
            decl = {"name": "VP8", "payload_type": 96, "clock_rate": 90_000}
            exts = {}
        if isinstance(src, CaptureSource):
            decl = {"name": _STATIC_NAMES.get(src.payload_type, decl["name"]),
                    "payload_type": src.payload_type, "clock_rate": src.clock_rate}
        decl.update(codec or {})
        track = {"kind": kind, "ssrcs": [ssrc], "codec": decl, "header_extensions": exts,
                 "encrypted": self.e2ee, "name": name or kind}
        answer = await chan.request("publish", timeout=self.request_timeout, track=track)
        stream = answer.get("stream")
        stream_id = str(answer.get("stream_id") or
                        (stream.get("stream_id") if isinstance(stream, dict) else "") or "")
        core.add_track(TrackConfig(stream_id, kind, ssrc, int(decl["payload_type"]),
                                   int(decl["clock_rate"])))
        local = LocalTrack(stream_id, kind, ssrc, src)
        self.tracks[stream_id] = local
        return local

    async def unpublish(self, stream_id: str) -> None:
        """Stop publishing a track."""
        await self._require_chan().request("unpublish", timeout=self.request_timeout,
                                           stream_id=stream_id)
        self._require_core().remove_track(stream_id)
        self.tracks.pop(stream_id, None)

    async def run_media(self, seconds: float, *, max_frames: int | None = None) -> int:
        """Send every local track's frames in real time for ``seconds``; returns frames sent.

        Each frame leaves when its ``due`` time (relative to the first frame of this call)
        comes. Bounded twice: by wall time and by ``max_frames`` (default: what ``seconds``
        holds at each track's frame rate, plus a margin).
        """
        core = self._require_core()
        if not self.tracks:
            return 0
        if max_frames is None:
            max_frames = int(sum(t.source.fps for t in self.tracks.values()) * seconds) + 10
        start = self.now()
        base = {sid: t.source.frame(t.next_index).due for sid, t in self.tracks.items()}
        sent = 0
        while sent < max_frames:
            now = self.now()
            if now - start >= seconds:
                break
            next_due = start + seconds
            for sid, track in list(self.tracks.items()):
                while sent < max_frames:
                    if track.pending is None:
                        track.pending = track.source.frame(
                            track.next_index, force_keyframe=track.force_keyframe)
                        track.force_keyframe = False
                    frame = track.pending
                    due = start + frame.due - base[sid]
                    if due > now:
                        next_due = min(next_due, due)
                        break
                    datagrams = core.send_frame(
                        sid, frame.data, timestamp=frame.timestamp, keyframe=frame.keyframe,
                        audio_level=(frame.voice, frame.audio_level), now=self.now())
                    self._flush(datagrams)
                    track.pending = None
                    track.next_index += 1
                    sent += 1
            await asyncio.sleep(max(0.0, min(next_due - self.now(), 0.05)))
        return sent

    def send_raw(self, datagrams: list[bytes]) -> None:
        """Send already protected datagrams from this client's socket (tools and tests)."""
        self._flush(datagrams)

    # -- subscribing -----------------------------------------------------------------------

    async def subscribe(self, stream_id: str) -> RemoteStream:
        """Subscribe to a stream; returns it with the SSRCs this client will receive."""
        core = self._require_core()
        stream = self.remote.get(stream_id)
        answer = await self._require_chan().request("subscribe", timeout=self.request_timeout,
                                                    stream_id=stream_id)
        sub = answer.get("subscription", answer)
        if stream is None:
            pub = answer.get("stream")
            if isinstance(pub, dict):
                self._remember_stream(pub)
            stream = self.remote.get(stream_id)
        if stream is None:
            raise SignalingError("unknown_stream", f"no description of stream {stream_id!r}")
        raw_map = sub.get("ssrc_map", {}) if isinstance(sub, dict) else {}
        stream.ssrc_map = {int(k): int(v) for k, v in raw_map.items()}
        stream.subscription_id = str(sub.get("subscription_id", "")) if isinstance(sub, dict) \
            else ""
        for media_ssrc in stream.ssrcs:
            local_ssrc = stream.ssrc_map.get(media_ssrc)
            if local_ssrc is not None:
                core.add_subscription(local_ssrc, publisher=stream.participant_id,
                                      kind=stream.kind, clock_rate=stream.clock_rate)
        return stream

    async def unsubscribe(self, stream_id: str) -> None:
        """Stop receiving a stream."""
        stream = self.remote.get(stream_id)
        await self._require_chan().request("unsubscribe", timeout=self.request_timeout,
                                           stream_id=stream_id)
        if stream is not None:
            for ssrc in stream.ssrc_map.values():
                self._require_core().remove_subscription(ssrc)
            stream.ssrc_map = {}
            stream.subscription_id = None

    async def subscribe_all(self) -> list[RemoteStream]:
        """Subscribe to every known stream of other participants not yet subscribed."""
        out = []
        for sid, stream in list(self.remote.items()):
            if stream.participant_id != self.participant_id and stream.subscription_id is None:
                out.append(await self.subscribe(sid))
        return out

    # -- events and stats ------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[Client], bool], timeout: float) -> bool:
        """Wait (bounded) until ``predicate(self)`` holds; False on timeout."""
        deadline = self.now() + timeout
        while not predicate(self):
            left = deadline - self.now()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.1))
        return True

    async def wait_event(self, type_: str, timeout: float,
                         predicate: Callable[[ClientEvent], bool] | None = None
                         ) -> ClientEvent | None:
        """The first event of ``type_`` (matching ``predicate``), waiting at most ``timeout``."""
        found: list[ClientEvent] = []

        def check(c: Client) -> bool:
            for ev in c.events:
                if ev.type == type_ and (predicate is None or predicate(ev)):
                    found.append(ev)
                    return True
            return False

        await self.wait_for(check, timeout)
        return found[0] if found else None

    def events_of(self, type_: str) -> list[ClientEvent]:
        """Every event of ``type_`` so far."""
        return [e for e in self.events if e.type == type_]

    def stats(self) -> ClientStats:
        """A snapshot of every counter."""
        core = self._require_core()
        counts: dict[str, int] = {}
        for ev in self.events:
            counts[ev.type] = counts.get(ev.type, 0) + 1
        drops = dict(core.drops)
        for k, v in self._client_drops.items():
            drops[k] = drops.get(k, 0) + v
        return ClientStats(self.participant_id, core.receive_stats(), core.send_stats(),
                           drops, counts)

    # -- internals -------------------------------------------------------------------------

    def _require_core(self) -> ClientCore:
        if self.core is None:
            raise RuntimeError("the client is not connected (call connect() first)")
        return self.core

    def _require_chan(self) -> SignalingChannel:
        if self._chan is None:
            raise RuntimeError("the client is not connected (call connect() first)")
        return self._chan

    def _count_drop(self, reason: str) -> None:
        self._client_drops[reason] = self._client_drops.get(reason, 0) + 1

    def _flush(self, datagrams: list[bytes]) -> None:
        if self._udp is None:
            return
        for d in datagrams:
            if self.drop_outgoing is not None and self.drop_outgoing(d):
                self._count_drop("injected_outgoing")
                continue
            self._udp.sendto(d)

    def _on_datagram(self, data: bytes) -> None:
        if self.drop_incoming is not None and self.drop_incoming(data):
            self._count_drop("injected_incoming")
            return
        core = self.core
        if core is None:
            return
        self._flush(core.receive(data, self.now()))
        self._collect()

    def _collect(self) -> None:
        core = self.core
        if core is None:
            return
        for ev in core.pop_events():
            self._add_event(ev)
            if ev.type == KEYFRAME_REQUESTED:
                track = self.tracks.get(str(ev.get("track_id")))
                if track is not None:
                    track.force_keyframe = True
        frames = core.pop_frames()
        if self.keep_frames and len(self.frames) < _MAX_FRAMES:
            self.frames.extend(frames[: _MAX_FRAMES - len(self.frames)])
        self._changed.set()

    def _add_event(self, ev: ClientEvent) -> None:
        if len(self.events) < _MAX_EVENTS:
            self.events.append(ev)
        self._changed.set()

    async def _timer_loop(self) -> None:
        # bounded: at most max_lifetime seconds of ticks (RRs, NACKs, PLIs), then silence
        for _ in range(int(self.max_lifetime / _TICK) + 1):
            core = self.core
            if core is not None:
                self._flush(core.tick(self.now(), time.time()))
                self._collect()
            await asyncio.sleep(_TICK)

    @staticmethod
    def _streams_in(msg: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        streams = msg.get("streams")
        if isinstance(streams, list):
            return [s for s in streams if isinstance(s, dict)]
        session = msg.get("session")
        if isinstance(session, dict) and isinstance(session.get("streams"), list):
            return [s for s in session["streams"] if isinstance(s, dict)]
        return []

    def _remember_stream(self, pub: Mapping[str, Any]) -> RemoteStream | None:
        try:
            codec = pub.get("codec", {})
            stream = RemoteStream(
                stream_id=str(pub["stream_id"]),
                participant_id=str(pub.get("participant_id", "")),
                kind=str(pub.get("kind", "")),
                ssrcs=tuple(int(s) for s in pub.get("ssrcs", ())),
                clock_rate=int(codec.get("clock_rate", 90_000)) if isinstance(codec, dict)
                else 90_000,
                encrypted=bool(pub.get("encrypted", False)),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if stream.stream_id in self.remote:
            return self.remote[stream.stream_id]
        self.remote[stream.stream_id] = stream
        return stream

    def _on_signal(self, msg: Mapping[str, Any]) -> None:
        type_ = str(msg.get("type", ""))
        data = {k: v for k, v in msg.items() if k != "type"}
        self._add_event(ClientEvent(type_, data, self.now()))
        if type_ == STREAM_CREATED:
            pub = msg.get("stream", msg)
            if isinstance(pub, dict):
                stream = self._remember_stream(pub)
                if (stream is not None and self.auto_subscribe
                        and stream.participant_id != self.participant_id):
                    task = asyncio.get_running_loop().create_task(self._auto(stream.stream_id))
                    self._bg.add(task)
                    task.add_done_callback(self._bg.discard)
        elif type_ == STREAM_DESTROYED:
            sid = str(msg.get("stream_id", ""))
            stream = self.remote.pop(sid, None)
            if stream is not None and self.core is not None:
                for ssrc in stream.ssrc_map.values():
                    self.core.remove_subscription(ssrc)
        elif type_ == PARTICIPANT_LEFT:
            pid = str(msg.get("participant_id", ""))
            for sid in [s for s, st in self.remote.items() if st.participant_id == pid]:
                self.remote.pop(sid, None)

    async def _auto(self, stream_id: str) -> None:
        with contextlib.suppress(SignalingError):
            await self.subscribe(stream_id)
