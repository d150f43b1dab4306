"""Codec carriage of encrypted frames, for sessions with browsers (``docs/browser.md``).

Browsers encrypt frames with Encoded Transform, then packetize the result with the codec's own
RTP packetizer, and their receivers depacketize with it before decrypting. So in sessions with
browsers the client carries frames the same way (``carriage="codec"``):

* **video (VP8)**: the RTP payload is an RFC 7741 payload descriptor (one byte: S bit on the
  first packet of a frame, partition 0) and a slice of the frame. A browser's VP8
  depacketizer reads the first bytes of a frame (the P bit of the frame tag says key or delta
  frame; a key frame's size is in bytes 6..9), so those bytes stay in clear: 10 bytes of a key
  frame, 3 of a delta frame (:func:`clear_prefix_length`). They are the SFrame *metadata*, so
  they are authenticated. On the wire: ``prefix || SFrame(header || ciphertext || tag)``.
* **audio**: one packet per frame, the whole frame encrypted (nothing in clear).

:func:`protect_frame` / :func:`open_frame` do the prefix split around any encrypt/decrypt
callable; :func:`vp8_packetize` / :func:`vp8_payload` do the RTP side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from rtpstack.errors import RtpParseError

__all__ = [
    "CARRIAGES",
    "VP8_CLEAR_DELTA",
    "VP8_CLEAR_KEY",
    "Carriage",
    "Vp8DescriptorError",
    "clear_prefix_length",
    "open_frame",
    "protect_frame",
    "vp8_is_keyframe",
    "vp8_packetize",
    "vp8_payload",
    "vp8_strip",
]

Carriage = Literal["sframe", "codec"]
"""``sframe``: the SFrame RTP payload format (native clients); ``codec``: the codec's own."""
CARRIAGES: tuple[Carriage, ...] = ("sframe", "codec")

VP8_CLEAR_KEY = 10
"""Clear bytes of a VP8 key frame: frame tag (3), start code (3), width and height (4)."""
VP8_CLEAR_DELTA = 3
"""Clear bytes of a VP8 delta frame: the frame tag."""


class Vp8DescriptorError(RtpParseError):
    """An RTP payload too short for its VP8 payload descriptor (RFC 7741 section 4.2)."""


def vp8_is_keyframe(frame: bytes) -> bool:
    """True when the VP8 frame tag's P bit (bit 0 of byte 0) is 0: a key frame."""
    return bool(frame) and frame[0] & 0x01 == 0


def clear_prefix_length(kind: str, frame: bytes) -> int:
    """How many leading bytes of an encoded frame stay in clear (0 for audio)."""
    if kind != "video" or not frame:
        return 0
    return min(VP8_CLEAR_KEY if vp8_is_keyframe(frame) else VP8_CLEAR_DELTA, len(frame))


def protect_frame(kind: str, frame: bytes, encrypt: Callable[[bytes, bytes], bytes]) -> bytes:
    """``prefix || encrypt(rest, metadata=prefix)``; ``encrypt(payload, metadata)``."""
    n = clear_prefix_length(kind, frame)
    prefix = frame[:n]
    return prefix + encrypt(frame[n:], prefix)


def open_frame(kind: str, wire: bytes, decrypt: Callable[[bytes, bytes], bytes]) -> bytes:
    """The inverse of :func:`protect_frame` (``decrypt(sframe, metadata)`` raises on failure)."""
    n = clear_prefix_length(kind, wire)
    prefix = wire[:n]
    return prefix + decrypt(wire[n:], prefix)


def vp8_packetize(frame: bytes, max_payload: int) -> list[bytes]:
    """RTP payloads for one VP8 frame: a 1-byte descriptor (S on the first) and a slice."""
    if max_payload < 2:
        raise ValueError(f"max_payload must be at least 2, got {max_payload}")
    room = max_payload - 1
    chunks = [frame[i:i + room] for i in range(0, len(frame), room)] or [b""]
    return [(b"\x10" if i == 0 else b"\x00") + c for i, c in enumerate(chunks)]


def vp8_payload(payload: bytes) -> tuple[bool, bytes]:
    """``(starts a frame, VP8 bytes)`` of one RTP payload (RFC 7741 descriptor removed).

    A frame starts at a packet with the S bit set and partition index 0.
    """
    if not payload:
        raise Vp8DescriptorError("VP8 payload is empty")
    first = payload[0]
    pos = 1
    if first & 0x80:
        if len(payload) < 2:
            raise Vp8DescriptorError("VP8 payload descriptor is cut short")
        ext = payload[1]
        pos = 2
        if ext & 0x80:                      # I: picture id, 7 or 15 bits
            if len(payload) < pos + 1:
                raise Vp8DescriptorError("VP8 payload descriptor is cut short")
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:                      # L: TL0PICIDX
            pos += 1
        if ext & 0x30:                      # T or K: TID/Y/KEYIDX
            pos += 1
        if len(payload) < pos:
            raise Vp8DescriptorError("VP8 payload descriptor is cut short")
    start = bool(first & 0x10) and first & 0x07 == 0
    return start, payload[pos:]


def vp8_strip(payload: bytes) -> bytes:
    """The VP8 bytes of one RTP payload (its descriptor removed)."""
    return vp8_payload(payload)[1]
