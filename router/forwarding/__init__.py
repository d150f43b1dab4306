"""The router's sans-IO forwarding core and its parts (hop keys, statistics, cache, speaker).

Bytes and ``now`` in, datagrams and events out; the asyncio adapter lives in
:mod:`router.transport`, the glue to the control plane in :mod:`router.media`.
"""

from __future__ import annotations

from router.forwarding.cache import RetransmissionCache
from router.forwarding.core import (
    ActiveSpeakerChanged,
    AddressBound,
    CoreEvent,
    Datagram,
    ForwardingConfigError,
    ForwardingCore,
)
from router.forwarding.hop import KEY_LEN, PROFILE_NAME, HopCrypto, HopKeys
from router.forwarding.model import Addr, Participant, Stream, Subscription
from router.forwarding.speaker import ActiveSpeakerDetector
from router.forwarding.stats import ReceiveStats

__all__ = [
    "KEY_LEN",
    "PROFILE_NAME",
    "ActiveSpeakerChanged",
    "ActiveSpeakerDetector",
    "Addr",
    "AddressBound",
    "CoreEvent",
    "Datagram",
    "ForwardingConfigError",
    "ForwardingCore",
    "HopCrypto",
    "HopKeys",
    "Participant",
    "ReceiveStats",
    "RetransmissionCache",
    "Stream",
    "Subscription",
]
