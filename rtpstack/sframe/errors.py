"""The SFrame error classes: one distinct subclass per reason a frame is refused.

All of them derive from :class:`rtpstack.errors.SFrameError` (a ``ValueError``); a malformed
header is also a :class:`rtpstack.errors.ParseError`, since it comes from the header parser.
"""

from __future__ import annotations

from rtpstack.errors import ParseError, SFrameError

__all__ = [
    "AuthenticationError",
    "CounterExhaustedError",
    "MalformedHeaderError",
    "ReplayError",
    "SFrameError",
    "UnknownCipherSuiteError",
    "UnknownKeyIdError",
]


class MalformedHeaderError(SFrameError, ParseError):
    """The SFrame header (RFC 9605 section 4.3) is truncated or the frame has no room for a tag."""


class UnknownKeyIdError(SFrameError):
    """The receiver holds no key for the KID in the frame's header."""


class AuthenticationError(SFrameError):
    """The frame's authentication tag does not verify: wrong key, or the frame was altered."""


class ReplayError(SFrameError):
    """The frame's counter was already accepted for this KID, or is older than the window."""


class CounterExhaustedError(SFrameError):
    """The sender refuses to encrypt: the next counter for this key would pass the limit."""


class UnknownCipherSuiteError(SFrameError):
    """The cipher suite number is not one of RFC 9605's (1 to 5)."""
