"""Events a :class:`~rtpstack.e2ee.frames.FrameDecryptor` reports about senders' secrets."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENCRYPTION_SECRET_MATCH", "ENCRYPTION_SECRET_MISMATCH", "SecretEvent"]

#: Frames from a sender stopped authenticating with any secret this receiver holds.
ENCRYPTION_SECRET_MISMATCH = "encryption_secret_mismatch"
#: Frames from a sender that had mismatched authenticate again.
ENCRYPTION_SECRET_MATCH = "encryption_secret_match"


@dataclass(frozen=True, slots=True)
class SecretEvent:
    """``kind`` is one of the two constants above; ``sender_index`` says whose frames."""

    kind: str
    sender_index: int
    kid: int
