"""Why the media plane dropped a packet, and how many times.

Every datagram the router discards is counted under exactly one :class:`DropReason`; the
counters are plain integers in a dict so the hot path pays one dict update per drop, and
:meth:`DropCounters.snapshot` gives ``/metrics`` a stable mapping of reason name to count.
"""

from __future__ import annotations

import enum

__all__ = ["DropCounters", "DropReason"]


class DropReason(enum.Enum):
    """The reason a datagram (or one forwarded copy of it) was not delivered."""

    #: First byte is not RTP/RTCP (STUN, DTLS, TURN or garbage) and no handler takes it.
    NOT_RTP = "not_rtp"
    #: Too short or otherwise not a well-formed RTP packet (checked in clear before SRTP).
    MALFORMED_RTP = "malformed_rtp"
    #: RTCP that is too short or whose compound structure does not parse.
    MALFORMED_RTCP = "malformed_rtcp"
    #: From an address the router does not know, and its SSRC belongs to nobody.
    UNKNOWN_ADDRESS = "unknown_address"
    #: SRTP/SRTCP authentication failed with the sender's hop key (wrong key or forged).
    SRTP_AUTH_FAILED = "srtp_auth_failed"
    #: SRTP/SRTCP replay protection rejected the packet (duplicate or too old).
    SRTP_REPLAY = "srtp_replay"
    #: Any other libsrtp failure while unprotecting.
    SRTP_OTHER = "srtp_other"
    #: Authenticated RTP whose SSRC nobody in the session published.
    UNKNOWN_SSRC = "unknown_ssrc"
    #: Authenticated RTP/RTCP using an SSRC that another participant owns.
    SSRC_HIJACK = "ssrc_hijack"
    #: Authenticated media for a published stream that nobody subscribes to.
    NO_SUBSCRIBERS = "no_subscribers"
    #: A copy not sent because the subscriber's address is not known yet.
    SUBSCRIBER_UNBOUND = "subscriber_unbound"
    #: A video copy not sent because the publisher is outside the last-N set.
    LAST_N = "last_n"
    #: A copy that failed to protect with the subscriber's hop key.
    PROTECT_FAILED = "protect_failed"
    #: A key-frame request suppressed by the per-stream rate limit.
    KEYFRAME_RATE_LIMITED = "keyframe_rate_limited"
    #: RTCP feedback about an SSRC that is not one of the sender's subscriptions.
    FEEDBACK_UNKNOWN_SSRC = "feedback_unknown_ssrc"
    #: The OS refused to send (buffer full, unreachable).
    SEND_FAILED = "send_failed"
    #: The recorder could not write a packet.
    RECORD_FAILED = "record_failed"


class DropCounters:
    """One integer counter per :class:`DropReason` (all present, starting at zero)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[DropReason, int] = dict.fromkeys(DropReason, 0)

    def add(self, reason: DropReason, n: int = 1) -> None:
        """Count ``n`` drops for ``reason``."""
        self.counts[reason] += n

    def __getitem__(self, reason: DropReason) -> int:
        return self.counts[reason]

    def total(self) -> int:
        """All drops, every reason together."""
        return sum(self.counts.values())

    def snapshot(self) -> dict[str, int]:
        """Reason name (the enum value, e.g. ``"ssrc_hijack"``) to count, for metrics."""
        return {reason.value: n for reason, n in self.counts.items()}
