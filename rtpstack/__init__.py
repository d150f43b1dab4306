"""rtpstack: an RTP/RTCP/SRTP/SFrame stack written from the wire up.

Sub-modules hold one concept each; import them directly (``rtpstack.rtp``, ``rtpstack.rtcp``,
``rtpstack.srtp``, ``rtpstack.sframe``, ``rtpstack.capture``, ...). This package root re-exports
only the error tree, which every layer shares.
"""

from __future__ import annotations

from rtpstack.errors import (
    CaptureParseError,
    DemuxError,
    ParseError,
    RtcpParseError,
    RtpParseError,
    SdpParseError,
    SFrameError,
    SrtpError,
    StunParseError,
)

__version__ = "0.1.0"

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
    "__version__",
]
