"""SRTP key derivation: RFC 3711 section 4.3 (AES-CM PRF), as used by RFC 7714 for AES-GCM.

For label ``l`` and packet index ``i`` with key derivation rate ``kdr``::

    r      = i DIV kdr            (r = 0 when kdr = 0, the rate every deployment uses)
    key_id = l (8 bits) || r (48 bits)
    x      = key_id XOR master_salt            (both right-aligned in 112 bits)
    out    = first n bytes of AES-CM(master_key, IV = x * 2^16)

An AEAD profile's 96-bit master salt is padded with 16 zero bits on the right to make the
112-bit ``master_salt`` (RFC 7714 section 11), which is what libsrtp does. AES-256 master keys
use AES-256 as the PRF (RFC 6188).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from rtpstack.srtp.profiles import SrtpKeyingMaterial, SrtpProfile

__all__ = [
    "LABEL_RTCP_AUTH",
    "LABEL_RTCP_ENCRYPTION",
    "LABEL_RTCP_SALT",
    "LABEL_RTP_AUTH",
    "LABEL_RTP_ENCRYPTION",
    "LABEL_RTP_SALT",
    "SessionKeys",
    "derive_session_keys",
    "srtp_kdf",
]

LABEL_RTP_ENCRYPTION = 0x00
LABEL_RTP_AUTH = 0x01
LABEL_RTP_SALT = 0x02
LABEL_RTCP_ENCRYPTION = 0x03
LABEL_RTCP_AUTH = 0x04
LABEL_RTCP_SALT = 0x05

_INDEX_LIMIT = 1 << 48


def srtp_kdf(
    master_key: bytes,
    master_salt: bytes,
    label: int,
    length: int,
    *,
    index: int = 0,
    kdr: int = 0,
) -> bytes:
    """Derive ``length`` bytes for ``label`` (RFC 3711 section 4.3.1).

    ``kdr`` is the key derivation rate: 0, or a power of two from 1 to 2**24. ``index`` is the
    48-bit packet index (SRTP) or 31-bit SRTCP index; it matters only when ``kdr`` is not 0.
    """
    if len(master_key) not in (16, 24, 32):
        raise ValueError(f"master key must be 16, 24 or 32 bytes, got {len(master_key)}")
    if len(master_salt) > 14:
        raise ValueError(f"master salt must be at most 14 bytes, got {len(master_salt)}")
    if not 0 <= label <= 0xFF:
        raise ValueError(f"label must be one byte, got {label}")
    if kdr != 0 and (kdr & (kdr - 1) != 0 or kdr > 1 << 24):
        raise ValueError(f"key derivation rate must be 0 or a power of two <= 2^24, got {kdr}")
    if not 0 <= index < _INDEX_LIMIT:
        raise ValueError(f"packet index must be a 48-bit value, got {index}")
    r = index // kdr if kdr else 0
    salt = int.from_bytes(master_salt.ljust(14, b"\x00"), "big")
    x = salt ^ ((label << 48) | r)
    iv = (x << 16).to_bytes(16, "big")
    encryptor = Cipher(algorithms.AES(master_key), modes.CTR(iv)).encryptor()
    return encryptor.update(bytes(length)) + encryptor.finalize()


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The six session keys of one SRTP context (auth keys are empty for AEAD profiles)."""

    profile: SrtpProfile
    rtp_key: bytes = field(repr=False)
    rtp_salt: bytes = field(repr=False)
    rtp_auth_key: bytes = field(repr=False)
    rtcp_key: bytes = field(repr=False)
    rtcp_salt: bytes = field(repr=False)
    rtcp_auth_key: bytes = field(repr=False)


def derive_session_keys(keys: SrtpKeyingMaterial) -> SessionKeys:
    """Derive all session keys of ``keys`` with key derivation rate 0 (what libsrtp does)."""
    p = keys.profile
    mk, ms = keys.master_key, keys.master_salt

    def d(label: int, n: int) -> bytes:
        return srtp_kdf(mk, ms, label, n) if n else b""

    return SessionKeys(
        profile=p,
        rtp_key=d(LABEL_RTP_ENCRYPTION, p.key_length),
        rtp_salt=d(LABEL_RTP_SALT, p.salt_length),
        rtp_auth_key=d(LABEL_RTP_AUTH, p.auth_key_length),
        rtcp_key=d(LABEL_RTCP_ENCRYPTION, p.key_length),
        rtcp_salt=d(LABEL_RTCP_SALT, p.salt_length),
        rtcp_auth_key=d(LABEL_RTCP_AUTH, p.auth_key_length),
    )
