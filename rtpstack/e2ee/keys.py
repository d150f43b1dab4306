"""The e2ee key schedule, version 1: from an encryption secret and a session id to SFrame keys.

Written so that a browser (WebCrypto) derives identical keys; only PBKDF2, HKDF, HMAC-SHA-256,
AES-GCM and AES-CTR are used. ``docs/e2ee.md`` is the normative description; in short::

    secret      = NFC(secret), 8..256 code points
    master      = PBKDF2-HMAC-SHA256(UTF-8(secret), UTF-8("rtpstack-e2ee-v1:" + session_id),
                                     600000 iterations, 32 bytes)
    base_key    = HKDF-SHA256(ikm=master, salt=UTF-8("rtpstack-e2ee-v1"),
                              info=UTF-8("rtpstack-e2ee-v1 kid ") || KID as 8 bytes BE, 32 bytes)
    key, salt   = RFC 9605 derive_key_salt(KID, base_key) for the session's cipher suite

    KID         = sender_index << 8 | stream << 4 | epoch      (see :func:`make_kid`)
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rtpstack.errors import SFrameError
from rtpstack.sframe.suites import hkdf_expand, hkdf_extract

__all__ = [
    "EPOCH_BITS",
    "MAX_SECRET_CHARS",
    "MAX_SENDER_INDEX",
    "MIN_SECRET_CHARS",
    "PBKDF2_ITERATIONS",
    "SCHEDULE_VERSION",
    "STREAM_BITS",
    "InvalidSecretError",
    "KidAllocator",
    "KidFields",
    "base_key_for_kid",
    "derive_master_key",
    "make_kid",
    "normalize_secret",
    "random_sender_index",
    "split_kid",
]

#: The version of this key schedule; every label carries it.
SCHEDULE_VERSION = 1
#: PBKDF2-HMAC-SHA256 iterations (OWASP's 2023 figure for PBKDF2-SHA256).
PBKDF2_ITERATIONS = 600_000
MIN_SECRET_CHARS = 8
MAX_SECRET_CHARS = 256
#: KID layout: the low 4 bits are the key epoch, the next 4 the stream, the rest the sender.
EPOCH_BITS = 4
STREAM_BITS = 4
MAX_SENDER_INDEX = (1 << (64 - EPOCH_BITS - STREAM_BITS)) - 1

_SALT_PREFIX = "rtpstack-e2ee-v1:"
_HKDF_SALT = b"rtpstack-e2ee-v1"
_HKDF_INFO = b"rtpstack-e2ee-v1 kid "


class InvalidSecretError(SFrameError):
    """The encryption secret is not a string of 8 to 256 characters."""


def normalize_secret(secret: str) -> str:
    """The secret in Unicode NFC, after checking its length (8 to 256 code points)."""
    if not isinstance(secret, str):
        raise InvalidSecretError("encryption secret must be a string")
    norm = unicodedata.normalize("NFC", secret)
    n = len(norm)
    if not MIN_SECRET_CHARS <= n <= MAX_SECRET_CHARS:
        raise InvalidSecretError(
            f"encryption secret must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters, "
            f"got {n}"
        )
    return norm


def derive_master_key(secret: str, session_id: str) -> bytes:
    """The 32-byte master key of a session for ``secret`` (slow: PBKDF2, cached per pair)."""
    norm = normalize_secret(secret)
    if not isinstance(session_id, str) or not session_id:
        raise ValueError("session id must be a non-empty string")
    return _master(norm, session_id)


@lru_cache(maxsize=16)
def _master(norm_secret: str, session_id: str) -> bytes:
    salt = (_SALT_PREFIX + session_id).encode("utf-8")
    return hashlib.pbkdf2_hmac("sha256", norm_secret.encode("utf-8"), salt, PBKDF2_ITERATIONS, 32)


def base_key_for_kid(master: bytes, kid: int) -> bytes:
    """The SFrame base key of ``kid`` (32 bytes), by HKDF-SHA256 from the master key."""
    if not 0 <= kid < 1 << 64:
        raise ValueError(f"SFrame KID out of range: {kid}")
    prk = hkdf_extract("sha256", _HKDF_SALT, master)
    return hkdf_expand("sha256", prk, _HKDF_INFO + kid.to_bytes(8, "big"), 32)


@dataclass(frozen=True, slots=True)
class KidFields:
    """The parts of a version-1 KID."""

    sender_index: int
    stream: int
    epoch: int


def make_kid(sender_index: int, stream: int, epoch: int) -> int:
    """``sender_index << 8 | stream << 4 | epoch`` (stream and epoch are 0..15, epoch wraps)."""
    if not 0 <= sender_index <= MAX_SENDER_INDEX:
        raise ValueError(f"sender index out of range: {sender_index}")
    if not 0 <= stream < 1 << STREAM_BITS:
        raise ValueError(f"stream index must be 0..{(1 << STREAM_BITS) - 1}, got {stream}")
    epoch &= (1 << EPOCH_BITS) - 1
    return (sender_index << (STREAM_BITS + EPOCH_BITS)) | (stream << EPOCH_BITS) | epoch


def split_kid(kid: int) -> KidFields:
    """The sender index, stream and epoch of a version-1 KID."""
    return KidFields(
        kid >> (STREAM_BITS + EPOCH_BITS),
        (kid >> EPOCH_BITS) & ((1 << STREAM_BITS) - 1),
        kid & ((1 << EPOCH_BITS) - 1),
    )


class KidAllocator:
    """Hands out sender indexes for one session: 1, 2, 3, ... never one twice.

    Whoever admits participants (the signalling side) keeps one per session and gives every
    join - including a rejoin of the same participant - a fresh index. Distinct indexes mean
    distinct KIDs, and so distinct SFrame keys, for every sender of the session.
    """

    __slots__ = ("_next",)

    def __init__(self, first: int = 1) -> None:
        self._next = first

    def allocate(self) -> int:
        """A sender index never handed out before by this allocator."""
        index = self._next
        if index > MAX_SENDER_INDEX:
            raise ValueError("sender indexes exhausted for this session")
        self._next += 1
        return index


def random_sender_index() -> int:
    """A random sender index in [2**32, 2**33), for clients that get none from the session.

    Disjoint from :class:`KidAllocator`'s small numbers; two random ones collide with
    probability 2**-32 per pair, so prefer an allocated index whenever one is available.
    """
    return (1 << 32) | secrets.randbits(32)
