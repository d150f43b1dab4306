"""Synthetic media sources: frames of realistic sizes and timing, without a codec.

A source is sans-IO and deterministic: ``frame(index)`` returns the ``index``-th frame, with its
RTP timestamp, the wall-clock offset at which it is due, whether it is a key frame and the audio
level to put in the clear header extension. A publisher loop asks for frames that are due at
``now``; nothing here reads a clock.

Sizes follow what real encoders produce, so that packet counts and rates through the router look
like a call's:

* audio: Opus-like, one frame every 20 ms (50 frames/s), ~100 bytes, 48 kHz RTP clock;
* video: ``fps`` frames/s at ``bitrate`` bits/s, 90 kHz RTP clock, a key frame every
  ``keyframe_interval`` frames about four times the size of a delta frame. The packetizer splits
  each (encrypted) frame into packets of at most 1,200 bytes.

The payload bytes encode the source's label and frame index, so a receiver that decrypts a frame
can check which frame it got (:func:`frame_label`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "AudioSource",
    "FrameSource",
    "MediaKind",
    "SyntheticFrame",
    "VideoSource",
    "frame_label",
]

MediaKind = Literal["audio", "video"]

_LABEL = struct.Struct("!4sI")  # magic, frame index
_MAGIC = b"RSF1"


@dataclass(frozen=True, slots=True)
class SyntheticFrame:
    """One encoded media frame (before end-to-end encryption)."""

    kind: MediaKind
    index: int
    timestamp: int
    """RTP timestamp of the frame (media clock units, not yet offset by the sender)."""
    due: float
    """Seconds after the source started at which the frame is due."""
    keyframe: bool
    audio_level: int
    """RFC 6464 level in -dBov (0 loudest .. 127 silence); only meaningful for audio."""
    voice: bool
    data: bytes


class FrameSource(Protocol):
    """What a publisher needs from a source of frames (synthetic or from a capture)."""

    @property
    def fps(self) -> float:
        """Average frames per second (used to bound send loops)."""
        ...

    def frame(self, index: int, *, force_keyframe: bool = False) -> SyntheticFrame:
        """The ``index``-th frame; ``force_keyframe`` asks for a key frame (after a PLI)."""
        ...


def _payload(index: int, size: int) -> bytes:
    head = _LABEL.pack(_MAGIC, index)
    if size <= len(head):
        return head[:size]
    filler = bytes((index + i) & 0xFF for i in range(min(64, size - len(head))))
    body = (filler * ((size - len(head)) // max(1, len(filler)) + 1))[: size - len(head)]
    return head + body


def frame_label(data: bytes) -> int | None:
    """The frame index a synthetic frame's payload carries, or None if it is not one of ours."""
    if len(data) < _LABEL.size:
        return None
    magic, index = _LABEL.unpack_from(data)
    return int(index) if magic == _MAGIC else None


@dataclass(frozen=True, slots=True)
class AudioSource:
    """Opus-like audio: ``frame_bytes`` per frame every ``ptime`` seconds on a 48 kHz clock.

    The audio level follows a slow talk/pause pattern when ``talking`` is True, and stays at
    silence (127) otherwise, so active-speaker detection has something to see.
    """

    frame_bytes: int = 100
    ptime: float = 0.020
    clock_rate: int = 48_000
    talking: bool = True

    @property
    def fps(self) -> float:
        """Frames per second."""
        return 1.0 / self.ptime

    def frame(self, index: int, *, force_keyframe: bool = False) -> SyntheticFrame:
        """The ``index``-th frame (0-based); every audio frame stands alone (a key frame)."""
        if index < 0:
            raise ValueError(f"frame index must be >= 0, got {index}")
        if self.talking:
            level = 20 + (index * 7) % 25  # -20 .. -44 dBov: speech
            voice = True
        else:
            level = 127
            voice = False
        return SyntheticFrame(
            kind="audio",
            index=index,
            timestamp=round(index * self.ptime * self.clock_rate),
            due=index * self.ptime,
            keyframe=True,
            audio_level=level,
            voice=voice,
            data=_payload(index, self.frame_bytes),
        )


@dataclass(frozen=True, slots=True)
class VideoSource:
    """Video frames at ``bitrate`` bits/s and ``fps`` frames/s on a 90 kHz clock.

    A key frame every ``keyframe_interval`` frames is ``keyframe_ratio`` times a delta frame; the
    average over one interval matches ``bitrate``. A publisher answering a PLI asks for
    ``frame(index, force_keyframe=True)``.
    """

    bitrate: int = 300_000
    fps: float = 30.0
    clock_rate: int = 90_000
    keyframe_interval: int = 60
    keyframe_ratio: float = 4.0

    def sizes(self) -> tuple[int, int]:
        """(key frame bytes, delta frame bytes) for the configured bitrate."""
        per_interval = self.bitrate / 8.0 * self.keyframe_interval / self.fps
        delta = per_interval / (self.keyframe_interval - 1 + self.keyframe_ratio)
        return max(1, round(delta * self.keyframe_ratio)), max(1, round(delta))

    def frame(self, index: int, *, force_keyframe: bool = False) -> SyntheticFrame:
        """The ``index``-th frame (0-based); ``force_keyframe`` makes it a key frame."""
        if index < 0:
            raise ValueError(f"frame index must be >= 0, got {index}")
        key = force_keyframe or index % self.keyframe_interval == 0
        key_bytes, delta_bytes = self.sizes()
        return SyntheticFrame(
            kind="video",
            index=index,
            timestamp=round(index * self.clock_rate / self.fps),
            due=index / self.fps,
            keyframe=key,
            audio_level=127,
            voice=False,
            data=_payload(index, key_bytes if key else delta_bytes),
        )
