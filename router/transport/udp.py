"""The asyncio UDP adapter: socket(s) in, the sans-IO core in the middle, ``sendto`` out.

:class:`UdpMediaTransport` binds one demultiplexed port (or every port of a range), reads
datagrams, classifies them by first byte (RFC 7983), hands RTP/RTCP to the
:class:`~router.forwarding.ForwardingCore` and other classes to the handlers registered for
them (none by default: a WebRTC transport registers STUN and DTLS), sends whatever comes back,
and runs the core's timer at :meth:`~router.forwarding.ForwardingCore.next_deadline`. The
clock is the event loop's; NTP time is that plus a fixed offset to the wall clock.

Use uvloop where installed (``rtp-router`` does): asyncio's default loop reads every datagram
into a fresh 256 KiB buffer and forwards about six times fewer packets per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections.abc import Callable, Mapping
from typing import cast

from router.drops import DropReason
from router.forwarding.core import AddressBound, CoreEvent, Datagram, ForwardingCore
from router.forwarding.model import Addr
from router.transport.base import DatagramClass, DatagramHandler, classify

__all__ = ["EventSink", "UdpMediaTransport"]

#: Receives the core's events (address bindings, speaker changes) on the loop's thread.
EventSink = Callable[[list[CoreEvent]], None]

_SOCKET_BUFFER = 4 << 20


class _Socket(asyncio.DatagramProtocol):
    """One bound UDP socket; everything it reads goes to its :class:`UdpMediaTransport`."""

    def __init__(self, owner: UdpMediaTransport) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's own selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):  # the kernel caps it; defaults still work
                    sock.setsockopt(socket.SOL_SOCKET, opt, _SOCKET_BUFFER)

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        owner = self.owner
        core = owner.core
        if data and 128 <= data[0] <= 191:
            out = core.handle_datagram(data, addr, owner.loop.time())
        else:
            out = owner.other(data, addr)
        if out:
            owner.send(out, self.transport)
        if core.has_events:
            owner.flush_events(self.transport)

    def error_received(self, exc: Exception) -> None:
        self.owner.core.drops.add(DropReason.SEND_FAILED)


class UdpMediaTransport:
    """The media socket(s) of one router process, driving one forwarding core."""

    def __init__(
        self,
        core: ForwardingCore,
        *,
        handlers: Mapping[DatagramClass, DatagramHandler] | None = None,
        on_events: EventSink | None = None,
    ) -> None:
        self.core = core
        self.handlers = dict(handlers or {})
        self.on_events = on_events
        self._sockets: list[_Socket] = []
        self._route: dict[Addr, asyncio.DatagramTransport] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ports: list[int] = []

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the transport runs on (after :meth:`start`)."""
        if self._loop is None:
            raise RuntimeError("the media transport is not started")
        return self._loop

    async def start(self, host: str, first_port: int, last_port: int | None = None) -> list[int]:
        """Bind ``host:first_port`` (0: any free port), or every port up to ``last_port``.

        Returns the bound port numbers. Raises OSError when a port cannot be bound.
        """
        self._loop = loop = asyncio.get_running_loop()
        self.core.wall_offset = time.time() - loop.time()
        last = first_port if last_port is None else last_port
        try:
            for port in range(first_port, last + 1):
                proto = _Socket(self)
                transport, _ = await loop.create_datagram_endpoint(
                    lambda p=proto: p, local_addr=(host, port)  # type: ignore[misc]
                )
                self._sockets.append(proto)
                self.ports.append(int(transport.get_extra_info("sockname")[1]))
        except OSError:
            self.close()
            raise
        self._schedule()
        return list(self.ports)

    def close(self) -> None:
        """Stop the timer and close every socket (idempotent)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for s in self._sockets:
            if s.transport is not None:
                s.transport.close()
        self._sockets.clear()
        self._route.clear()
        self.ports.clear()

    def forget(self, addr: Addr) -> None:
        """Drop the socket route of an address whose participant left."""
        self._route.pop(addr, None)

    def other(self, data: bytes, addr: Addr) -> list[Datagram]:
        """Datagrams that are not RTP/RTCP: to the registered handler, else dropped."""
        handler = self.handlers.get(classify(data))
        if handler is None:
            self.core.drops.add(DropReason.NOT_RTP)
            return []
        return handler.handle_datagram(data, addr, self.loop.time())

    def send(self, out: list[Datagram], via: asyncio.DatagramTransport | None) -> None:
        """Send datagrams, each from the socket its destination talks to."""
        route = self._route
        default = via if via is not None else self._default()
        if default is None:
            return
        for data, addr in out:
            transport = route.get(addr, default) if route else default
            try:
                transport.sendto(data, addr)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.ENOBUFS):
                    raise
                self.core.drops.add(DropReason.SEND_FAILED)

    def flush_events(self, via: asyncio.DatagramTransport | None) -> None:
        """Hand the core's events to :attr:`on_events`; remember which socket a client uses."""
        events = self.core.pop_events()
        if len(self._sockets) > 1 and via is not None:
            for ev in events:
                if isinstance(ev, AddressBound):
                    self._route[ev.addr] = via
        if self.on_events is not None and events:
            self.on_events(events)

    def _default(self) -> asyncio.DatagramTransport | None:
        return self._sockets[0].transport if self._sockets else None

    def _schedule(self) -> None:
        loop = self.loop
        when = max(self.core.next_deadline(), loop.time() + 0.005)
        self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self._sockets:
            return
        out = self.core.handle_timer(self.loop.time())
        if out:
            self.send(out, None)
        if self.core.has_events:
            self.flush_events(None)
        self._schedule()
