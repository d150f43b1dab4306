"""SRTP/SRTCP engine on libsrtp 2.x through ``pylibsrtp``; maps libsrtp errors to SrtpError.

One :class:`LibsrtpEngine` is one libsrtp session used in one direction. ``ssrc=None`` binds
the keys to any SSRC (libsrtp ``ssrc_any_outbound`` / ``ssrc_any_inbound``).

pylibsrtp copies every packet into a 1,500-byte buffer, so it refuses RTP packets longer than
1,356 bytes to protect (1,352 for RTCP); those raise :class:`SrtpMalformedError` here.
"""

from __future__ import annotations

import pylibsrtp

from rtpstack.srtp import _packet as P
from rtpstack.srtp.errors import (
    SrtpAuthError,
    SrtpEngineError,
    SrtpError,
    SrtpKeyExpiredError,
    SrtpMalformedError,
    SrtpReplayError,
    SrtpUnknownSsrcError,
)
from rtpstack.srtp.profiles import SrtpKeyingMaterial, SrtpProfile

__all__ = ["LibsrtpEngine", "map_libsrtp_error"]

_PROFILES: dict[SrtpProfile, int] = {
    SrtpProfile.AES_CM_128_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    SrtpProfile.AES_CM_128_HMAC_SHA1_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    SrtpProfile.AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    SrtpProfile.AEAD_AES_256_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}

_MALFORMED = frozenset({"unsupported parameter", "error parsing data", "cipher failure"})


def _malformed_message(kind: str, packet: bytes, rtcp: bool, profile: SrtpProfile) -> str:
    """The message the Python twin gives for a packet libsrtp refused as malformed."""
    n = len(packet)
    try:
        if kind == "RTCP":
            if n < 8:
                return f"RTCP packet shorter than an RTCP header ({n} < 8 bytes)"
        elif kind == "SRTCP":
            if n < 12:
                return P.too_short_for_tag(kind, n, 12)
            if n < 12 + profile.rtcp_tag_length:
                return P.too_short_for_tag(kind, n, 12 + profile.rtcp_tag_length)
        else:
            hlen = P.rtp_header_length(packet, kind)
            if kind == "SRTP" and n < hlen + profile.rtp_tag_length:
                return P.too_short_for_tag(kind, n, hlen + profile.rtp_tag_length)
    except SrtpMalformedError as exc:
        return str(exc)
    return f"{kind} packet malformed (libsrtp refused it)"


def map_libsrtp_error(
    exc: Exception, kind: str, packet: bytes, *, rtcp: bool, profile: SrtpProfile
) -> SrtpError:
    """Translate a ``pylibsrtp.Error`` (or its ``ValueError``) into an :class:`SrtpError`.

    ``kind`` is ``"RTP"``/``"RTCP"`` when protecting and ``"SRTP"``/``"SRTCP"`` when
    unprotecting; ``packet`` is the input, read only to name the SSRC or the malformed part.
    """
    reason = str(exc)
    proto = "SRTCP" if rtcp else "SRTP"
    if reason == "authentication failure":
        return SrtpAuthError(P.auth_failed(proto))
    if reason == "unable to perform desired validation":
        return SrtpAuthError(P.UNENCRYPTED_SRTCP)
    if reason == "replay check failed (bad index)":
        return SrtpReplayError(P.replay_duplicate(proto))
    if reason == "replay check failed (index too old)":
        return SrtpReplayError(P.replay_old(proto))
    if reason == "no appropriate context found":
        ssrc = P.rtcp_ssrc(packet) if rtcp else P.rtp_ssrc(packet)
        return SrtpUnknownSsrcError(P.unknown_ssrc(proto, ssrc))
    if reason == "can't use key any more":
        return SrtpKeyExpiredError(P.KEY_EXPIRED)
    if reason == "packet is too long":
        return SrtpMalformedError(
            f"{kind} packet too long for libsrtp's 1500-byte buffer ({len(packet)} bytes)"
        )
    if reason in _MALFORMED:
        return SrtpMalformedError(_malformed_message(kind, packet, rtcp, profile))
    return SrtpEngineError(f"{proto}: libsrtp failed: {reason}")


class LibsrtpEngine:
    """One libsrtp session used in one direction."""

    __slots__ = ("_session", "profile")

    def __init__(
        self,
        keys: SrtpKeyingMaterial,
        *,
        ssrc: int | None = None,
        outbound: bool = True,
        replay_window: int = 128,
        allow_repeat_tx: bool = False,
    ) -> None:
        self.profile = keys.profile
        policy = pylibsrtp.Policy(key=keys.key_and_salt, srtp_profile=_PROFILES[keys.profile])
        if ssrc is None:
            policy.ssrc_type = (
                pylibsrtp.Policy.SSRC_ANY_OUTBOUND
                if outbound
                else pylibsrtp.Policy.SSRC_ANY_INBOUND
            )
        else:
            policy.ssrc_type = pylibsrtp.Policy.SSRC_SPECIFIC
            policy.ssrc_value = ssrc
        policy.window_size = replay_window
        policy.allow_repeat_tx = allow_repeat_tx
        self._session = pylibsrtp.Session(policy=policy)

    def protect(self, packet: bytes) -> bytes:
        """Protect an RTP packet."""
        try:
            return bytes(self._session.protect(packet))
        except (pylibsrtp.Error, ValueError) as exc:
            raise map_libsrtp_error(exc, "RTP", packet, rtcp=False, profile=self.profile) from None

    def unprotect(self, packet: bytes) -> bytes:
        """Verify and decrypt an SRTP packet."""
        try:
            return bytes(self._session.unprotect(packet))
        except (pylibsrtp.Error, ValueError) as exc:
            raise map_libsrtp_error(exc, "SRTP", packet, rtcp=False, profile=self.profile) from None

    def protect_rtcp(self, packet: bytes) -> bytes:
        """Protect an RTCP (compound) packet."""
        try:
            return bytes(self._session.protect_rtcp(packet))
        except (pylibsrtp.Error, ValueError) as exc:
            raise map_libsrtp_error(exc, "RTCP", packet, rtcp=True, profile=self.profile) from None

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        """Verify and decrypt an SRTCP packet."""
        try:
            return bytes(self._session.unprotect_rtcp(packet))
        except (pylibsrtp.Error, ValueError) as exc:
            raise map_libsrtp_error(exc, "SRTCP", packet, rtcp=True, profile=self.profile) from None
