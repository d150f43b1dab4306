"""Media frames taken from a capture: publish what a real encoder sent.

:meth:`CaptureSource.from_file` reads one RTP stream of a pcap/pcapng file with the project's
capture reader (link layer, IPv4/IPv6, UDP), groups its packets into frames by RTP timestamp
(the payloads of one timestamp, in sequence order, concatenated), and keeps each frame's
capture time. The result is a plain value with the same interface as the synthetic sources:
``fps`` and ``frame(index)``; past the last frame it starts over, shifted by the capture's
duration, so a publisher can loop a short capture for as long as it sends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rtpstack.capture.ip import IpDecoder
from rtpstack.capture.link import strip_link
from rtpstack.capture.reader import iter_packets
from rtpstack.client.sources import MediaKind, SyntheticFrame
from rtpstack.errors import ParseError
from rtpstack.rtp import RtpPacket
from rtpstack.seqnum import SeqUnwrapper, TimestampUnwrapper, ts_add

__all__ = ["CaptureSource", "CaptureSourceError"]

_UDP = 17
_STATIC_RATES = {0: 8_000, 3: 8_000, 4: 8_000, 5: 8_000, 7: 8_000, 8: 8_000, 9: 8_000,
                 10: 44_100, 11: 44_100, 13: 8_000, 18: 8_000, 26: 90_000, 31: 90_000,
                 32: 90_000, 34: 90_000}


class CaptureSourceError(ValueError):
    """The capture holds no usable RTP stream for the request."""


@dataclass(frozen=True, slots=True)
class CaptureSource:
    """The frames of one RTP stream of a capture, with their timing."""

    kind: MediaKind
    ssrc: int
    payload_type: int
    clock_rate: int
    frames: tuple[SyntheticFrame, ...]
    duration: float
    """Seconds from the first frame to one frame interval after the last."""
    ts_span: int
    """RTP timestamp units from the first frame to one frame interval after the last."""
    audio_level: int = 40

    @property
    def fps(self) -> float:
        """Average frames per second of the capture."""
        return len(self.frames) / self.duration

    def frame(self, index: int, *, force_keyframe: bool = False) -> SyntheticFrame:
        """The ``index``-th frame, looping over the capture (shifted in time per loop)."""
        if index < 0:
            raise ValueError(f"frame index must be >= 0, got {index}")
        loop, i = divmod(index, len(self.frames))
        f = self.frames[i]
        return SyntheticFrame(
            kind=f.kind, index=index, timestamp=ts_add(f.timestamp, loop * self.ts_span),
            due=f.due + loop * self.duration, keyframe=f.keyframe or force_keyframe,
            audio_level=f.audio_level, voice=f.voice, data=f.data)

    @classmethod
    def from_file(cls, path: str | Path, *, kind: MediaKind, ssrc: int | None = None,
                  payload_type: int | None = None, clock_rate: int | None = None,
                  max_frames: int = 10_000,
                  depacketize: Callable[[bytes], bytes] | None = None) -> CaptureSource:
        """Read the stream ``ssrc`` (or the first RTP stream with ``payload_type``, or the
        first RTP stream of the right kind) from the capture at ``path``.

        ``depacketize`` turns each RTP payload into the codec's bytes before a frame's
        payloads are joined (e.g. :func:`rtpstack.client.carriage.vp8_strip` for real VP8
        frames); by default payloads are joined as captured."""
        decoder = IpDecoder()
        streams: dict[int, tuple[int, SeqUnwrapper, dict[int, tuple[int, float, bytes]]]] = {}
        for cap in iter_packets(path):
            try:
                ethertype, ip = strip_link(cap.linktype, cap.data)
                seg = decoder.decode(ethertype, ip, cap.timestamp_ns)
            except ParseError:
                continue
            if seg is None or seg.protocol != _UDP or len(seg.payload) < 12:
                continue
            data = seg.payload
            if data[0] >> 6 != 2 or 192 <= data[1] <= 223:
                continue  # not RTP (or RTCP)
            try:
                pkt = RtpPacket.parse(data)
            except ParseError:
                continue
            if not pkt.payload or (ssrc is not None and pkt.ssrc != ssrc):
                continue
            entry = streams.setdefault(pkt.ssrc, (pkt.payload_type, SeqUnwrapper(), {}))
            if len(entry[2]) < 16 * max_frames:
                try:
                    body = pkt.payload if depacketize is None else depacketize(pkt.payload)
                except ParseError:
                    continue
                entry[2][entry[1].unwrap(pkt.sequence_number)] = (pkt.timestamp, cap.time, body)
        chosen = _choose(streams, kind, ssrc, payload_type)
        if chosen is None:
            raise CaptureSourceError(f"no RTP {kind} stream found in {Path(path).name}")
        pt_seen, _, packets = streams[chosen]
        rate = clock_rate or _STATIC_RATES.get(pt_seen) or (48_000 if kind == "audio" else 90_000)
        frames = _group(packets, kind, max_frames)
        if len(frames) < 2:
            raise CaptureSourceError(f"the {kind} stream of {Path(path).name} has fewer than "
                                     "two frames")
        step_t = (frames[-1].due - frames[0].due) / (len(frames) - 1)
        step_ts = round((frames[-1].timestamp - frames[0].timestamp) / (len(frames) - 1))
        return cls(kind, chosen, pt_seen, rate, tuple(frames),
                   frames[-1].due + step_t, frames[-1].timestamp + step_ts)


def _choose(streams: dict[int, tuple[int, SeqUnwrapper, dict[int, tuple[int, float, bytes]]]],
            kind: MediaKind, ssrc: int | None, payload_type: int | None) -> int | None:
    """The SSRC to use: the one asked for, else the first with ``payload_type``, else the
    first whose static payload type is of ``kind``, else the first dynamic one."""
    if ssrc is not None:
        return ssrc if ssrc in streams else None
    if payload_type is not None:
        return next((s for s, v in streams.items() if v[0] == payload_type), None)
    static = next((s for s, v in streams.items() if _static_kind(v[0]) == kind), None)
    if static is not None:
        return static
    return next((s for s, v in streams.items() if _static_kind(v[0]) is None), None)


def _static_kind(pt: int) -> MediaKind | None:
    if pt <= 23:
        return "audio"
    if 24 <= pt <= 34:
        return "video"
    return None


def _group(packets: dict[int, tuple[int, float, bytes]], kind: MediaKind,
           max_frames: int) -> list[SyntheticFrame]:
    frames: list[SyntheticFrame] = []
    ts_unwrap = TimestampUnwrapper()
    first_ts: int | None = None
    first_time = 0.0
    current: list[bytes] = []
    current_ts: int | None = None
    current_time = 0.0

    def flush() -> None:
        if current_ts is None or not current:
            return
        rel = current_ts - (first_ts or 0)
        frames.append(SyntheticFrame(
            kind=kind, index=len(frames), timestamp=rel, due=current_time - first_time,
            keyframe=not frames, audio_level=40 if kind == "audio" else 127,
            voice=kind == "audio", data=b"".join(current)))

    for ext in sorted(packets):
        ts, at, payload = packets[ext]
        uts = ts_unwrap.unwrap(ts)
        if first_ts is None:
            first_ts, first_time = uts, at
        if uts != current_ts:
            flush()
            if len(frames) >= max_frames:
                return frames
            current, current_ts, current_time = [], uts, at
        current.append(payload)
    flush()
    return frames
