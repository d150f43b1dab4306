"""The client end of the router's signaling WebSocket (JSON messages, see ``docs/router.md``).

:class:`SignalingChannel` wraps one aiohttp WebSocket: :meth:`SignalingChannel.request` sends a
message with an ``id`` and waits (bounded) for the answer that carries the same id, or
for an ``error`` message (raised as :class:`SignalingError` with the router's code and message);
every other message is an event, handed to the ``on_event`` callback in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

__all__ = ["SignalingChannel", "SignalingError"]

EventHandler = Callable[[Mapping[str, Any]], None]


class SignalingError(ValueError):
    """The router refused a request (``code`` and ``message`` are the router's words).

    ``status`` is the HTTP status when the refusal came before the WebSocket opened (a bad
    token gets 401), else 0.
    """

    def __init__(self, code: str, message: str, *, status: int = 0) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class SignalingChannel:
    """One participant's WebSocket to the router."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, on_event: EventHandler) -> None:
        self._ws = ws
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Mapping[str, Any]]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.closed = asyncio.Event()
        self.close_reason: str = ""

    async def request(self, type_: str, timeout: float = 5.0, **fields: Any
                      ) -> Mapping[str, Any]:
        """Send ``{"type": type_, "id": n, **fields}``; return the matching answer."""
        if self.closed.is_set():
            raise SignalingError("closed", f"signaling is closed ({self.close_reason})")
        rid = str(next(self._ids))
        fut: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._ws.send_str(json.dumps({"type": type_, "id": rid, **fields}))
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise SignalingError("timeout", f"no answer to {type_!r} within {timeout} s") from None
        finally:
            self._pending.pop(rid, None)

    async def send(self, type_: str, **fields: Any) -> None:
        """Send a message that expects no answer."""
        await self._ws.send_str(json.dumps({"type": type_, **fields}))

    async def _read(self) -> None:
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    obj = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(obj, dict):
                    continue
                rid = obj.get("id")
                fut = self._pending.get(str(rid)) if rid is not None else None
                if fut is not None and not fut.done():
                    if obj.get("type") == "error":
                        fut.set_exception(SignalingError(str(obj.get("error", "error")),
                                                         str(obj.get("message", ""))))
                    else:
                        fut.set_result(obj)
                    continue
                self._on_event(obj)
        finally:
            self.close_reason = f"websocket closed (code {self._ws.close_code})"
            self.closed.set()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(SignalingError("closed", self.close_reason))

    async def close(self) -> None:
        """Close the WebSocket and stop reading."""
        with contextlib.suppress(Exception):
            await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
