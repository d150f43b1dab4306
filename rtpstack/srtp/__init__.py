"""SRTP/SRTCP (RFC 3711, RFC 7714) on libsrtp, with a byte-identical pure-Python twin.

Public API (stable; other packages depend on it)::

    from rtpstack.srtp import SrtpProfile, SrtpKeyingMaterial, SrtpSession

    keys = SrtpKeyingMaterial(SrtpProfile.AEAD_AES_128_GCM, master_key, master_salt)
    keys = SrtpKeyingMaterial.generate()                      # AEAD_AES_128_GCM by default
    tx = SrtpSession(keys)                                    # engine="libsrtp", any SSRC
    rx = SrtpSession(keys, engine="python", ssrc=0x1234, replay_window=1024)
    SrtpSession(keys, engine="auto")                          # libsrtp if installed
    srtp = tx.protect(rtp);          rtp = rx.unprotect(srtp)
    srtcp = tx.protect_rtcp(rtcp);   rtcp = rx.unprotect_rtcp(srtcp)
    tx.rekey(new_keys)                                        # no packet lost in flight

    SrtpSession(local_keys, inbound_keys=remote_keys)         # different key per direction
    parse_crypto_attribute("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:...")  # -> CryptoAttribute
    format_crypto_attribute(1, keys)                          # -> "a=crypto:1 ... inline:..."
    keying_from_dtls_export(material, profile, is_client)     # -> DtlsSrtpKeys(outbound, inbound)

Errors: every failure is an :class:`SrtpError` (a ``ValueError``) of a distinct class:
:class:`SrtpAuthError`, :class:`SrtpReplayError`, :class:`SrtpUnknownSsrcError`,
:class:`SrtpKeyLengthError`, :class:`SrtpMalformedError`, :class:`SrtpKeyExpiredError`,
:class:`SrtpEngineError`. SDES parse errors are :class:`SdesParseError` (an ``SdpParseError``).

Modules: ``profiles`` (profiles, keying material), ``kdf`` (RFC 3711 4.3 key derivation),
``engine_libsrtp`` / ``engine_python`` (the two engines), ``session`` (the facade), ``sdes``
(RFC 4568), ``dtls`` (RFC 5764 key split), ``errors``, ``cli`` (``rtpstack srtp ...``).
"""

from __future__ import annotations

from rtpstack.srtp.dtls import EXPORTER_LABEL, DtlsSrtpKeys, export_length, keying_from_dtls_export
from rtpstack.srtp.errors import (
    SrtpAuthError,
    SrtpEngineError,
    SrtpError,
    SrtpKeyExpiredError,
    SrtpKeyLengthError,
    SrtpMalformedError,
    SrtpReplayError,
    SrtpUnknownSsrcError,
)
from rtpstack.srtp.kdf import SessionKeys, derive_session_keys, srtp_kdf
from rtpstack.srtp.profiles import DEFAULT_PROFILE, SrtpKeyingMaterial, SrtpProfile
from rtpstack.srtp.sdes import (
    CryptoAttribute,
    SdesKeyParam,
    SdesParseError,
    format_crypto_attribute,
    parse_crypto_attribute,
)
from rtpstack.srtp.session import (
    DEFAULT_GRACE_PACKETS,
    DEFAULT_REPLAY_WINDOW,
    EngineName,
    SrtpEngine,
    SrtpSession,
    libsrtp_available,
)

__all__ = [
    "DEFAULT_GRACE_PACKETS",
    "DEFAULT_PROFILE",
    "DEFAULT_REPLAY_WINDOW",
    "EXPORTER_LABEL",
    "CryptoAttribute",
    "DtlsSrtpKeys",
    "EngineName",
    "SdesKeyParam",
    "SdesParseError",
    "SessionKeys",
    "SrtpAuthError",
    "SrtpEngine",
    "SrtpEngineError",
    "SrtpError",
    "SrtpKeyExpiredError",
    "SrtpKeyLengthError",
    "SrtpKeyingMaterial",
    "SrtpMalformedError",
    "SrtpProfile",
    "SrtpReplayError",
    "SrtpSession",
    "SrtpUnknownSsrcError",
    "derive_session_keys",
    "export_length",
    "format_crypto_attribute",
    "keying_from_dtls_export",
    "libsrtp_available",
    "parse_crypto_attribute",
    "srtp_kdf",
]
