"""Helpers to drive a router in-process over real HTTP and WebSockets on 127.0.0.1.

For tests and demos (of both the control plane and the media plane)::

    async with RouterHarness() as router:
        session = await router.create_session(e2ee=True)
        alice = await router.join(session["session_id"], participant_id="alice")
        await alice.send({"type": "publish", "track": {...}})
        reply = await alice.recv()

Every wait is bounded in time; nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from router.app import create_app
from router.auth import ApiCredentials, make_api_token
from router.config import RouterConfig
from router.mediaplane import MediaPlane, NullMediaPlane

__all__ = ["RouterHarness", "SignalingClient"]


class SignalingClient:
    """One participant's WebSocket, with bounded receive helpers."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, participant_id: str) -> None:
        self.ws = ws
        self.participant_id = participant_id
        self._backlog: deque[dict[str, Any]] = deque()
        self._next_id = 0
        #: The router's ``joined`` answer, once :meth:`RouterHarness.join` has joined.
        self.joined: dict[str, Any] = {}

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message."""
        await self.ws.send_str(json.dumps(message))

    async def recv(self, timeout: float = 3.0) -> dict[str, Any]:
        """The next JSON message; raises TimeoutError or ConnectionError when there is none."""
        if self._backlog:
            return self._backlog.popleft()
        return await self._receive(timeout)

    async def _receive(self, timeout: float) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"socket closed or not text: {msg.type!r}")
        data = json.loads(msg.data)
        if not isinstance(data, dict):
            raise ValueError("router sent a non-object message")
        return data

    async def request(self, message: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
        """Send and return the answer: the message echoing the request's ``id``.

        Without an ``id`` one is added (and removed from the answer). Events that arrive first
        stay queued for :meth:`recv`.
        """
        auto = "id" not in message
        if auto:
            self._next_id += 1
            message = {**message, "id": f"auto-{self._next_id}"}
        await self.send(message)
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            reply = await self._receive(max(0.01, deadline - time.monotonic()))
            if reply.get("id") == message["id"]:
                if auto:
                    del reply["id"]
                return reply
            self._backlog.append(reply)
        raise TimeoutError("no answer within 1000 messages")

    async def wait_for(self, kind: str, timeout: float = 3.0, limit: int = 100) -> dict[str, Any]:
        """Skip messages until one of ``type == kind`` (at most ``limit`` messages)."""
        deadline = time.monotonic() + timeout
        for _ in range(limit):
            msg = await self.recv(max(0.01, deadline - time.monotonic()))
            if msg.get("type") == kind:
                return msg
        raise TimeoutError(f"no {kind!r} message within {limit} messages")

    async def closed(self, timeout: float = 3.0) -> int | None:
        """Read until the router closes the socket; return the close code."""
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            msg = await self.ws.receive(timeout=max(0.01, deadline - time.monotonic()))
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.CLOSING):
                return self.ws.close_code
        raise TimeoutError("socket did not close")

    async def close(self) -> None:
        """Close the socket from the client side."""
        await self.ws.close()


class RouterHarness:
    """A router app on an ephemeral 127.0.0.1 port, with API and signaling helpers."""

    def __init__(
        self,
        config: RouterConfig | None = None,
        media: MediaPlane | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config if config is not None else RouterConfig(port=0)
        self.media: MediaPlane = media if media is not None else NullMediaPlane()
        self.clock = clock
        self.app: web.Application = create_app(self.config, self.media, clock=clock)
        self.client = TestClient(TestServer(self.app, host="127.0.0.1"))
        self.creds = ApiCredentials(self.config.api_key, self.config.api_secret)
        self._sockets: list[SignalingClient] = []

    async def __aenter__(self) -> RouterHarness:
        await self.client.start_server()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sock in self._sockets:
            if not sock.ws.closed:
                await sock.close()
        await self.client.close()

    def api_headers(self, ttl: int = 300) -> dict[str, str]:
        """``Authorization`` header with a fresh server API token."""
        return {"Authorization": "Bearer " + make_api_token(self.creds, self.clock(), ttl)}

    async def api(
        self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Call the API (authenticated unless ``headers`` is given); return status and JSON."""
        hdrs = self.api_headers() if headers is None else headers
        async with self.client.request(method, path, json=body, headers=hdrs) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)

    async def create_session(self, **body: Any) -> dict[str, Any]:
        """``POST /v1/sessions``; asserts 201 and returns the session."""
        status, data = await self.api("POST", "/v1/sessions", body)
        if status != 201:
            raise AssertionError(f"create_session: {status} {data}")
        assert isinstance(data, dict)
        return data

    async def token(self, session_id: str, **body: Any) -> str:
        """Mint a client token; asserts 201."""
        status, data = await self.api("POST", f"/v1/sessions/{session_id}/tokens", body)
        if status != 201:
            raise AssertionError(f"token: {status} {data}")
        return str(data["token"])

    async def connect(self, token: str, participant_id: str = "",
                      query: str = "") -> SignalingClient:
        """Open ``/ws?token=...`` (no join yet)."""
        ws = await self.client.ws_connect(f"/ws?token={token}{query}")
        sock = SignalingClient(ws, participant_id)
        self._sockets.append(sock)
        return sock

    async def join(
        self, session_id: str, *, participant_id: str, role: str = "publisher",
    ) -> SignalingClient:
        """Mint a token, connect and join; asserts the ``joined`` answer."""
        token = await self.token(session_id, participant_id=participant_id, role=role)
        sock = await self.connect(token, participant_id)
        joined = await sock.request({"type": "join"})
        if joined.get("type") != "joined":
            raise AssertionError(f"join: {joined}")
        sock.joined = joined
        return sock
