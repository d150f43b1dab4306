"""SRTP protection profiles and master keying material.

Four profiles are supported, the ones WebRTC and SDES peers negotiate (RFC 3711, RFC 5764,
RFC 7714). ``AEAD_AES_128_GCM`` is the project default.

=========================  =====  ======  =======  ========  ===========================
profile                    key    salt    RTP tag  RTCP tag  DTLS-SRTP (RFC 5764/7714)
=========================  =====  ======  =======  ========  ===========================
AES_CM_128_HMAC_SHA1_80    16     14      10       10        SRTP_AES128_CM_SHA1_80 (1)
AES_CM_128_HMAC_SHA1_32    16     14      4        10 [#]_   SRTP_AES128_CM_SHA1_32 (2)
AEAD_AES_128_GCM           16     12      16       16        SRTP_AEAD_AES_128_GCM (7)
AEAD_AES_256_GCM           32     12      16       16        SRTP_AEAD_AES_256_GCM (8)
=========================  =====  ======  =======  ========  ===========================

.. [#] RFC 5764 section 4.1.2: SRTCP keeps the 80-bit tag under the ``_32`` profile.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field

from rtpstack.srtp.errors import SrtpKeyLengthError

__all__ = ["DEFAULT_PROFILE", "SrtpKeyingMaterial", "SrtpProfile"]


class SrtpProfile(enum.Enum):
    """An SRTP protection profile; the value is its RFC 4568 / RFC 7714 SDES suite name."""

    AES_CM_128_HMAC_SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
    AES_CM_128_HMAC_SHA1_32 = "AES_CM_128_HMAC_SHA1_32"
    AEAD_AES_128_GCM = "AEAD_AES_128_GCM"
    AEAD_AES_256_GCM = "AEAD_AES_256_GCM"

    @property
    def key_length(self) -> int:
        """Master (and session) encryption key length in bytes."""
        return _SPECS[self][0]

    @property
    def salt_length(self) -> int:
        """Master (and session) salt length in bytes."""
        return _SPECS[self][1]

    @property
    def rtp_tag_length(self) -> int:
        """Authentication tag length of SRTP packets in bytes."""
        return _SPECS[self][2]

    @property
    def rtcp_tag_length(self) -> int:
        """Authentication tag length of SRTCP packets in bytes."""
        return _SPECS[self][3]

    @property
    def is_aead(self) -> bool:
        """True for the AES-GCM profiles (RFC 7714), False for AES-CM + HMAC-SHA1."""
        return self.salt_length == 12

    @property
    def auth_key_length(self) -> int:
        """HMAC-SHA1 session key length (20), or 0 for the AEAD profiles."""
        return 0 if self.is_aead else 20

    @property
    def sdes_name(self) -> str:
        """The crypto-suite name in an SDES ``a=crypto`` line."""
        return self.value

    @property
    def dtls_name(self) -> str:
        """The DTLS-SRTP protection profile name (as OpenSSL spells it)."""
        return _SPECS[self][4]

    @property
    def dtls_id(self) -> int:
        """The DTLS-SRTP protection profile identifier of the use_srtp extension."""
        return _SPECS[self][5]

    @classmethod
    def from_name(cls, name: str) -> SrtpProfile:
        """Look a profile up by SDES suite name or DTLS profile name (case-insensitive)."""
        upper = name.strip().upper()
        for profile in cls:
            if upper in (profile.value, profile.dtls_name):
                return profile
        raise ValueError(f"unknown SRTP profile: {name!r}")

    @classmethod
    def from_dtls_id(cls, dtls_id: int) -> SrtpProfile:
        """Look a profile up by its DTLS-SRTP protection profile identifier."""
        for profile in cls:
            if profile.dtls_id == dtls_id:
                return profile
        raise ValueError(f"unknown DTLS-SRTP protection profile id: 0x{dtls_id:04x}")


# key, salt, rtp tag, rtcp tag, dtls name, dtls id
_SPECS: dict[SrtpProfile, tuple[int, int, int, int, str, int]] = {
    SrtpProfile.AES_CM_128_HMAC_SHA1_80: (16, 14, 10, 10, "SRTP_AES128_CM_SHA1_80", 0x0001),
    SrtpProfile.AES_CM_128_HMAC_SHA1_32: (16, 14, 4, 10, "SRTP_AES128_CM_SHA1_32", 0x0002),
    SrtpProfile.AEAD_AES_128_GCM: (16, 12, 16, 16, "SRTP_AEAD_AES_128_GCM", 0x0007),
    SrtpProfile.AEAD_AES_256_GCM: (32, 12, 16, 16, "SRTP_AEAD_AES_256_GCM", 0x0008),
}

DEFAULT_PROFILE = SrtpProfile.AEAD_AES_128_GCM


@dataclass(frozen=True, slots=True)
class SrtpKeyingMaterial:
    """A master key and master salt for one profile (the input of the RFC 3711 KDF).

    Raises :class:`~rtpstack.srtp.errors.SrtpKeyLengthError` when a length does not fit the
    profile. The key bytes are left out of ``repr()`` so that logs do not leak them.
    """

    profile: SrtpProfile
    master_key: bytes = field(repr=False)
    master_salt: bytes = field(repr=False)

    def __post_init__(self) -> None:
        p = self.profile
        if len(self.master_key) != p.key_length:
            raise SrtpKeyLengthError(
                f"{p.value} needs a {p.key_length}-byte master key, got {len(self.master_key)}"
            )
        if len(self.master_salt) != p.salt_length:
            raise SrtpKeyLengthError(
                f"{p.value} needs a {p.salt_length}-byte master salt, got {len(self.master_salt)}"
            )

    @property
    def key_and_salt(self) -> bytes:
        """``master_key || master_salt``: the SDES ``inline:`` value and libsrtp's key."""
        return self.master_key + self.master_salt

    @classmethod
    def from_key_and_salt(cls, profile: SrtpProfile, data: bytes) -> SrtpKeyingMaterial:
        """Split ``master_key || master_salt`` (exactly key + salt bytes long)."""
        want = profile.key_length + profile.salt_length
        if len(data) != want:
            raise SrtpKeyLengthError(
                f"{profile.value} needs {want} bytes of key||salt, got {len(data)}"
            )
        return cls(profile, data[: profile.key_length], data[profile.key_length :])

    @classmethod
    def generate(cls, profile: SrtpProfile = DEFAULT_PROFILE) -> SrtpKeyingMaterial:
        """Fresh random keying material from the operating system's CSPRNG."""
        return cls(
            profile,
            secrets.token_bytes(profile.key_length),
            secrets.token_bytes(profile.salt_length),
        )
