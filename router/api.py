"""The server HTTP API (``/v1``): sessions, client tokens, force-disconnect, archives.

Every ``/v1`` request carries ``Authorization: Bearer <JWT>`` signed with the project's API
secret (see :mod:`router.auth`). Answers are JSON; errors are
``{"error": code, "message": text}`` with a fitting HTTP status. ``docs/router.md`` lists every
route with examples.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from router.auth import ApiCredentials, Role, mint_client_token, verify_api_token
from router.config import RouterConfig
from router.errors import BadRequest, Conflict, InternalError, RouterError, Unauthorized
from router.logs import log_event
from router.mediaplane import MediaPlane
from router.sessions import MediaMode, SessionRegistry, check_id
from router.signaling import SignalingHub

__all__ = ["ApiHandlers", "add_api_routes", "error_middleware"]

log = logging.getLogger("router.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error_response(exc: RouterError) -> web.Response:
    return web.json_response(exc.to_json(), status=exc.status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every refusal, unknown route and unexpected failure with a JSON error."""
    try:
        return await handler(request)
    except RouterError as exc:
        return _error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return web.json_response({"error": code, "message": exc.reason}, status=exc.status)
    except Exception:
        log.exception("request failed", extra={"fields": {"path": request.path}})
        return web.json_response(
            {"error": "internal_error", "message": "internal error; see the router log"},
            status=500,
        )


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json(loads=json.loads)
    except ValueError:
        raise BadRequest("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_json")
    return body


