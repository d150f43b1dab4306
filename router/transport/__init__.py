"""Media transports: how datagrams get between the network and the forwarding core.

:mod:`router.transport.base` defines first-byte classification (RFC 7983) and the sans-IO
handler interface other transports (ICE-lite STUN, DTLS-SRTP) plug in through;
:mod:`router.transport.udp` is the asyncio UDP adapter for native clients.
"""

from __future__ import annotations

from router.transport.base import DatagramClass, DatagramHandler, classify
from router.transport.udp import EventSink, UdpMediaTransport

__all__ = ["DatagramClass", "DatagramHandler", "EventSink", "UdpMediaTransport", "classify"]
