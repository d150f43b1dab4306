"""Mutable per-participant, per-stream and per-subscription state of the forwarding core.

These are plain slotted classes, not dataclasses: they are created when the control plane
changes something and then only mutated in place on the hot path, where everything a packet
needs is one attribute away (precomputed, no per-packet allocation besides the output bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from router.forwarding.cache import RetransmissionCache
from router.forwarding.hop import HopCrypto, HopKeys
from router.forwarding.speaker import ActiveSpeakerDetector
from router.forwarding.stats import ReceiveStats

__all__ = ["Addr", "Kind", "Participant", "RecordTap", "Stream", "Subscription"]

#: A UDP address as asyncio reports it: (host, port).
Addr = tuple[str, int]
#: Media kind of a published stream.
Kind = Literal["audio", "video"]
#: Called with (plain RTP bytes, now) for every accepted packet of a recorded stream.
RecordTap = Callable[[bytes, float], None]


class Participant:
    """One client of the router: its hop keys, learned address, streams and subscriptions."""

    __slots__ = (
        "addr",
        "any_rtcp_sender",
        "crypto",
        "group",
        "keys",
        "last_seen",
        "pid",
        "router_ssrc",
        "rtcp_ssrc",
        "streams",
        "subs",
    )

    def __init__(
        self, pid: str, keys: HopKeys, rtcp_ssrc: int, router_ssrc: int, group: str = ""
    ) -> None:
        self.pid = pid
        #: The session (speaker detection and last-N work within a group).
        self.group = group
        self.keys = keys
        self.crypto = HopCrypto(keys)
        #: SSRC the client sends its RTCP with (announced at join).
        self.rtcp_ssrc = rtcp_ssrc
        #: SSRC the router uses as RTCP sender towards this client (RR and feedback).
        self.router_ssrc = router_ssrc
        self.addr: Addr | None = None
        #: Accept RTCP whose sender SSRC nobody owns (WebRTC peers report from SSRC 1 or
        #: per-transceiver SSRCs the router never saw); the packet authenticated anyway.
        self.any_rtcp_sender = False
        self.last_seen: float | None = None
        #: Published streams by their SSRC.
        self.streams: dict[int, Stream] = {}
        #: Subscriptions by the router-chosen SSRC the client receives them under.
        self.subs: dict[int, Subscription] = {}


class Stream:
    """One published RTP stream (an SSRC owned by one participant)."""

    __slots__ = (
        "audio_level_id",
        "cache",
        "clock_rate",
        "fir_seq",
        "kind",
        "last_keyframe_request",
        "nack_requested",
        "owner",
        "record",
        "speaker",
        "sr_arrival",
        "sr_ntp",
        "sr_rtp",
        "ssrc",
        "stats",
        "subs",
    )

    def __init__(
        self,
        owner: Participant,
        ssrc: int,
        kind: Kind,
        clock_rate: int,
        audio_level_id: int | None,
        cache_age: float,
    ) -> None:
        self.owner = owner
        self.ssrc = ssrc
        self.kind: Kind = kind
        self.clock_rate = clock_rate
        self.audio_level_id = audio_level_id
        self.stats = ReceiveStats(clock_rate)
        self.cache = RetransmissionCache(cache_age)
        self.subs: list[Subscription] = []
        self.record: RecordTap | None = None
        #: The group's speaker detector when the stream declared the audio-level extension.
        self.speaker: ActiveSpeakerDetector | None = None
        self.last_keyframe_request: float | None = None
        self.fir_seq = 0
        #: Sequence numbers already NACKed upstream, with when (avoid asking twice at once).
        self.nack_requested: dict[int, float] = {}
        #: The publisher's last SR: 64-bit NTP, RTP timestamp, arrival time.
        self.sr_ntp: int | None = None
        self.sr_rtp = 0
        self.sr_arrival = 0.0


class Subscription:
    """One stream forwarded to one subscriber under a router-chosen SSRC.

    ``seq_off``/``ts_off`` map the source's numbers to the subscriber's; when the source
    changes (publisher switch, resume after last-N) ``rebase`` is set and the next packet picks
    offsets that continue the subscriber's sequence and timeline without a jump.
    """

    __slots__ = (
        "active",
        "last_seq",
        "last_time",
        "last_ts",
        "octets",
        "out_ssrc",
        "packets",
        "pt_map",
        "rebase",
        "remote_fraction_lost",
        "remote_jitter",
        "retransmitted",
        "seq_off",
        "started",
        "stream",
        "subscriber",
        "ts_off",
    )

    def __init__(self, subscriber: Participant, stream: Stream, out_ssrc: int) -> None:
        self.subscriber = subscriber
        self.stream = stream
        self.out_ssrc = out_ssrc
        self.seq_off = 0
        self.ts_off = 0
        self.rebase = True
        self.started = False
        self.active = True
        self.last_seq = 0
        self.last_ts = 0
        self.last_time = 0.0
        self.packets = 0
        self.octets = 0
        #: 128 bytes: publisher payload type -> the type this subscriber negotiated (WebRTC
        #: slots), or None to forward the payload type unchanged.
        self.pt_map: bytes | None = None
        self.retransmitted = 0
        self.remote_fraction_lost = 0
        self.remote_jitter = 0
