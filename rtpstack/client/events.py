"""Events the client surfaces to its user.

One small value type, :class:`ClientEvent`, with a ``type`` string and a data mapping, so that
the events the router sends over signaling (``participant_joined``, ``participant_left``,
``stream_created``, ``stream_destroyed``, ``active_speaker``, ...) and the events the client
raises itself (``encryption_secret_mismatch``, ``encryption_secret_match``, ``keyframe_requested``,
``transport_ready``) look the same to an application. The ``type`` names are constants below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACTIVE_SPEAKER",
    "ENCRYPTION_SECRET_MATCH",
    "ENCRYPTION_SECRET_MISMATCH",
    "KEYFRAME_REQUESTED",
    "PARTICIPANT_JOINED",
    "PARTICIPANT_LEFT",
    "STREAM_CREATED",
    "STREAM_DESTROYED",
    "ClientEvent",
]

ENCRYPTION_SECRET_MISMATCH = "encryption_secret_mismatch"
ENCRYPTION_SECRET_MATCH = "encryption_secret_match"
KEYFRAME_REQUESTED = "keyframe_requested"
PARTICIPANT_JOINED = "participant_joined"
PARTICIPANT_LEFT = "participant_left"
STREAM_CREATED = "stream_created"
STREAM_DESTROYED = "stream_destroyed"
ACTIVE_SPEAKER = "active_speaker"


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """Something that happened: ``type`` names it, ``data`` carries its fields."""

    type: str
    data: Mapping[str, Any] = field(default_factory=dict)
    at: float = 0.0
    """The client's clock (seconds) when the event was raised."""

    def get(self, key: str, default: Any = None) -> Any:
        """A field of ``data``, or ``default``."""
        return self.data.get(key, default)
