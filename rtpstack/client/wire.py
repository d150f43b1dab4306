"""The few packets a client builds itself, as bytes, without an object per packet.

* :func:`build_rtp`: an RTP packet (RFC 3550) with an optional RFC 6464 audio-level element in
  the one-byte header-extension form (RFC 8285), which stays in clear under SFrame so the
  router can pick the active speaker.
* :func:`read_audio_level`: the audio level of a received packet (via :mod:`rtpstack.fastpath`).

RTCP (RR, NACK, PLI) is built and parsed with :mod:`rtpstack.rtcp`.
"""

from __future__ import annotations

import struct

from rtpstack import fastpath

__all__ = [
    "AUDIO_LEVEL_URI",
    "DEFAULT_AUDIO_LEVEL_ID",
    "build_rtp",
    "read_audio_level",
]

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
DEFAULT_AUDIO_LEVEL_ID = 1

_FIXED = struct.Struct("!BBHII")
_EXT = struct.Struct("!HHBBH")  # profile, length (words), element header, level, padding


def build_rtp(
    payload_type: int,
    marker: bool,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    *,
    audio_level: tuple[bool, int] | None = None,
    audio_level_id: int = DEFAULT_AUDIO_LEVEL_ID,
) -> bytes:
    """An RTP packet; ``audio_level`` is ``(voice_activity, level_dbov)`` or None."""
    if audio_level is None:
        return _FIXED.pack(0x80, (0x80 if marker else 0) | payload_type, sequence_number,
                           timestamp, ssrc) + payload
    voice, level = audio_level
    if not 0 <= level <= 127:
        raise ValueError(f"audio level must be 0..127 -dBov, got {level}")
    head = _FIXED.pack(0x90, (0x80 if marker else 0) | payload_type, sequence_number,
                       timestamp, ssrc)
    ext = _EXT.pack(fastpath.ONE_BYTE_PROFILE, 1, (audio_level_id << 4) | 0,
                    (0x80 if voice else 0) | level, 0)
    return head + ext + payload


def read_audio_level(data: bytes, audio_level_id: int = DEFAULT_AUDIO_LEVEL_ID
                     ) -> tuple[bool, int] | None:
    """``(voice_activity, level)`` from a packet's audio-level element, or None if absent."""
    span = fastpath.find_extension(data, audio_level_id)
    if span is None or span[1] < 1:
        return None
    octet = data[span[0]]
    return bool(octet & 0x80), octet & 0x7F
