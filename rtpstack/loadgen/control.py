"""The load generator's control plane: HTTP API (sessions, tokens) and signaling.

It plays the application server (an HS256 API token from the router's API key and secret,
``POST /v1/sessions`` and ``POST /v1/sessions/{id}/tokens``) and each participant's WebSocket
(``join``, ``publish``, ``subscribe``), as ``docs/router.md`` describes. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp

__all__ = ["ApiClient", "ControlError", "Signaling", "api_token", "parse_metrics"]


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text exposition as {sample name with its labels: value}."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        with contextlib.suppress(ValueError):
            out[name] = float(value)
    return out


class ControlError(ValueError):
    """The router refused a request (HTTP or signaling) or did not answer in time."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def api_token(api_key: str, api_secret: str, now: float, ttl: int = 300) -> str:
    """A server API token: HS256 JWT with ``iss`` = key, ``iat``, ``exp`` = iat + ttl."""
    iat = int(now)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"iss": api_key, "iat": iat, "exp": iat + ttl}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing = f"{header}.{payload}".encode("ascii")
    sig = hmac.new(api_secret.encode(), signing, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(sig)}"


class ApiClient:
    """The router's ``/v1`` API and ``/metrics`` over one aiohttp session."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, key: str, secret: str,
                 timeout: float = 10.0) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.secret = secret
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        auth = {"Authorization": f"Bearer {api_token(self.key, self.secret, time.time())}"}
        async with self.http.post(self.base_url + path, json=body, headers=auth,
                                  timeout=self.timeout) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 300 or not isinstance(data, dict):
                raise ControlError(f"POST {path}: HTTP {resp.status}: {data}")
            return data

    async def create_session(self, e2ee: bool) -> str:
        """Create a routed session; return its id."""
        data = await self._post("/v1/sessions", {"media_mode": "routed", "e2ee": e2ee})
        return str(data["session_id"])

    async def token(self, session_id: str, participant_id: str, role: str) -> str:
        """A client token for ``participant_id`` in ``session_id``."""
        data = await self._post(f"/v1/sessions/{session_id}/tokens",
                                {"participant_id": participant_id, "role": role})
        return str(data["token"])

    async def delete_session(self, session_id: str) -> None:
        """End the session (errors ignored: the run is over)."""
        auth = {"Authorization": f"Bearer {api_token(self.key, self.secret, time.time())}"}
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
            async with self.http.delete(f"{self.base_url}/v1/sessions/{session_id}",
                                        headers=auth, timeout=self.timeout):
                pass

    async def metrics(self) -> dict[str, float]:
        """``/metrics`` as {sample name with labels: value}; {} when unavailable."""
        try:
            async with self.http.get(self.base_url + "/metrics", timeout=self.timeout) as resp:
                text = await resp.text()
        except (TimeoutError, aiohttp.ClientError):
            return {}
        return parse_metrics(text)


class Signaling:
    """One participant's WebSocket: requests answered by id; events are read and dropped.

    A background reader keeps draining the socket, so the router never sees a slow consumer.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, timeout: float = 10.0) -> None:
        self.ws = ws
        self.timeout = timeout
        self._next = 0
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.events = 0

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, base_url: str, token: str,
                      timeout: float = 10.0) -> Signaling:
        """Open ``/ws?token=...`` on the router at ``base_url``."""
        url = base_url.rstrip("/").replace("http", "ws", 1) + "/ws"
        try:
            ws = await http.ws_connect(url, params={"token": token},
                                       timeout=aiohttp.ClientWSTimeout(ws_close=timeout),
                                       max_msg_size=1 << 20)
        except aiohttp.WSServerHandshakeError as exc:
            raise ControlError(f"signaling refused: HTTP {exc.status}") from None
        return cls(ws, timeout)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            with contextlib.suppress(ValueError):
                data = json.loads(msg.data)
                fut = self._waiting.pop(str(data.get("id")), None) if "id" in data else None
                if fut is not None and not fut.done():
                    fut.set_result(data)
                else:
                    self.events += 1
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ControlError("signaling socket closed"))

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send ``message`` with a fresh id; return the answer (ControlError on ``error``)."""
        self._next += 1
        rid = f"lg{self._next}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        await self.ws.send_str(json.dumps({**message, "id": rid}))
        try:
            answer = await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            self._waiting.pop(rid, None)
            raise ControlError(f"no answer to {message.get('type')!r}") from None
        if answer.get("type") == "error":
            raise ControlError(f"{message.get('type')}: {answer.get('error')}: "
                               f"{answer.get('message')}")
        return answer

    async def close(self) -> None:
        """Leave (best effort) and close the socket."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.send_str(json.dumps({"type": "leave"})), 1.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2.0)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
