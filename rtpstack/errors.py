"""The project's error tree.

Every parser raises only :class:`ParseError` subclasses, and every error that stems from bad
input data is a :class:`ValueError`, so callers can catch one base class at the edge of the
program, drop the input, count it, and carry on.
"""

from __future__ import annotations

__all__ = [
    "CaptureParseError",
    "DemuxError",
    "ParseError",
    "RtcpParseError",
    "RtpParseError",
    "SFrameError",
    "SdpParseError",
    "SrtpError",
    "StunParseError",
]


class ParseError(ValueError):
    """Input bytes (or text) do not form a valid message of the expected kind."""


class RtpParseError(ParseError):
    """An RTP packet or one of its header extensions is malformed."""


class RtcpParseError(ParseError):
    """An RTCP packet (or a part of a compound packet) is malformed."""


class DemuxError(ParseError):
    """A datagram cannot be classified as STUN, DTLS, RTP, RTCP or TURN channel data."""


class StunParseError(ParseError):
    """A STUN message is malformed."""


class CaptureParseError(ParseError):
    """A pcap/pcapng file, or a link/IP/UDP layer inside it, is malformed."""


class SdpParseError(ParseError):
    """An SDP description (or an SDES ``a=crypto`` line) is malformed."""


class SrtpError(ValueError):
    """Base of the SRTP/SRTCP errors (authentication, replay, unknown SSRC, bad key)."""


class SFrameError(ValueError):
    """Base of the SFrame errors (unknown KID, authentication, replay, malformed header)."""
