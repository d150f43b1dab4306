"""WebSocket signaling: one socket per participant, JSON messages, events to the others.

A client connects to ``/ws?token=<client token>`` (optionally ``&session=<id>``, which must
match the token). The token is checked before the upgrade: a bad one gets an HTTP 401 JSON
error and no socket. On the socket, the first message must be ``join``; then ``publish``,
``unpublish``, ``subscribe``, ``unsubscribe``, ``leave``, ``ping``, a moderator's
``disconnect``, and in relayed sessions ``offer`` / ``answer`` / ``candidate`` (passed to the
peer named in ``to``). A message may carry an ``id`` that the answer (or error) echoes.

Events reach the other participants of the session: ``participant_joined``,
``participant_left``, ``stream_created``, ``stream_destroyed``, ``active_speaker``; the router
also sends ``disconnected`` (with a reason) before it closes a socket itself. Anything
malformed or out of order is answered with ``{"type": "error", "error": code, "message": ...}``
and the socket stays open. ``docs/router.md`` has every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSCloseCode, WSMsgType, web

from router.auth import ApiCredentials, Role, verify_client_token
from router.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    MediaPlaneError,
    NotFound,
    NotSupported,
    RouterError,
    Unauthorized,
)
from router.logs import log_event
from router.mediaplane import ActiveSpeakerEvent, MediaPlane, WebRtcMediaPlane
from router.sessions import MediaMode, Publication, Session, SessionRegistry

__all__ = ["MAX_MESSAGE_SIZE", "SEND_QUEUE_LIMIT", "Connection", "SignalingHub"]

log = logging.getLogger("router.signaling")

#: Largest accepted WebSocket message, in bytes.
MAX_MESSAGE_SIZE = 64 * 1024
#: Messages queued for one slow client before the router disconnects it.
SEND_QUEUE_LIMIT = 1024
#: Close codes the router uses (4000-4999 are for applications).
CLOSE_LEFT = WSCloseCode.OK
CLOSE_SHUTDOWN = WSCloseCode.GOING_AWAY
CLOSE_REMOVED = 4003
CLOSE_SESSION_ENDED = 4004
CLOSE_SLOW = 4008

T = TypeVar("T")


@dataclass(eq=False)
class Connection:
    """One participant's socket, and the queue that feeds it."""

    session_id: str
    participant_id: str
    role: Role
    data: str
    ws: web.WebSocketResponse
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(SEND_QUEUE_LIMIT)
    )
    joined: bool = False
    #: Joined with ``"transport": "webrtc"`` (ICE-lite + DTLS-SRTP, SDP offer/answer).
    webrtc: bool = False
    answered: bool = False
    closing: bool = False
    close_code: int = CLOSE_LEFT
    writer: asyncio.Task[None] | None = None

    def send(self, message: dict[str, Any]) -> bool:
        """Queue a message; False when the client is too slow (queue full) or closing."""
        if self.closing:
            return False
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True

    def close(self, code: int) -> None:
        """Flush what is queued, then close the socket with ``code``."""
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        while True:
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()  # a slow client loses its backlog, not the close


def _error(exc: RouterError, req_id: object = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "error", **exc.to_json()}
    if req_id is not None:
        msg["id"] = req_id
    return msg


