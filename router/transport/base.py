"""What a media transport plugs into: first-byte demultiplexing and datagram handlers.

The router's UDP socket(s) carry several protocols at once (RFC 7983): STUN for ICE, DTLS for
DTLS-SRTP key exchange, TURN channel data, and SRTP/SRTCP. The adapter classifies each datagram
by its first byte and hands it to the :class:`DatagramHandler` registered for that class. The
native transport registers only the forwarding core for RTP/RTCP; a WebRTC transport adds an
ICE-lite STUN handler and a DTLS handler that, once the handshake exports keys, installs them
as the participant's hop keys in the same core. Handlers are sans-IO: datagram and ``now`` in,
datagrams to send out.
"""

from __future__ import annotations

import enum
from typing import Protocol

from router.forwarding.core import Datagram
from router.forwarding.model import Addr

__all__ = ["DatagramClass", "DatagramHandler", "classify"]


class DatagramClass(enum.Enum):
    """What a datagram's first byte says it is (RFC 7983 §7, RFC 9443)."""

    STUN = "stun"
    ZRTP = "zrtp"
    DTLS = "dtls"
    TURN_CHANNEL = "turn_channel"
    RTP = "rtp"
    UNKNOWN = "unknown"


def _table() -> tuple[DatagramClass, ...]:
    out = []
    for b in range(256):
        if b <= 3:
            out.append(DatagramClass.STUN)
        elif 16 <= b <= 19:
            out.append(DatagramClass.ZRTP)
        elif 20 <= b <= 63:
            out.append(DatagramClass.DTLS)
        elif 64 <= b <= 79:
            out.append(DatagramClass.TURN_CHANNEL)
        elif 128 <= b <= 191:
            out.append(DatagramClass.RTP)
        else:
            out.append(DatagramClass.UNKNOWN)
    return tuple(out)


_CLASS_OF_FIRST_BYTE = _table()


def classify(data: bytes) -> DatagramClass:
    """Classify a datagram by its first byte (empty datagrams are UNKNOWN)."""
    return _CLASS_OF_FIRST_BYTE[data[0]] if data else DatagramClass.UNKNOWN


class DatagramHandler(Protocol):
    """A sans-IO consumer of one class of datagrams (RTP/RTCP, STUN, DTLS...)."""

    def handle_datagram(self, data: bytes, addr: Addr, now: float) -> list[Datagram]:
        """Process one datagram from ``addr`` at ``now``; return datagrams to send."""
        ...
