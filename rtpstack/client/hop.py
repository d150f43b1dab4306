"""The client's side of one SRTP hop (client ↔ router), as ``docs/transport.md`` describes.

Two contexts: everything the client sends is protected with ``client_key`` (any outbound SSRC,
RTP and RTCP), everything it receives is unprotected with ``router_key`` (any inbound SSRC).
A failed unprotect raises an :class:`rtpstack.errors.SrtpError`; callers drop and count.
"""

from __future__ import annotations

import pylibsrtp

from rtpstack.errors import SrtpError

__all__ = ["PROFILES", "HopCrypto", "HopCryptoError"]

PROFILES: dict[str, tuple[int, int, int]] = {
    # name: (libsrtp profile id, key length, salt length)
    "AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 16, 12),
    "AEAD_AES_256_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 32, 12),
    "AES_CM_128_HMAC_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 16, 14),
    "AES_CM_128_HMAC_SHA1_32": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 16, 14),
}


class HopCryptoError(SrtpError):
    """The hop's SRTP could not protect or unprotect a packet."""


class HopCrypto:
    """Protect with the client's key, unprotect with the router's key."""

    def __init__(self, client_key: bytes, router_key: bytes,
                 profile: str = "AEAD_AES_128_GCM") -> None:
        spec = PROFILES.get(profile)
        if spec is None:
            raise HopCryptoError(f"unsupported SRTP profile {profile!r}")
        libsrtp_profile, key_len, salt_len = spec
        for name, key in (("client_key", client_key), ("router_key", router_key)):
            if len(key) != key_len + salt_len:
                raise HopCryptoError(f"{name} must be {key_len + salt_len} bytes for {profile}, "
                                     f"got {len(key)}")
        out_policy = pylibsrtp.Policy(key=client_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                                      srtp_profile=libsrtp_profile)
        out_policy.allow_repeat_tx = True
        in_policy = pylibsrtp.Policy(key=router_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                                     srtp_profile=libsrtp_profile)
        in_policy.window_size = 1024
        self.profile = profile
        self._out = pylibsrtp.Session(out_policy)
        self._in = pylibsrtp.Session(in_policy)

    def protect(self, rtp: bytes) -> bytes:
        """SRTP-protect one RTP packet."""
        try:
            return bytes(self._out.protect(rtp))
        except pylibsrtp.Error as exc:
            raise HopCryptoError(f"SRTP protect failed: {exc}") from None

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """SRTCP-protect one (compound) RTCP packet."""
        try:
            return bytes(self._out.protect_rtcp(rtcp))
        except pylibsrtp.Error as exc:
            raise HopCryptoError(f"SRTCP protect failed: {exc}") from None

    def unprotect(self, srtp: bytes) -> bytes:
        """Unprotect one SRTP packet from the router."""
        try:
            return bytes(self._in.unprotect(srtp))
        except pylibsrtp.Error as exc:
            raise HopCryptoError(f"SRTP unprotect failed: {exc}") from None

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Unprotect one SRTCP packet from the router."""
        try:
            return bytes(self._in.unprotect_rtcp(srtcp))
        except pylibsrtp.Error as exc:
            raise HopCryptoError(f"SRTCP unprotect failed: {exc}") from None
