"""Private packet-layout helpers shared by both engines.

NOTE: :func:`rtpstack.fastpath.header_length` measures the same header, but it is not used
here on purpose: it rejects RTP versions other than 2 (libsrtp does not look at the version,
and the pion SRTP vectors use version 0, so the twin must accept them to stay byte-identical
to libsrtp) and it raises ``RtpParseError``, whereas SRTP callers count ``SrtpError`` subclasses.
:func:`rtp_header_length` applies exactly libsrtp's length checks (``srtp_validate_rtp_header``).
"""

from __future__ import annotations

import struct

from rtpstack.srtp.errors import SrtpMalformedError

__all__ = [
    "KEY_EXPIRED",
    "UNENCRYPTED_SRTCP",
    "auth_failed",
    "replay_duplicate",
    "replay_old",
    "rtcp_ssrc",
    "rtp_header_length",
    "rtp_ssrc",
    "too_short_for_tag",
    "unknown_ssrc",
]

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


def rtp_header_length(packet: bytes, kind: str = "SRTP") -> int:
    """Length of the RTP header (fixed part, CSRCs, extension) the way libsrtp measures it.

    The version field is not checked (libsrtp does not check it either).
    """
    n = len(packet)
    if n < 12:
        raise SrtpMalformedError(f"{kind} packet shorter than an RTP header ({n} < 12 bytes)")
    length = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        if n < length + 4:
            raise SrtpMalformedError(
                f"{kind} packet shorter than its CSRC list and extension header "
                f"({n} < {length + 4} bytes)"
            )
        length += 4 + 4 * _U16.unpack_from(packet, length + 2)[0]
    if n < length:
        raise SrtpMalformedError(
            f"{kind} packet shorter than its RTP header ({n} < {length} bytes)"
        )
    return length


def rtp_ssrc(packet: bytes) -> int:
    """SSRC of an RTP packet (at least 12 bytes long)."""
    return int(_U32.unpack_from(packet, 8)[0])


def rtcp_ssrc(packet: bytes) -> int:
    """Sender SSRC of the first RTCP packet (at least 8 bytes long)."""
    return int(_U32.unpack_from(packet, 4)[0])


def auth_failed(kind: str) -> str:
    """Message of :class:`SrtpAuthError`."""
    return f"{kind} authentication failed"


def replay_duplicate(kind: str) -> str:
    """Message of :class:`SrtpReplayError` for an index already received."""
    return f"{kind} replay: packet index already received"


def replay_old(kind: str) -> str:
    """Message of :class:`SrtpReplayError` for an index before the window."""
    return f"{kind} replay: packet index older than the replay window"


def unknown_ssrc(kind: str, ssrc: int) -> str:
    """Message of :class:`SrtpUnknownSsrcError`."""
    return f"{kind}: no context for SSRC 0x{ssrc:08x}"


def too_short_for_tag(kind: str, n: int, need: int) -> str:
    """Message of :class:`SrtpMalformedError` when the tag/trailer does not fit."""
    return f"{kind} packet too short for its trailer ({n} < {need} bytes)"


KEY_EXPIRED = "SRTCP index space exhausted: rekey needed"
UNENCRYPTED_SRTCP = "SRTCP packet not encrypted (E flag 0) but the profile encrypts"
