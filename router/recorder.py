"""Record the forwarded RTP of chosen streams to pcapng, with an SDP file beside it.

Only for routed sessions without end-to-end encryption (the control plane refuses otherwise).
The forwarding core calls :meth:`Recorder.tap` with every authenticated, owned RTP packet of a
recorded stream (plain, after the hop's SRTP is removed, in the publisher's numbering), before
any subscriber copy is made, so the recording holds every packet the router accepted: nothing
is lost to a subscriber's state or to last-N. Each packet becomes one Enhanced Packet Block
holding a synthetic IPv4/UDP datagram (link type RAW); stream *i* is written from
``127.0.0.1:(base_port + 2i + 1000)`` to ``127.0.0.1:(base_port + 2i)``, and the SDP names
that destination port, codec, clock rate, SSRC and header-extension map, so
``rtpstack pcap analyze`` and Wireshark decode it.

Writes go to a buffered file; :meth:`Recorder.close` flushes and closes it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from router.drops import DropCounters, DropReason
from rtpstack.capture.ip import udp_ip_packet
from rtpstack.capture.pcap import LINKTYPE_RAW
from rtpstack.capture.pcapng import PcapngWriter

__all__ = ["RecordedStream", "Recorder", "RecorderError", "sdp_for"]

_HOST = "127.0.0.1"


class RecorderError(ValueError):
    """A recording cannot be started (bad stream list, or its file cannot be created)."""


@dataclass(frozen=True, slots=True)
class RecordedStream:
    """What the SDP needs to know about one recorded stream."""

    ssrc: int
    kind: str
    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1
    fmtp: str = ""
    extmap: tuple[tuple[int, str], ...] = ()


def sdp_for(streams: Sequence[RecordedStream], base_port: int, name: str) -> str:
    """The SDP description of a recording (one m= section per stream, recvonly)."""
    lines = [
        "v=0",
        "o=- 0 0 IN IP4 127.0.0.1",
        f"s={name}",
        f"c=IN IP4 {_HOST}",
        "t=0 0",
    ]
    for i, s in enumerate(streams):
        enc = f"{s.encoding}/{s.clock_rate}"
        if s.kind == "audio" and s.channels > 1:
            enc += f"/{s.channels}"
        lines += [
            f"m={s.kind} {base_port + 2 * i} RTP/AVP {s.payload_type}",
            f"a=rtpmap:{s.payload_type} {enc}",
        ]
        if s.fmtp:
            lines.append(f"a=fmtp:{s.payload_type} {s.fmtp}")
        lines += [f"a=extmap:{ext_id} {uri}" for ext_id, uri in s.extmap]
        lines += [f"a=ssrc:{s.ssrc} cname:recording", "a=recvonly"]
    return "\r\n".join(lines) + "\r\n"


class Recorder:
    """One recording: a pcapng file and its SDP, fed by :meth:`tap` per packet."""

    def __init__(
        self,
        path: Path,
        streams: Sequence[RecordedStream],
        *,
        base_port: int = 5004,
        wall_offset: float | None = None,
        drops: DropCounters | None = None,
    ) -> None:
        if not streams:
            raise RecorderError("a recording needs at least one stream")
        ssrcs = [s.ssrc for s in streams]
        if len(set(ssrcs)) != len(ssrcs):
            raise RecorderError("a stream is listed twice in the recording")
        self.path = Path(path)
        self.sdp_path = self.path.with_suffix(".sdp")
        self.streams = tuple(streams)
        self.base_port = base_port
        #: Added to the ``now`` passed to :meth:`tap` to get Unix time (None: use ``now``).
        self.wall_offset = 0.0 if wall_offset is None else wall_offset
        self.drops = drops if drops is not None else DropCounters()
        self.packets = 0
        self.bytes = 0
        self._ports = {s.ssrc: base_port + 2 * i for i, s in enumerate(streams)}
        self._ident = 0
        try:
            self.sdp_path.write_text(
                sdp_for(self.streams, base_port, self.path.stem), encoding="utf-8"
            )
            self._file: BinaryIO | None = open(self.path, "wb", buffering=1 << 16)  # noqa: SIM115
        except OSError as exc:
            raise RecorderError(f"cannot create recording {self.path}: {exc.strerror}") from None
        self._writer = PcapngWriter(
            self._file, LINKTYPE_RAW, comment=f"rtp-router recording {self.path.stem}"
        )

    def tap_for(self, ssrc: int) -> _Tap:
        """The callable the forwarding core calls for each accepted packet of ``ssrc``."""
        if ssrc not in self._ports:
            raise RecorderError(f"SSRC {ssrc} is not part of this recording")
        return _Tap(self, self._ports[ssrc])

    def write(self, port: int, packet: bytes, now: float) -> None:
        """Append ``packet`` as a UDP datagram to ``port`` captured at ``now``."""
        if self._file is None:
            self.drops.add(DropReason.RECORD_FAILED)
            return
        self._ident += 1
        frame = udp_ip_packet(_HOST, port + 1000, _HOST, port, packet, self._ident)
        try:
            self._writer.write(frame, int((now + self.wall_offset) * 1e9))
        except (OSError, ValueError):
            self.drops.add(DropReason.RECORD_FAILED)
            return
        self.packets += 1
        self.bytes += len(packet)

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._file is None

    @staticmethod
    def unix_now_offset(monotonic_now: float) -> float:
        """``time.time() - monotonic_now``: pass as ``wall_offset`` for loop-time taps."""
        return time.time() - monotonic_now


class _Tap:
    """A bound ``(packet, now)`` callable for one stream of a :class:`Recorder`."""

    __slots__ = ("port", "recorder")

    def __init__(self, recorder: Recorder, port: int) -> None:
        self.recorder = recorder
        self.port = port

    def __call__(self, packet: bytes, now: float) -> None:
        self.recorder.write(self.port, packet, now)
