"""SRTP/SRTCP errors: one subclass of :class:`rtpstack.errors.SrtpError` per reason.

Both engines (libsrtp and the pure-Python twin) raise the same class for the same condition, so
a caller can drop the packet and count it by class: ``except SrtpError as exc:
drops[type(exc).__name__] += 1``. All of them are ``ValueError``\\ s.
"""

from __future__ import annotations

from rtpstack.errors import SrtpError

__all__ = [
    "SrtpAuthError",
    "SrtpEngineError",
    "SrtpError",
    "SrtpKeyExpiredError",
    "SrtpKeyLengthError",
    "SrtpMalformedError",
    "SrtpReplayError",
    "SrtpUnknownSsrcError",
]


class SrtpAuthError(SrtpError):
    """The authentication tag does not verify (wrong key, corrupted or forged packet)."""


class SrtpReplayError(SrtpError):
    """The packet index was already received, or lies before the replay window."""


class SrtpUnknownSsrcError(SrtpError):
    """No context is bound to the packet's SSRC (the keys are bound to another SSRC)."""


class SrtpKeyLengthError(SrtpError):
    """A master key or master salt does not have the length its profile requires."""


class SrtpMalformedError(SrtpError):
    """The packet is too short or its header lengths point past its end."""


class SrtpKeyExpiredError(SrtpError):
    """The key may not protect more packets (SRTCP index space exhausted)."""


class SrtpEngineError(SrtpError):
    """Any other failure reported by the SRTP engine (should not happen in practice)."""
