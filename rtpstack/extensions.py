"""Typed codecs for the RTP header extension elements a router needs.

Each codec turns an element value (the octets after the RFC 8285 element header) into a
Python value and back, and carries its standard URI (what ``a=extmap`` announces):

============================  ================================================================
codec                         URI
============================  ================================================================
:data:`MID`                   ``urn:ietf:params:rtp-hdrext:sdes:mid`` (RFC 9143)
:data:`RID`                   ``urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id`` (RFC 8852)
:data:`REPAIRED_RID`          ``urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id``
:data:`ABS_SEND_TIME`         ``http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time``
:data:`TRANSPORT_CC`          ``http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01``
:data:`AUDIO_LEVEL`           ``urn:ietf:params:rtp-hdrext:ssrc-audio-level`` (RFC 6464)
:data:`VIDEO_ORIENTATION`     ``urn:3gpp:video-orientation`` (3GPP TS 26.114)
:data:`PLAYOUT_DELAY`         ``http://www.webrtc.org/experiments/rtp-hdrext/playout-delay``
:data:`ABS_CAPTURE_TIME`      ``http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time``
============================  ================================================================

Decoding rules: a value shorter than the element's size raises
:class:`~rtpstack.errors.RtpParseError` (``"{name} element needs {n} octets, got {m}"``);
octets after a fixed-size value are ignored, as libwebrtc and pion do. Text elements (MID,
RID) must be 1-255 octets of UTF-8 (RID: alphanumerics, ``-`` and ``_``, RFC 8851).
Encoding checks ranges and raises ``ValueError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rtpstack.errors import RtpParseError

__all__ = [
    "ABS_CAPTURE_TIME",
    "ABS_SEND_TIME",
    "AUDIO_LEVEL",
    "CODECS",
    "MID",
    "PLAYOUT_DELAY",
    "REPAIRED_RID",
    "RID",
    "TRANSPORT_CC",
    "VIDEO_ORIENTATION",
    "AbsoluteCaptureTime",
    "AudioLevel",
    "ExtensionCodec",
    "PlayoutDelay",
    "VideoOrientation",
    "abs_send_time_from_seconds",
    "abs_send_time_to_seconds",
    "codec_for_uri",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ExtensionCodec(Generic[T]):
    """Encode/decode one kind of header extension element; ``uri`` is its extmap URI."""

    name: str
    uri: str
    _decode: Callable[[bytes], T]
    _encode: Callable[[T], bytes]

    def decode(self, value: bytes) -> T:
        """Decode an element value; raises :class:`RtpParseError`."""
        return self._decode(value)

    def encode(self, value: T) -> bytes:
        """Encode a value to element octets; raises ``ValueError`` when out of range."""
        return self._encode(value)


def _need(name: str, value: bytes, n: int) -> None:
    if len(value) < n:
        raise RtpParseError(f"{name} element needs {n} octets, got {len(value)}")


# --- SDES text items (MID, RID, repaired RID) -------------------------------------------

_RID_RE = re.compile(r"[A-Za-z0-9_-]+")


def _text_codec(name: str, uri: str, rid_syntax: bool) -> ExtensionCodec[str]:
    def decode(value: bytes) -> str:
        if not 1 <= len(value) <= 255:
            raise RtpParseError(f"{name} element needs 1-255 octets, got {len(value)}")
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise RtpParseError(f"{name} element is not UTF-8") from None
        if rid_syntax and not _RID_RE.fullmatch(text):
            raise RtpParseError(f"{name} element {text!r} is not a valid RID")
        return text

    def encode(text: str) -> bytes:
        raw = text.encode("utf-8")
        if not 1 <= len(raw) <= 255:
            raise ValueError(f"{name} must be 1-255 octets of UTF-8, not {len(raw)}")
        if rid_syntax and not _RID_RE.fullmatch(text):
            raise ValueError(f"{name} {text!r} is not a valid RID")
        return raw

    return ExtensionCodec(name, uri, decode, encode)


MID = _text_codec("mid", "urn:ietf:params:rtp-hdrext:sdes:mid", False)
RID = _text_codec("rid", "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", True)
REPAIRED_RID = _text_codec(
    "repaired-rid", "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id", True
)


# --- abs-send-time: 24-bit 6.18 fixed-point seconds ----------------------------------------


def _dec_abs_send_time(value: bytes) -> int:
    _need("abs-send-time", value, 3)
    return int.from_bytes(value[:3], "big")


def _enc_abs_send_time(v: int) -> bytes:
    if not 0 <= v <= 0xFFFFFF:
        raise ValueError(f"abs-send-time {v} is not a 24-bit value")
    return v.to_bytes(3, "big")


ABS_SEND_TIME: ExtensionCodec[int] = ExtensionCodec(
    "abs-send-time",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    _dec_abs_send_time,
    _enc_abs_send_time,
)


def abs_send_time_to_seconds(v: int) -> float:
    """The 6.18 fixed-point value as seconds (modulo 64 s)."""
    return v / (1 << 18)


def abs_send_time_from_seconds(seconds: float) -> int:
    """Seconds (any size; taken modulo 64 s) as the 24-bit 6.18 fixed-point value."""
    return round(seconds * (1 << 18)) & 0xFFFFFF


# --- transport-wide sequence number ----------------------------------------------------------


def _dec_twcc(value: bytes) -> int:
    _need("transport-cc", value, 2)
    return (value[0] << 8) | value[1]


def _enc_twcc(v: int) -> bytes:
    if not 0 <= v <= 0xFFFF:
        raise ValueError(f"transport-wide sequence number {v} is not a 16-bit value")
    return v.to_bytes(2, "big")


TRANSPORT_CC: ExtensionCodec[int] = ExtensionCodec(
    "transport-cc",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    _dec_twcc,
    _enc_twcc,
)


# --- audio level (RFC 6464) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioLevel:
    """RFC 6464 client-to-mixer audio level: ``level`` is -dBov (0 loudest, 127 silence)."""

    voice: bool
    level: int


def _dec_audio_level(value: bytes) -> AudioLevel:
    _need("audio-level", value, 1)
    b = value[0]
    return AudioLevel(b >= 0x80, b & 0x7F)


def _enc_audio_level(v: AudioLevel) -> bytes:
    if not 0 <= v.level <= 127:
        raise ValueError(f"audio level {v.level} is not in 0..127")
    return bytes(((0x80 if v.voice else 0) | v.level,))


AUDIO_LEVEL: ExtensionCodec[AudioLevel] = ExtensionCodec(
    "audio-level", "urn:ietf:params:rtp-hdrext:ssrc-audio-level", _dec_audio_level, _enc_audio_level
)


# --- video orientation (CVO, 3GPP TS 26.114 7.4.5) ------------------------------------------


@dataclass(frozen=True, slots=True)
class VideoOrientation:
    """Coordination of video orientation: ``rotation`` in degrees (0, 90, 180, 270)."""

    camera: bool
    flip: bool
    rotation: int


def _dec_cvo(value: bytes) -> VideoOrientation:
    _need("video-orientation", value, 1)
    b = value[0]
    return VideoOrientation(bool(b & 0x08), bool(b & 0x04), (b & 0x03) * 90)


def _enc_cvo(v: VideoOrientation) -> bytes:
    if v.rotation not in (0, 90, 180, 270):
        raise ValueError(f"rotation {v.rotation} is not 0, 90, 180 or 270")
    return bytes(((0x08 if v.camera else 0) | (0x04 if v.flip else 0) | v.rotation // 90,))


VIDEO_ORIENTATION: ExtensionCodec[VideoOrientation] = ExtensionCodec(
    "video-orientation", "urn:3gpp:video-orientation", _dec_cvo, _enc_cvo
)


# --- playout delay ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlayoutDelay:
    """Minimum and maximum playout delay in units of 10 ms (12 bits each)."""

    min_delay: int
    max_delay: int

    @property
    def min_ms(self) -> int:
        """Minimum delay in milliseconds."""
        return self.min_delay * 10

    @property
    def max_ms(self) -> int:
        """Maximum delay in milliseconds."""
        return self.max_delay * 10


def _dec_playout(value: bytes) -> PlayoutDelay:
    _need("playout-delay", value, 3)
    v = int.from_bytes(value[:3], "big")
    return PlayoutDelay(v >> 12, v & 0xFFF)


def _enc_playout(v: PlayoutDelay) -> bytes:
    if not (0 <= v.min_delay <= 0xFFF and 0 <= v.max_delay <= 0xFFF):
        raise ValueError(f"playout delay {v.min_delay}/{v.max_delay} is not 12-bit")
    return ((v.min_delay << 12) | v.max_delay).to_bytes(3, "big")


PLAYOUT_DELAY: ExtensionCodec[PlayoutDelay] = ExtensionCodec(
    "playout-delay",
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
    _dec_playout,
    _enc_playout,
)


# --- absolute capture time -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AbsoluteCaptureTime:
    """64-bit NTP capture timestamp (Q32.32) and optional signed Q32.32 clock offset."""

    timestamp: int
    clock_offset: int | None = None


def _dec_abs_capture(value: bytes) -> AbsoluteCaptureTime:
    _need("abs-capture-time", value, 8)
    ts = int.from_bytes(value[:8], "big")
    if len(value) >= 16:
        return AbsoluteCaptureTime(ts, int.from_bytes(value[8:16], "big", signed=True))
    return AbsoluteCaptureTime(ts)


def _enc_abs_capture(v: AbsoluteCaptureTime) -> bytes:
    if not 0 <= v.timestamp < 1 << 64:
        raise ValueError(f"capture timestamp {v.timestamp} is not a 64-bit value")
    out = v.timestamp.to_bytes(8, "big")
    if v.clock_offset is not None:
        if not -(1 << 63) <= v.clock_offset < 1 << 63:
            raise ValueError(f"clock offset {v.clock_offset} is not a signed 64-bit value")
        out += v.clock_offset.to_bytes(8, "big", signed=True)
    return out


ABS_CAPTURE_TIME: ExtensionCodec[AbsoluteCaptureTime] = ExtensionCodec(
    "abs-capture-time",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time",
    _dec_abs_capture,
    _enc_abs_capture,
)


CODECS: tuple[ExtensionCodec[Any], ...] = (
    MID,
    RID,
    REPAIRED_RID,
    ABS_SEND_TIME,
    TRANSPORT_CC,
    AUDIO_LEVEL,
    VIDEO_ORIENTATION,
    PLAYOUT_DELAY,
    ABS_CAPTURE_TIME,
)
"""Every codec of this module."""

_BY_URI = {c.uri: c for c in CODECS}


def codec_for_uri(uri: str) -> ExtensionCodec[Any] | None:
    """The codec for an extmap URI, or ``None`` when this module has none."""
    return _BY_URI.get(uri)
