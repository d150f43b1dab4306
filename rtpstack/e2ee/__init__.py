"""End-to-end encryption for a session: keys from the encryption secret, SFrame per frame.

* :class:`FrameEncryptor` / :class:`FrameDecryptor` - what a client uses
  (:mod:`rtpstack.e2ee.frames`);
* :mod:`rtpstack.e2ee.keys` - the versioned key schedule (secret + session id -> KID keys),
  the KID layout and :class:`KidAllocator`;
* :class:`SecretEvent` with :data:`ENCRYPTION_SECRET_MISMATCH` / :data:`ENCRYPTION_SECRET_MATCH`.

The router never imports this package: it carries ciphertext only.
"""

from __future__ import annotations

from rtpstack.e2ee.events import ENCRYPTION_SECRET_MATCH, ENCRYPTION_SECRET_MISMATCH, SecretEvent
from rtpstack.e2ee.frames import DecryptedFrame, FrameDecryptor, FrameEncryptor
from rtpstack.e2ee.keys import (
    PBKDF2_ITERATIONS,
    SCHEDULE_VERSION,
    InvalidSecretError,
    KidAllocator,
    base_key_for_kid,
    derive_master_key,
    make_kid,
    normalize_secret,
    random_sender_index,
    split_kid,
)

__all__ = [
    "ENCRYPTION_SECRET_MATCH",
    "ENCRYPTION_SECRET_MISMATCH",
    "PBKDF2_ITERATIONS",
    "SCHEDULE_VERSION",
    "DecryptedFrame",
    "FrameDecryptor",
    "FrameEncryptor",
    "InvalidSecretError",
    "KidAllocator",
    "SecretEvent",
    "base_key_for_kid",
    "derive_master_key",
    "make_kid",
    "normalize_secret",
    "random_sender_index",
    "split_kid",
]
