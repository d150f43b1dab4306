"""A small asyncio UDP endpoint: bind (127.0.0.1 by default), send, and receive into a
bounded queue or a callback.

Received datagrams carry their arrival time from the event loop's clock. When the queue is
full, new datagrams are dropped and counted (``dropped``) rather than growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

__all__ = ["Datagram", "UdpEndpoint", "open_udp_endpoint"]


@dataclass(frozen=True, slots=True)
class Datagram:
    """One received datagram: its bytes, where it came from, and when (loop time, seconds)."""

    data: bytes
    addr: tuple[str, int]
    time: float


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: UdpEndpoint) -> None:
        self._endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._endpoint._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._endpoint.errors += 1


class UdpEndpoint:
    """A bound UDP socket with a bounded receive queue (use :func:`open_udp_endpoint`)."""

    def __init__(
        self,
        queue_size: int = 10_000,
        on_datagram: Callable[[Datagram], None] | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Datagram] = asyncio.Queue(maxsize=queue_size)
        self._on_datagram = on_datagram
        self._transport: asyncio.DatagramTransport | None = None
        #: datagrams dropped because the queue was full
        self.dropped = 0
        #: send/receive errors reported by the OS (e.g. ICMP port unreachable)
        self.errors = 0
        #: datagrams received in total
        self.received = 0

    async def _open(self, host: str, port: int, rcvbuf: int) -> None:
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(host, port)
        )
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and rcvbuf:
            with contextlib.suppress(OSError):  # the kernel caps it at net.core.rmem_max
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1
        dgram = Datagram(data, addr, self._loop.time())
        if self._on_datagram is not None:
            self._on_datagram(dgram)
            return
        try:
            self._queue.put_nowait(dgram)
        except asyncio.QueueFull:
            self.dropped += 1

    @property
    def local_address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        assert self._transport is not None, "endpoint is not open"
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        """Send one datagram (never blocks; OS errors are counted in ``errors``)."""
        assert self._transport is not None, "endpoint is not open"
        try:
            self._transport.sendto(data, addr)
        except OSError:
            self.errors += 1

    async def recv(self, timeout: float | None = None) -> Datagram:
        """Next received datagram (raises TimeoutError after ``timeout`` seconds)."""
        return await asyncio.wait_for(self._queue.get(), timeout)

    def drain(self) -> list[Datagram]:
        """All datagrams queued so far, without waiting."""
        out: list[Datagram] = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    def close(self) -> None:
        """Close the socket (idempotent)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> UdpEndpoint:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def open_udp_endpoint(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    queue_size: int = 10_000,
    on_datagram: Callable[[Datagram], None] | None = None,
    rcvbuf: int = 1 << 20,
) -> UdpEndpoint:
    """Bind a UDP endpoint (port 0 picks a free one); use it with ``async with``.

    ``rcvbuf`` asks the kernel for a receive buffer that absorbs bursts (default 1 MiB).
    """
    endpoint = UdpEndpoint(queue_size, on_datagram)
    await endpoint._open(host, port, rcvbuf)
    return endpoint
