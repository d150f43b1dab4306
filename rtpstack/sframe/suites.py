"""RFC 9605 cipher suites (section 4.5, table in 8.1) and key derivation (4.4.2, 5.1).

HKDF (RFC 5869) is written out on :func:`hmac.digest` so that each step is plainly the one the
RFC names; it is used only when a key is installed, never per frame.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from rtpstack.sframe.errors import UnknownCipherSuiteError

__all__ = [
    "AES_128_CTR_HMAC_SHA256_32",
    "AES_128_CTR_HMAC_SHA256_64",
    "AES_128_CTR_HMAC_SHA256_80",
    "AES_128_GCM_SHA256_128",
    "AES_256_GCM_SHA512_128",
    "EXTRA_SUITES",
    "SUITES",
    "CipherSuite",
    "derive_key_salt",
    "get_suite",
    "hkdf_expand",
    "hkdf_extract",
    "make_nonce",
    "ratchet_base_key",
]


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """One SFrame cipher suite: its number and the sizes RFC 9605 gives it."""

    value: int
    name: str
    hash_name: str  # "sha256" or "sha512", for HKDF (and the HMAC of the CTR suites)
    nh: int  # hash output size
    nk: int  # key size (for CTR suites: encryption key + authentication key)
    nn: int  # nonce size
    nt: int  # tag size
    nka: int  # AES key size of the CTR suites (0 for GCM)

    @property
    def is_ctr(self) -> bool:
        """True for the AES-CTR + HMAC suites (1 to 3, and the extra 6 to 8)."""
        return self.nka > 0


AES_128_CTR_HMAC_SHA256_80 = CipherSuite(
    1, "AES_128_CTR_HMAC_SHA256_80", "sha256", 32, 48, 12, 10, 16
)
AES_128_CTR_HMAC_SHA256_64 = CipherSuite(
    2, "AES_128_CTR_HMAC_SHA256_64", "sha256", 32, 48, 12, 8, 16
)
AES_128_CTR_HMAC_SHA256_32 = CipherSuite(
    3, "AES_128_CTR_HMAC_SHA256_32", "sha256", 32, 48, 12, 4, 16
)
AES_128_GCM_SHA256_128 = CipherSuite(4, "AES_128_GCM_SHA256_128", "sha256", 32, 16, 12, 16, 0)
AES_256_GCM_SHA512_128 = CipherSuite(5, "AES_256_GCM_SHA512_128", "sha512", 64, 32, 12, 16, 0)

#: The five suites of RFC 9605, by number.
SUITES: dict[int, CipherSuite] = {
    s.value: s
    for s in (
        AES_128_CTR_HMAC_SHA256_80,
        AES_128_CTR_HMAC_SHA256_64,
        AES_128_CTR_HMAC_SHA256_32,
        AES_128_GCM_SHA256_128,
        AES_256_GCM_SHA512_128,
    )
}


#: Post-RFC suites from the working group's main branch (AES-256-CTR + HMAC-SHA512, tags of
#: 80/64/32 bits). Not part of RFC 9605: supported as an extra, kept out of :data:`SUITES`.
EXTRA_SUITES: dict[int, CipherSuite] = {
    n: CipherSuite(n, f"AES_256_CTR_HMAC_SHA512_{nt * 8}", "sha512", 64, 96, 12, nt, 32)
    for n, nt in ((6, 10), (7, 8), (8, 4))
}


def get_suite(suite: int | CipherSuite) -> CipherSuite:
    """The :class:`CipherSuite` for a suite number (or the suite itself), 1-5 or 6-8."""
    if isinstance(suite, CipherSuite):
        return suite
    try:
        return SUITES[suite] if suite in SUITES else EXTRA_SUITES[suite]
    except KeyError:
        raise UnknownCipherSuiteError(f"unknown SFrame cipher suite: {suite}") from None


def hkdf_extract(hash_name: str, salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869 2.2). An empty salt is a hash-length string of zeros."""
    return hmac.digest(salt, ikm, hash_name)


def hkdf_expand(hash_name: str, prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand (RFC 5869 2.3)."""
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes((counter,)), hash_name)
        out += block
        counter += 1
    return out[:length]


def derive_key_salt(suite: int | CipherSuite, kid: int, base_key: bytes) -> tuple[bytes, bytes]:
    """``(sframe_key, sframe_salt)`` for ``kid`` from ``base_key`` (RFC 9605 section 4.4.2)."""
    cs = get_suite(suite)
    if not 0 <= kid < 1 << 64:
        raise ValueError(f"SFrame KID out of range: {kid}")
    secret = hkdf_extract(cs.hash_name, b"", base_key)
    tail = kid.to_bytes(8, "big") + cs.value.to_bytes(2, "big")
    key = hkdf_expand(cs.hash_name, secret, b"SFrame 1.0 Secret key " + tail, cs.nk)
    salt = hkdf_expand(cs.hash_name, secret, b"SFrame 1.0 Secret salt " + tail, cs.nn)
    return key, salt


def ratchet_base_key(suite: int | CipherSuite, base_key: bytes) -> bytes:
    """The next base key in a ratchet (RFC 9605 section 5.1)."""
    cs = get_suite(suite)
    secret = hkdf_extract(cs.hash_name, b"", base_key)
    return hkdf_expand(cs.hash_name, secret, b"SFrame 1.0 Ratchet", cs.nh)


def make_nonce(salt: bytes, ctr: int) -> bytes:
    """The AEAD nonce for counter ``ctr``: ``salt`` XOR the big-endian counter (4.4.3)."""
    return (int.from_bytes(salt, "big") ^ ctr).to_bytes(len(salt), "big")
