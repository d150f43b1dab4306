"""The asyncio UDP adapter: socket(s) in, the sans-IO core in the middle, ``sendto`` out.

:class:`UdpMediaTransport` binds one demultiplexed port (or every port of a range), reads
datagrams, classifies them by first byte (RFC 7983), hands RTP/RTCP to the
:class:`~router.forwarding.ForwardingCore` and other classes to the handlers registered for
them (none by default: a WebRTC transport registers STUN and DTLS), sends whatever comes back,
and runs the core's timer at :meth:`~router.forwarding.ForwardingCore.next_deadline`. The
clock is the event loop's; NTP time is that plus a fixed offset to the wall clock.

Use uvloop where installed (``rtp-router`` does): asyncio's default loop reads every datagram
into a fresh 256 KiB buffer and forwards about six times fewer packets per second.

With the C forwarding path (:mod:`router.forwarding.fastfwd`, backend ``"c"``) an IPv4 socket
is read with ``loop.add_reader`` instead: the C ``Forwarder`` drains it with ``recvmmsg``,
forwards RTP from bound addresses itself (``sendmmsg``) and hands every other datagram to the
same Python handling as the datagram protocol, in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from router.drops import DropReason
from router.forwarding.cache import RetransmissionCache
from router.forwarding.core import AddressBound, CoreEvent, Datagram, ForwardingCore
from router.forwarding.fastfwd import native
from router.forwarding.model import Addr
from router.forwarding.stats import ReceiveStats
from router.transport.base import DatagramClass, DatagramHandler, classify

__all__ = ["EventSink", "UdpMediaTransport"]

#: Receives the core's events (address bindings, speaker changes) on the loop's thread.
EventSink = Callable[[list[CoreEvent]], None]

_SOCKET_BUFFER = 4 << 20
#: recvmmsg batches the C path reads per readable callback before yielding to the loop.
_DRAIN_BATCHES = 8


def _is_ipv4(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 4
    except ValueError:
        return False


class _RawTransport:
    """A bound non-blocking UDP socket with the DatagramTransport calls the adapter makes."""

    def __init__(self, sock: socket.socket, owner: UdpMediaTransport) -> None:
        self.sock = sock
        self.owner = owner
        self._closed = False

    def sendto(self, data: bytes, addr: Addr) -> None:
        """Send now; EAGAIN/ENOBUFS raise (the adapter counts them), other errors count."""
        try:
            self.sock.sendto(data, addr)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ENOBUFS):
                raise
            self.owner.core.drops.add(DropReason.SEND_FAILED)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``sockname`` and ``socket``, as asyncio transports answer them."""
        if name == "sockname":
            return self.sock.getsockname()
        if name == "socket":
            return self.sock
        return default

    def is_closing(self) -> bool:
        """True once closed."""
        return self._closed

    def close(self) -> None:
        """Stop reading and close the socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError, ValueError):  # loop already closed
            self.owner.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class _FastSocket:
    """One bound IPv4 socket read by the C forwarder (``recvmmsg``/``sendmmsg``)."""

    def __init__(self, owner: UdpMediaTransport, sock: socket.socket) -> None:
        assert native is not None
        self.owner = owner
        raw = _RawTransport(sock, owner)
        self.transport = cast(asyncio.DatagramTransport, raw)
        self.fd = sock.fileno()
        self.forwarder = native.Forwarder(
            owner.core,
            self.fd,
            self.datagram_received,
            self._send_py,
            owner._route_fd,
            (DropReason.NO_SUBSCRIBERS, DropReason.PROTECT_FAILED, DropReason.SEND_FAILED),
            (ReceiveStats, RetransmissionCache),
        )

    def on_readable(self) -> None:
        """Drain a few batches; the loop calls again while the socket stays readable."""
        self.forwarder.drain(self.owner.loop.time(), _DRAIN_BATCHES)

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        """The Python path for one datagram the C path did not take."""
        _Socket.datagram_received(self, data, addr)  # type: ignore[arg-type]

    def _send_py(self, out: list[Datagram]) -> None:
        self.owner.send(out, self.transport)


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
        self._sockets: list[_Socket | _FastSocket] = []
        self._route: dict[Addr, asyncio.DatagramTransport] = {}
        #: The same routes as socket file descriptors, for the C path.
        self._route_fd: dict[Addr, int] = {}
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
                if native is not None and _is_ipv4(host):
                    self._start_fast(host, port)
                    continue
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

    @property
    def backend(self) -> str:
        """``"c"`` when the C forwarder reads the sockets, else ``"python"``."""
        return "c" if any(isinstance(s, _FastSocket) for s in self._sockets) else "python"

    def fast_stats(self) -> dict[str, int]:
        """The C path's counters summed over sockets (empty on the Python path)."""
        total: dict[str, int] = {}
        for s in self._sockets:
            if isinstance(s, _FastSocket):
                for k, v in s.forwarder.stats().items():
                    total[k] = total.get(k, 0) + v
        return total

    def _start_fast(self, host: str, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, opt, _SOCKET_BUFFER)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        fast = _FastSocket(self, sock)
        self._sockets.append(fast)
        self.ports.append(int(sock.getsockname()[1]))
        self.loop.add_reader(fast.fd, fast.on_readable)

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
        self._route_fd.clear()
        self.ports.clear()

    def forget(self, addr: Addr) -> None:
        """Drop the socket route of an address whose participant left."""
        self._route.pop(addr, None)
        self._route_fd.pop(addr, None)

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
                    sock = via.get_extra_info("socket")
                    if sock is not None:
                        self._route_fd[ev.addr] = sock.fileno()
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
