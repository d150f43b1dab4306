"""asyncio adapters: the only place in :mod:`rtpstack` that touches sockets and the event loop."""

from __future__ import annotations

from rtpstack.io.udp import Datagram, UdpEndpoint, open_udp_endpoint

__all__ = ["Datagram", "UdpEndpoint", "open_udp_endpoint"]
