"""Type stub of the optional C forwarding path (``_fastfwd.c``)."""

from collections.abc import Callable
from typing import Any

import pylibsrtp

__all__ = ["RECV_BATCH", "Forwarder", "RtpContext", "SrtpFailure"]

#: Datagrams one ``recvmmsg`` call reads at most.
RECV_BATCH: int

class SrtpFailure(pylibsrtp.Error):
    """An SRTP failure with libsrtp's message."""

class RtpContext:
    """SRTP for RTP with libsrtp's replay database, per SSRC.

    AEAD_AES_128_GCM with (key, salt); AES_CM_128_HMAC_SHA1_80/32 with (key, 14-byte salt,
    auth_key, tag_len 10 or 4).
    """

    def __init__(
        self, key: bytes, salt: bytes, auth_key: bytes = b"", tag_len: int = 16
    ) -> None: ...
    def unprotect(self, data: bytes) -> bytes: ...
    def protect(self, plain: bytes) -> bytes: ...
    def protect_rewritten(self, plain: bytes, seq: int, ts: int, ssrc: int) -> bytes: ...
    def highest_index(self, ssrc: int) -> int | None: ...

class Forwarder:
    """The router's RTP fast path over one UDP socket (recvmmsg/sendmmsg)."""

    def __init__(
        self,
        core: Any,
        fd: int,
        slow: Callable[[bytes, tuple[str, int]], None],
        send_py: Callable[[list[tuple[bytes, tuple[str, int]]]], None],
        route: dict[tuple[str, int], int] | None,
        reasons: tuple[Any, Any, Any],
        classes: tuple[type, type] | None = None,
    ) -> None: ...
    def drain(self, now: float, max_batches: int) -> int: ...
    def stats(self) -> dict[str, int]: ...