class ApiHandlers:
    """The ``/v1`` route handlers over one registry, media plane and signaling hub."""

    def __init__(
        self,
        config: RouterConfig,
        registry: SessionRegistry,
        media: MediaPlane,
        hub: SignalingHub,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.registry = registry
        self.media = media
        self.hub = hub
        self.clock = clock
        self.creds = ApiCredentials(config.api_key, config.api_secret)

    @web.middleware
    async def auth_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Require a valid server API token on ``/v1`` routes."""
        if request.path.startswith("/v1/") or request.path == "/v1":
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("send 'Authorization: Bearer <JWT signed with the API secret>'",
                                   code="missing_token")
            verify_api_token(token.strip(), self.creds, self.clock(), self.config.clock_skew)
        return await handler(request)

    # sessions
    async def create_session(self, request: web.Request) -> web.Response:
        """``POST /v1/sessions`` ``{"media_mode", "e2ee", "session_id"?}`` → 201 session."""
        body = await _json_body(request)
        session = self.registry.create_session(
            now=self.clock(),
            media_mode=body.get("media_mode", "routed"),
            e2ee=body.get("e2ee"),
            session_id=body.get("session_id"),
        )
        if session.media_mode is MediaMode.ROUTED:
            try:
                await self.hub.media_call(self.media.add_session(session.session_id,
                                                             e2ee=session.e2ee))
            except RouterError:
                self.registry.delete_session(session.session_id)
                raise
        log_event(log, logging.INFO, "session created", session=session.session_id,
                  media_mode=session.media_mode.value, e2ee=session.e2ee)
        return web.json_response(session.to_json(), status=201)

    async def list_sessions(self, request: web.Request) -> web.Response:
        """``GET /v1/sessions`` → ``{"sessions": [...]}``."""
        return web.json_response(
            {"sessions": [s.to_json() for s in self.registry.sessions.values()]}
        )

    async def get_session(self, request: web.Request) -> web.Response:
        """``GET /v1/sessions/{id}`` → the session."""
        return web.json_response(self.registry.get(request.match_info["sid"]).to_json())

    async def delete_session(self, request: web.Request) -> web.Response:
        """``DELETE /v1/sessions/{id}``: disconnect everyone, stop archives → 204."""
        session = await self.hub.end_session(request.match_info["sid"])
        log_event(log, logging.INFO, "session deleted", session=session.session_id)
        return web.Response(status=204)

    # tokens and participants
    async def create_token(self, request: web.Request) -> web.Response:
        """``POST /v1/sessions/{id}/tokens`` ``{"role", "participant_id"?, "ttl"?, "data"?}``."""
        session = self.registry.get(request.match_info["sid"])
        body = await _json_body(request)
        role = body.get("role", "publisher")
        if role not in {r.value for r in Role}:
            raise BadRequest("role must be 'publisher', 'subscriber' or 'moderator'",
                             code="invalid_request")
        pid = body.get("participant_id")
        pid = check_id(pid, "participant_id") if pid is not None else None
        ttl = body.get("ttl", self.config.token_ttl)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not (
            1 <= ttl <= self.config.max_token_ttl
        ):
            raise BadRequest(f"ttl must be an integer from 1 to {self.config.max_token_ttl}",
                             code="invalid_request")
        data = body.get("data", "")
        if not isinstance(data, str):
            raise BadRequest("data must be a string", code="invalid_request")
        try:
            token, claims = mint_client_token(
                self.creds, session_id=session.session_id,
                participant_id=pid or self.registry.new_participant_id(),
                role=Role(role), now=self.clock(), ttl=ttl, data=data,
            )
        except ValueError as exc:
            raise BadRequest(str(exc), code="invalid_request") from None
        scheme = "wss" if request.secure else "ws"
        return web.json_response({
            "token": token,
            "session_id": claims.session_id,
            "participant_id": claims.participant_id,
            "role": claims.role.value,
            "expires_at": claims.expires_at,
            "ws_url": f"{scheme}://{request.host}/ws?token={token}",
        }, status=201)

    async def disconnect_participant(self, request: web.Request) -> web.Response:
        """``DELETE /v1/sessions/{id}/participants/{pid}``: force-disconnect → 204."""
        await self.hub.disconnect(request.match_info["sid"], request.match_info["pid"],
                                  "force_disconnect")
        return web.Response(status=204)

    # archives, broadcast, SIP
    async def start_archive(self, request: web.Request) -> web.Response:
        """``POST /v1/sessions/{id}/archives`` ``{"streams"?: [...]}`` → 201 archive."""
        sid = request.match_info["sid"]
        body = await _json_body(request)
        pubs = self.registry.check_archive(sid, body.get("streams"))
        archive_id = self.registry.new_archive_id()
        folder = Path(self.config.archive_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InternalError(f"archive folder is not writable: {exc.strerror}",
                                code="archive_dir_unavailable") from None
        path = folder / f"{sid}-{archive_id}.pcapng"
        await self.hub.media_call(self.media.start_recording(sid, archive_id, pubs, path))
        archive = self.registry.add_archive(sid, archive_id, pubs, str(path), self.clock())
        log_event(log, logging.INFO, "archive started", session=sid, archive=archive_id,
                  streams=",".join(archive.stream_ids))
        return web.json_response(archive.to_json(), status=201)

    async def stop_archive(self, request: web.Request) -> web.Response:
        """``POST /v1/sessions/{id}/archives/{aid}/stop`` → the stopped archive."""
        sid, aid = request.match_info["sid"], request.match_info["aid"]
        archive = self.registry.archive(sid, aid)
        if not archive.active:
            raise Conflict(f"archive {aid!r} is already stopped", code="archive_stopped")
        await self.hub.media_call(self.media.stop_recording(sid, aid))
        archive.stopped_at = self.clock()
        return web.json_response(archive.to_json())

    async def get_archive(self, request: web.Request) -> web.Response:
        """``GET /v1/sessions/{id}/archives/{aid}`` → the archive."""
        archive = self.registry.archive(request.match_info["sid"], request.match_info["aid"])
        return web.json_response(archive.to_json())

    async def broadcast(self, request: web.Request) -> web.Response:
        """``POST /v1/sessions/{id}/broadcasts``: 409 in e2ee sessions, else 501."""
        self.registry.check_clear_media_feature(request.match_info["sid"], "broadcast")

    async def sip(self, request: web.Request) -> web.Response:
        """``POST /v1/sessions/{id}/sip``: 409 in e2ee sessions, else 501."""
        self.registry.check_clear_media_feature(request.match_info["sid"], "SIP")


def add_api_routes(app: web.Application, api: ApiHandlers) -> None:
    """Register the ``/v1`` routes."""
    app.router.add_post("/v1/sessions", api.create_session)
    app.router.add_get("/v1/sessions", api.list_sessions)
    app.router.add_get("/v1/sessions/{sid}", api.get_session)
    app.router.add_delete("/v1/sessions/{sid}", api.delete_session)
    app.router.add_post("/v1/sessions/{sid}/tokens", api.create_token)
    app.router.add_delete("/v1/sessions/{sid}/participants/{pid}", api.disconnect_participant)
    app.router.add_post("/v1/sessions/{sid}/archives", api.start_archive)
    app.router.add_get("/v1/sessions/{sid}/archives/{aid}", api.get_archive)
    app.router.add_post("/v1/sessions/{sid}/archives/{aid}/stop", api.stop_archive)
    app.router.add_post("/v1/sessions/{sid}/broadcasts", api.broadcast)
    app.router.add_post("/v1/sessions/{sid}/sip", api.sip)