class SignalingHub:
    """Every participant socket of one router, and the participant lifecycle.

    The HTTP API calls :meth:`disconnect` (force-disconnect) and :meth:`end_session` (delete);
    the app calls :meth:`shutdown` on SIGTERM. ``clock`` gives seconds since the epoch.
    """

    def __init__(
        self,
        registry: SessionRegistry,
        media: MediaPlane,
        creds: ApiCredentials,
        *,
        clock_skew: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.media = media
        self.creds = creds
        self.clock_skew = clock_skew
        self.clock = clock
        self.connections: dict[tuple[str, str], Connection] = {}
        self.draining = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers: dict[str, Callable[[Connection, dict[str, Any]], Awaitable[None]]] = {
            "join": self._on_join,
            "publish": self._on_publish,
            "unpublish": self._on_unpublish,
            "subscribe": self._on_subscribe,
            "unsubscribe": self._on_unsubscribe,
            "leave": self._on_leave,
            "ping": self._on_ping,
            "disconnect": self._on_disconnect,
            "offer": self._on_relay,
            "answer": self._on_relay,
            "candidate": self._on_relay,
        }
        media.set_event_callback(self.on_active_speaker)

    # --- the HTTP endpoint -----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /ws?token=...``: check the token, upgrade, and serve the socket."""
        if self.draining:
            return web.json_response(
                {"error": "shutting_down", "message": "the router is shutting down"}, status=503
            )
        token = request.query.get("token")
        try:
            if not token:
                raise Unauthorized("a client token is required: /ws?token=...",
                                   code="missing_token")
            claims = verify_client_token(
                token, self.creds, self.clock(), self.clock_skew,
                session_id=request.query.get("session"),
            )
            self.registry.get(claims.session_id)
        except RouterError as exc:
            log_event(log, logging.INFO, "websocket refused", error=exc.code)
            return web.json_response(exc.to_json(), status=exc.status)
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_MESSAGE_SIZE)
        await ws.prepare(request)
        conn = Connection(claims.session_id, claims.participant_id, claims.role, claims.data, ws)
        conn.writer = asyncio.create_task(self._write(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._dispatch(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    conn.send(_error(BadRequest("binary messages are not accepted; send JSON text",
                                                code="malformed")))
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            await self._remove(conn, "disconnected")
            conn.close(conn.close_code)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(conn.writer), 5.0)
            if not ws.closed:
                await ws.close()
        return ws

    async def _write(self, conn: Connection) -> None:
        """Send queued messages in order; close the socket when told to."""
        try:
            while True:
                msg = await conn.queue.get()
                if msg is None:
                    break
                await conn.ws.send_str(json.dumps(msg))
        except (ConnectionError, RuntimeError):
            pass  # the client went away; the reader side cleans up
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.close(code=conn.close_code)

    # --- dispatch ------------------------------------------------------------------------

    async def _dispatch(self, conn: Connection, text: str) -> None:
        req_id: object = None
        try:
            try:
                msg = json.loads(text)
            except ValueError:
                raise BadRequest("message is not valid JSON", code="malformed") from None
            if not isinstance(msg, dict):
                raise BadRequest("message must be a JSON object", code="malformed")
            req_id = msg.get("id")
            if not (req_id is None or isinstance(req_id, str | int)) or isinstance(req_id, bool):
                req_id = None
                raise BadRequest("id must be a string or an integer", code="malformed")
            kind = msg.get("type")
            if not isinstance(kind, str):
                raise BadRequest("message has no 'type'", code="malformed")
            handler = self._handlers.get(kind)
            if handler is None:
                raise BadRequest(f"unknown message type {kind!r}", code="unknown_type")
            if not conn.joined and kind != "join":
                raise Conflict(f"'{kind}' before 'join': send join first", code="not_joined")
            await handler(conn, msg)
        except RouterError as exc:
            conn.send(_error(exc, req_id))
        except Exception:
            log.exception("signaling handler failed")
            conn.send(_error(RouterError("internal error; see the router log",
                                         code="internal_error"), req_id))

    def _reply(self, conn: Connection, msg: dict[str, Any], reply: dict[str, Any]) -> None:
        if msg.get("id") is not None:
            reply["id"] = msg["id"]
        if not conn.send(reply):
            self._slow(conn)

    def _broadcast(self, session_id: str, event: dict[str, Any], exclude: str | None) -> None:
        for (sid, pid), conn in list(self.connections.items()):
            if sid == session_id and pid != exclude and conn.joined and not conn.send(event):
                self._slow(conn)

    def _slow(self, conn: Connection) -> None:
        if conn.closing:
            return
        log_event(log, logging.WARNING, "client too slow; disconnecting",
                  session=conn.session_id, participant=conn.participant_id)
        self._spawn(self._remove(conn, "slow_consumer"))
        conn.close(CLOSE_SLOW)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def media_call(self, call: Awaitable[T]) -> T:
        """Await a media-plane call; unexplained failures become ``media_plane_error``."""
        try:
            return await call
        except RouterError:
            raise
        except Exception as exc:
            log.exception("media plane call failed")
            raise MediaPlaneError(f"the media plane failed: {type(exc).__name__}") from exc

    def _session(self, conn: Connection) -> Session:
        return self.registry.get(conn.session_id)

    # --- handlers ------------------------------------------------------------------------

    async def _on_join(self, conn: Connection, msg: dict[str, Any]) -> None:
        if conn.joined:
            raise Conflict("already joined", code="already_joined")
        if "session_id" in msg and msg["session_id"] != conn.session_id:
            raise Unauthorized(
                f"token was minted for session {conn.session_id!r}, not {msg['session_id']!r}",
                code="wrong_session",
            )
        key = (conn.session_id, conn.participant_id)
        if key in self.connections:
            raise Conflict(f"participant {conn.participant_id!r} is already connected",
                           code="already_joined")
        session = self._session(conn)
        kind = msg.get("transport", "udp")
        if kind not in ("udp", "webrtc"):
            raise BadRequest("transport must be 'udp' (native) or 'webrtc'",
                             code="invalid_request")
        if kind == "webrtc" and session.media_mode is MediaMode.ROUTED and not isinstance(
            self.media, WebRtcMediaPlane
        ):
            raise NotSupported("this router's media plane does not serve WebRTC clients",
                               code="webrtc_unsupported")
        conn.webrtc = kind == "webrtc"
        participant = self.registry.join(
            conn.session_id, conn.participant_id, conn.role, data=conn.data, now=self.clock()
        )
        self.connections[key] = conn
        transport: dict[str, Any] | None = None
        if session.media_mode is MediaMode.ROUTED:
            try:
                info = await self.media_call(
                    self.media.add_participant(conn.session_id, conn.participant_id)
                )
            except RouterError:
                del self.connections[key]
                with contextlib.suppress(RouterError):
                    self.registry.leave(conn.session_id, conn.participant_id)
                raise
            if self.registry.sessions.get(conn.session_id) is not session:
                # the session was deleted while the media plane was setting up
                self.connections.pop(key, None)
                await self._media_quiet(
                    self.media.remove_participant(conn.session_id, conn.participant_id))
                raise NotFound(f"no session {conn.session_id!r}", code="session_not_found")
            participant.rtcp_ssrc = info.rtcp_ssrc
            transport = info.to_json()
            if conn.webrtc:
                # Keys come from DTLS; the host and port are in the answer's candidate too.
                transport = {"protocol": "webrtc", "host": info.host, "port": info.port,
                             "ice_lite": True}
        conn.joined = True
        others = [p for p in session.participants.values() if p is not participant]
        self._reply(conn, msg, {
            "type": "joined",
            "session_id": session.session_id,
            "participant_id": participant.participant_id,
            "role": participant.role.value,
            "sender_index": participant.sender_index,
            "media_mode": session.media_mode.value,
            "e2ee": session.e2ee,
            "transport": transport,
            "participants": [p.to_json() for p in others],
            "streams": [pub.to_json() for p in others for pub in p.publications.values()],
        })
        self._broadcast(conn.session_id,
                        {"type": "participant_joined", "participant": participant.to_json()},
                        exclude=conn.participant_id)
        log_event(log, logging.INFO, "participant joined", session=conn.session_id,
                  participant=conn.participant_id, role=conn.role.value)

    async def _on_publish(self, conn: Connection, msg: dict[str, Any]) -> None:
        pub = self.registry.publish(conn.session_id, conn.participant_id, msg.get("track"))
        try:
            await self.media_call(self.media.add_publication(conn.session_id, pub))
        except RouterError:
            with contextlib.suppress(RouterError):
                self.registry.unpublish(conn.session_id, conn.participant_id, pub.stream_id)
            raise
        self._reply(conn, msg, {"type": "published", "stream": pub.to_json()})
        self._broadcast(conn.session_id, {"type": "stream_created", "stream": pub.to_json()},
                        exclude=conn.participant_id)

    async def _on_unpublish(self, conn: Connection, msg: dict[str, Any]) -> None:
        pub, ended = self.registry.unpublish(conn.session_id, conn.participant_id,
                                             msg.get("stream_id"))
        for sub in ended:
            await self._media_quiet(self.media.remove_subscription(conn.session_id,
                                                                   sub.subscription_id))
        await self._media_quiet(self.media.remove_publication(conn.session_id, pub.stream_id))
        self._reply(conn, msg, {"type": "unpublished", "stream_id": pub.stream_id})
        self._broadcast(conn.session_id, {"type": "stream_destroyed",
                                          "stream_id": pub.stream_id,
                                          "participant_id": conn.participant_id},
                        exclude=conn.participant_id)

    async def _on_subscribe(self, conn: Connection, msg: dict[str, Any]) -> None:
        stream_id = msg.get("stream_id")
        pub = self.registry.check_subscribe(conn.session_id, conn.participant_id, stream_id)
        sub_id = self.registry.new_subscription_id()
        ssrc_map = await self.media_call(self.media.add_subscription(
            conn.session_id, sub_id, conn.participant_id, pub))
        try:
            sub = self.registry.subscribe(conn.session_id, conn.participant_id, stream_id,
                                          subscription_id=sub_id, ssrc_map=ssrc_map)
        except RouterError:  # the stream or the participant went away meanwhile
            await self._media_quiet(self.media.remove_subscription(conn.session_id, sub_id))
            raise
        self._reply(conn, msg, {
            "type": "subscribed",
            "subscription_id": sub.subscription_id,
            "stream_id": pub.stream_id,
            "ssrc": ssrc_map.get(pub.ssrcs[0]),
            "ssrc_map": {str(a): b for a, b in sub.ssrc_map},
            "stream": pub.to_json(),
            **self._mid_of(conn, sub.subscription_id),
        })

    def _mid_of(self, conn: Connection, subscription_id: str) -> dict[str, Any]:
        """``{"mid": ...}`` for a WebRTC subscriber: the answer's m-line it arrives on."""
        if not conn.webrtc or not isinstance(self.media, WebRtcMediaPlane):
            return {}
        mid = self.media.subscription_mid(conn.session_id, subscription_id)
        return {} if mid is None else {"mid": mid}

    async def _on_unsubscribe(self, conn: Connection, msg: dict[str, Any]) -> None:
        sub_id = msg.get("subscription_id")
        if sub_id is None and "stream_id" in msg:
            participant = self.registry.participant(conn.session_id, conn.participant_id)
            sub_id = next((s.subscription_id for s in participant.subscriptions.values()
                           if s.stream_id == msg["stream_id"]), "")
        sub = self.registry.unsubscribe(conn.session_id, conn.participant_id, sub_id)
        await self._media_quiet(self.media.remove_subscription(conn.session_id,
                                                               sub.subscription_id))
        self._reply(conn, msg, {"type": "unsubscribed", "subscription_id": sub.subscription_id,
                                "stream_id": sub.stream_id})

    async def _on_leave(self, conn: Connection, msg: dict[str, Any]) -> None:
        await self._remove(conn, "left")
        self._reply(conn, msg, {"type": "left"})
        conn.close(CLOSE_LEFT)

    async def _on_ping(self, conn: Connection, msg: dict[str, Any]) -> None:
        self._reply(conn, msg, {"type": "pong"})

    async def _on_disconnect(self, conn: Connection, msg: dict[str, Any]) -> None:
        if conn.role is not Role.MODERATOR:
            raise Forbidden("only a moderator can disconnect participants", code="forbidden")
        target = msg.get("participant_id")
        if not isinstance(target, str):
            raise BadRequest("participant_id must be a string", code="invalid_request")
        await self.disconnect(conn.session_id, target, "removed_by_moderator")
        self._reply(conn, msg, {"type": "disconnected_participant", "participant_id": target})

    async def _on_relay(self, conn: Connection, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        routed = self._session(conn).media_mode is MediaMode.ROUTED
        if routed and conn.webrtc and kind == "offer":
            await self._on_webrtc_offer(conn, msg)
            return
        if routed and conn.webrtc and kind == "candidate":
            return  # ICE-lite learns the client's addresses from its checks
        if routed:
            raise Conflict(f"'{kind}' is only relayed in relayed sessions; this one is routed",
                           code="routed_session")
        target = msg.get("to")
        if not isinstance(target, str):
            raise BadRequest(f"'{kind}' needs 'to': the participant id of the peer",
                             code="invalid_request")
        peer = self.connections.get((conn.session_id, target))
        if peer is None or not peer.joined:
            raise NotFound(f"participant {target!r} is not connected",
                           code="participant_not_found")
        forwarded = {k: v for k, v in msg.items() if k not in ("to", "id")}
        forwarded["from"] = conn.participant_id
        if not peer.send(forwarded):
            self._slow(peer)

    async def _on_webrtc_offer(self, conn: Connection, msg: dict[str, Any]) -> None:
        """A WebRTC client's offer: answer it, publish its sending m-lines (docs/webrtc.md)."""
        if conn.answered:
            raise Conflict("renegotiation is not supported: leave and join again to change "
                           "tracks", code="renegotiation_unsupported")
        encrypted = msg.get("encrypted", False)
        if not isinstance(encrypted, bool):
            raise BadRequest("encrypted must be true or false", code="invalid_request")
        media = self.media
        assert isinstance(media, WebRtcMediaPlane)
        answer = await self.media_call(
            media.webrtc_offer(conn.session_id, conn.participant_id, msg.get("sdp")))
        published: list[tuple[str, Publication]] = []
        try:
            for section in answer.sends:
                pub = self.registry.publish(conn.session_id, conn.participant_id,
                                            section.to_track(encrypted=encrypted))
                try:
                    await self.media_call(self.media.add_publication(conn.session_id, pub))
                except RouterError:
                    with contextlib.suppress(RouterError):
                        self.registry.unpublish(conn.session_id, conn.participant_id,
                                                pub.stream_id)
                    raise
                published.append((section.mid, pub))
        except RouterError:
            for _, pub in published:
                with contextlib.suppress(RouterError):
                    self.registry.unpublish(conn.session_id, conn.participant_id,
                                            pub.stream_id)
                await self._media_quiet(self.media.remove_publication(conn.session_id,
                                                                      pub.stream_id))
            raise
        conn.answered = True
        self._reply(conn, msg, {
            "type": "answer",
            "sdp": answer.sdp,
            "streams": [{**pub.to_json(), "mid": mid} for mid, pub in published],
            "slots": [slot.to_json() for slot in answer.slots],
            "rejected": [{"mid": mid, "reason": why} for mid, why in answer.rejected],
        })
        for _, pub in published:
            self._broadcast(conn.session_id, {"type": "stream_created", "stream": pub.to_json()},
                            exclude=conn.participant_id)

    # --- lifecycle -----------------------------------------------------------------------

    async def _media_quiet(self, call: Awaitable[Any]) -> None:
        """A removal the control plane goes through with even if the media plane fails."""
        try:
            await call
        except Exception:
            log.exception("media plane removal failed")

    async def _remove(self, conn: Connection, reason: str) -> None:
        """Take a participant out of its session (idempotent) and tell the others."""
        if not conn.joined:
            return
        conn.joined = False
        self.connections.pop((conn.session_id, conn.participant_id), None)
        session = self.registry.sessions.get(conn.session_id)
        if session is None or conn.participant_id not in session.participants:
            return
        participant, pubs, ended = self.registry.leave(conn.session_id, conn.participant_id)
        if session.media_mode is MediaMode.ROUTED:
            for sub in [*participant.subscriptions.values(), *ended]:
                await self._media_quiet(self.media.remove_subscription(conn.session_id,
                                                                       sub.subscription_id))
            for pub in pubs:
                await self._media_quiet(self.media.remove_publication(conn.session_id,
                                                                      pub.stream_id))
            await self._media_quiet(self.media.remove_participant(conn.session_id,
                                                                  conn.participant_id))
        for pub in pubs:
            self._broadcast(conn.session_id, {"type": "stream_destroyed",
                                              "stream_id": pub.stream_id,
                                              "participant_id": conn.participant_id},
                            exclude=conn.participant_id)
        self._broadcast(conn.session_id, {"type": "participant_left",
                                          "participant_id": conn.participant_id,
                                          "reason": reason},
                        exclude=conn.participant_id)
        log_event(log, logging.INFO, "participant left", session=conn.session_id,
                  participant=conn.participant_id, reason=reason)

    async def disconnect(self, session_id: str, participant_id: str, reason: str) -> None:
        """Force a participant out: tell it why, remove it, close its socket."""
        self.registry.get(session_id)
        conn = self.connections.get((session_id, participant_id))
        if conn is None:
            raise NotFound(
                f"participant {participant_id!r} is not connected to session {session_id!r}",
                code="participant_not_found",
            )
        await self._kick(conn, reason, CLOSE_REMOVED)

    async def _kick(self, conn: Connection, reason: str, code: int) -> None:
        conn.send({"type": "disconnected", "reason": reason})
        await self._remove(conn, reason)
        conn.close(code)

    async def end_session(self, session_id: str) -> Session:
        """Delete a session: forget it (so nobody joins it any more), disconnect everyone in
        it, then take its state out of the media plane."""
        session = self.registry.delete_session(session_id)
        mid_join: set[str] = set()  # their join removes them from the media plane itself
        for (sid, _), conn in list(self.connections.items()):
            if sid == session_id:
                if not conn.joined:
                    mid_join.add(conn.participant_id)
                conn.send({"type": "disconnected", "reason": "session_deleted"})
                conn.joined = False
                del self.connections[(sid, conn.participant_id)]
                conn.close(CLOSE_SESSION_ENDED)
        if session.media_mode is MediaMode.ROUTED:
            for archive in session.archives.values():
                if archive.active:
                    archive.stopped_at = self.clock()
                    await self._media_quiet(self.media.stop_recording(session_id,
                                                                      archive.archive_id))
            participants = [p for p in session.participants.values()
                            if p.participant_id not in mid_join]
            for p in participants:
                for sub in p.subscriptions.values():
                    await self._media_quiet(self.media.remove_subscription(session_id,
                                                                           sub.subscription_id))
            for p in participants:
                for pub in p.publications.values():
                    await self._media_quiet(self.media.remove_publication(session_id,
                                                                          pub.stream_id))
            for p in participants:
                await self._media_quiet(self.media.remove_participant(session_id,
                                                                      p.participant_id))
            await self._media_quiet(self.media.remove_session(session_id))
        log_event(log, logging.INFO, "session ended", session=session_id,
                  participants=len(session.participants))
        return session

    async def shutdown(self, timeout: float) -> None:
        """Refuse new sockets, tell every client the router is going away, close all."""
        self.draining = True
        conns = list(self.connections.values())
        for conn in conns:
            await self._kick(conn, "shutdown", CLOSE_SHUTDOWN)
        writers = [c.writer for c in conns if c.writer is not None]
        if writers:
            await asyncio.wait(writers, timeout=timeout)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    def on_active_speaker(self, event: ActiveSpeakerEvent) -> None:
        """Media-plane callback: announce the session's active speaker to everyone in it."""
        if event.session_id not in self.registry.sessions:
            return
        self._broadcast(event.session_id, {
            "type": "active_speaker",
            "participant_id": event.participant_id,
            "stream_id": event.stream_id,
            "level": event.level,
        }, exclude=None)
