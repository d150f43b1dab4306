"""Per-hop SRTP keys: what one participant's client and the router protect with.

Each participant gets two fresh random master keys: ``client_key`` (the client protects, the
router unprotects) and ``router_key`` (the router protects, the client unprotects). The profile
is AEAD_AES_128_GCM (16-byte key + 12-byte salt). libsrtp is called through ``pylibsrtp``
directly: on the hot path every extra Python layer costs a measurable share of a packet.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pylibsrtp

from router.drops import DropReason

__all__ = ["KEY_LEN", "PROFILE_NAME", "HopCrypto", "HopKeys", "classify_srtp_error"]

#: The only profile the native transport offers for now.
PROFILE_NAME = "AEAD_AES_128_GCM"
#: Master key (16) + master salt (12) bytes.
KEY_LEN = 28


@dataclass(frozen=True, slots=True)
class HopKeys:
    """The two master keys of one client↔router hop (``KEY_LEN`` bytes each)."""

    client_key: bytes
    router_key: bytes

    @classmethod
    def generate(cls) -> HopKeys:
        """Fresh random keys from the OS CSPRNG."""
        return cls(os.urandom(KEY_LEN), os.urandom(KEY_LEN))


def _policy(key: bytes, ssrc_type: int) -> pylibsrtp.Policy:
    if len(key) != KEY_LEN:
        raise ValueError(f"hop key must be {KEY_LEN} bytes, got {len(key)}")
    policy = pylibsrtp.Policy(
        key=key, ssrc_type=ssrc_type, srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM
    )
    return policy


class HopCrypto:
    """The router's side of one hop: an inbound session on ``client_key``, an outbound one on
    ``router_key``.

    The outbound session allows repeated transmission of an index, so a NACKed packet can be
    re-sent byte-identical from the retransmission cache (AEAD of identical plaintext under the
    same index yields identical ciphertext, so nothing leaks).
    """

    __slots__ = ("rx", "tx")

    def __init__(self, keys: HopKeys) -> None:
        self.rx = pylibsrtp.Session(_policy(keys.client_key, pylibsrtp.Policy.SSRC_ANY_INBOUND))
        out = _policy(keys.router_key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        out.allow_repeat_tx = True
        self.tx = pylibsrtp.Session(out)


def classify_srtp_error(exc: Exception) -> DropReason:
    """Map a libsrtp failure to the drop reason it is counted under."""
    msg = str(exc)
    if "replay" in msg or "too old" in msg:
        return DropReason.SRTP_REPLAY
    if "authentication" in msg:
        return DropReason.SRTP_AUTH_FAILED
    return DropReason.SRTP_OTHER
