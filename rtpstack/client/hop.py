"""The client's side of one SRTP hop (client ↔ router), as ``docs/transport.md`` describes.

Everything the client sends is protected with ``client_key`` (any SSRC, RTP and RTCP);
everything it receives is unprotected with ``router_key``. One :class:`rtpstack.srtp.SrtpSession`
with different inbound keys does both. A failed unprotect raises an
:class:`rtpstack.errors.SrtpError` subclass; callers drop and count.
"""

from __future__ import annotations

from rtpstack.errors import SrtpError
from rtpstack.srtp import SrtpKeyingMaterial, SrtpProfile, SrtpSession

__all__ = ["HopCrypto", "HopCryptoError"]

_REPLAY_WINDOW = 1024


class HopCryptoError(SrtpError):
    """The transport's keys or profile are not usable."""


def _keying(profile: SrtpProfile, name: str, raw: bytes) -> SrtpKeyingMaterial:
    need = profile.key_length + profile.salt_length
    if len(raw) != need:
        raise HopCryptoError(f"{name} must be {need} bytes (key || salt) for {profile.value}, "
                             f"got {len(raw)}")
    return SrtpKeyingMaterial(profile, raw[: profile.key_length], raw[profile.key_length:])


class HopCrypto:
    """Protect with the client's key, unprotect with the router's key."""

    __slots__ = ("_session", "profile")

    def __init__(self, client_key: bytes, router_key: bytes,
                 profile: str = "AEAD_AES_128_GCM") -> None:
        try:
            prof = SrtpProfile(profile)
        except ValueError:
            raise HopCryptoError(f"unsupported SRTP profile {profile!r}") from None
        self.profile = prof
        # allow_repeat_tx: a NACK is answered by re-sending the very same packet
        self._session = SrtpSession(
            _keying(prof, "client_key", client_key),
            inbound_keys=_keying(prof, "router_key", router_key),
            replay_window=_REPLAY_WINDOW, allow_repeat_tx=True)

    def protect(self, rtp: bytes) -> bytes:
        """SRTP-protect one RTP packet."""
        return self._session.protect(rtp)

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """SRTCP-protect one (compound) RTCP packet."""
        return self._session.protect_rtcp(rtcp)

    def unprotect(self, srtp: bytes) -> bytes:
        """Unprotect one SRTP packet from the router."""
        return self._session.unprotect(srtp)

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Unprotect one SRTCP packet from the router."""
        return self._session.unprotect_rtcp(srtcp)
