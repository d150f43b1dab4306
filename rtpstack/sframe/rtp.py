"""SFrame over RTP, per frame (draft-ietf-avtcore-rtp-sframe): descriptor, fragments, reassembly.

Each RTP payload starts with the one-byte SFrame payload descriptor::

    S E T r r r r r      S: first fragment of the SFrame ciphertext, E: last fragment,
                         T: packetized content (per-packet SFrame); r: reserved, sent as 0

One encrypted frame (the whole SFrame ciphertext: header, ciphertext, tag) is cut into
fragments that fit ``max_payload`` with the descriptor; every packet of the frame carries the
codec's timestamp, SSRC, payload type, CSRCs and header extensions unchanged (extensions stay
in clear), and the codec's marker bit goes on the frame's last packet. The receiver groups
packets in sequence order from an S packet to an E packet with none missing, whatever order
they arrive in, and drops incomplete frames as newer ones complete or the buffer fills.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rtpstack.rtp import RtpPacket
from rtpstack.seqnum import seq_add, unwrap_seq
from rtpstack.sframe.errors import MalformedHeaderError

__all__ = [
    "DESCRIPTOR_END",
    "DESCRIPTOR_PACKETIZED",
    "DESCRIPTOR_START",
    "AssembledFrame",
    "FrameReassembler",
    "SFrameDescriptor",
    "fragment",
    "packetize_rtp",
]

DESCRIPTOR_START = 0x80
DESCRIPTOR_END = 0x40
DESCRIPTOR_PACKETIZED = 0x20


@dataclass(frozen=True, slots=True)
class SFrameDescriptor:
    """The SFrame payload descriptor byte."""

    start: bool
    end: bool
    packetized: bool = False
    reserved: int = 0  # the low 5 bits, kept as received

    @classmethod
    def parse(cls, payload: bytes) -> SFrameDescriptor:
        """The descriptor at the start of an RTP payload."""
        if not payload:
            raise MalformedHeaderError("SFrame RTP payload: empty, no descriptor")
        b = payload[0]
        return cls(bool(b & 0x80), bool(b & 0x40), bool(b & 0x20), b & 0x1F)

    def __bytes__(self) -> bytes:
        return bytes(
            ((0x80 if self.start else 0) | (0x40 if self.end else 0)
             | (0x20 if self.packetized else 0) | (self.reserved & 0x1F),)
        )


def fragment(frame: bytes, max_payload: int, *, packetized: bool = False) -> list[bytes]:
    """RTP payloads (descriptor + fragment) carrying one SFrame ciphertext, in order.

    ``max_payload`` is the largest RTP payload allowed, descriptor included (at least 2).
    """
    if max_payload < 2:
        raise ValueError("max_payload must leave room for the descriptor and one byte")
    if not frame:
        raise ValueError("an SFrame ciphertext is never empty")
    size = max_payload - 1
    t = DESCRIPTOR_PACKETIZED if packetized else 0
    count = (len(frame) + size - 1) // size
    out = []
    for i in range(count):
        d = t | (DESCRIPTOR_START if i == 0 else 0) | (DESCRIPTOR_END if i == count - 1 else 0)
        out.append(bytes((d,)) + frame[i * size : (i + 1) * size])
    return out


def packetize_rtp(
    frame: bytes, template: RtpPacket, first_seq: int, max_payload: int, *, marker: bool
) -> list[RtpPacket]:
    """RTP packets for one SFrame ciphertext.

    ``template`` gives what the codec's packetizer set: SSRC, payload type, timestamp, CSRCs
    and header extensions, copied to every packet. Sequence numbers run from ``first_seq``;
    ``marker`` (the codec's marker bit) is set on the last packet only.
    """
    payloads = fragment(frame, max_payload)
    last = len(payloads) - 1
    return [
        replace(
            template,
            sequence_number=seq_add(first_seq, i),
            marker=marker and i == last,
            payload=p,
            padding=False,
            padding_size=0,
            padding_data=b"",
        )
        for i, p in enumerate(payloads)
    ]


@dataclass(frozen=True, slots=True)
class AssembledFrame:
    """One SFrame ciphertext put back together from its packets."""

    data: bytes
    timestamp: int
    marker: bool  # the marker bit of the last packet
    first_seq: int
    last_seq: int
    packet_count: int


class FrameReassembler:
    """Sans-IO reassembly of SFrame frames from the RTP packets of one SSRC.

    :meth:`push` takes packets in any order and returns the frames they complete. Buffered
    packets more than ``max_age`` sequence numbers behind the newest are dropped, and so are
    the oldest when more than ``max_packets`` are held. Counters say what was dropped.
    """

    def __init__(self, *, max_packets: int = 1024, max_age: int = 2048) -> None:
        self.max_packets = max_packets
        self.max_age = max_age
        self._highest: int | None = None  # highest extended sequence number
        # extended seq -> (descriptor byte, timestamp, marker, fragment)
        self._buf: dict[int, tuple[int, int, bool, bytes]] = {}
        self._done: set[int] = set()
        self.frames = 0
        self.duplicates = 0
        self.dropped_packets = 0
        self.malformed = 0

    def push_packet(self, packet: RtpPacket) -> list[AssembledFrame]:
        """:meth:`push` for a parsed packet."""
        return self.push(packet.sequence_number, packet.timestamp, packet.marker, packet.payload)

    def push(self, seq: int, timestamp: int, marker: bool, payload: bytes) -> list[AssembledFrame]:
        """Add one packet's payload; returns the frames now complete (zero or one)."""
        if not payload:
            self.malformed += 1
            return []
        # the first packet starts far from zero (at a multiple of 2**16 plus its seq) so
        # that packets reordered across a wrap still unwrap below it
        highest = self._highest
        ext = seq + (1 << 32) if highest is None else unwrap_seq(seq, highest)
        if self._highest is None or ext > self._highest:
            self._highest = ext
        if ext in self._buf or ext in self._done:
            self.duplicates += 1
            return []
        self._buf[ext] = (payload[0], timestamp, marker, payload[1:])
        frame = self._complete_around(ext)
        self._expire()
        return [frame] if frame is not None else []

    def _complete_around(self, ext: int) -> AssembledFrame | None:
        buf = self._buf
        start = ext
        while not buf[start][0] & DESCRIPTOR_START:
            prev = buf.get(start - 1)
            if prev is None or prev[0] & DESCRIPTOR_END:
                return None
            start -= 1
        end = ext
        while not buf[end][0] & DESCRIPTOR_END:
            nxt = buf.get(end + 1)
            if nxt is None or nxt[0] & DESCRIPTOR_START:
                return None
            end += 1
        parts = [buf.pop(s) for s in range(start, end + 1)]
        self._done.update(range(start, end + 1))
        timestamp = parts[0][1]
        if any(p[1] != timestamp for p in parts):
            self.malformed += 1  # one frame, one timestamp: this run is not a frame
            return None
        self.frames += 1
        return AssembledFrame(
            b"".join(p[3] for p in parts),
            timestamp,
            parts[-1][2],
            seq_add(start, 0),
            seq_add(end, 0),
            len(parts),
        )

    def _expire(self) -> None:
        highest = self._highest
        if highest is None:
            return
        floor = highest - self.max_age
        old = [s for s in self._buf if s < floor]
        if len(self._buf) - len(old) > self.max_packets:
            keep = sorted(s for s in self._buf if s >= floor)
            old.extend(keep[: len(keep) - self.max_packets])
        for s in old:
            del self._buf[s]
            self.dropped_packets += 1
        if len(self._done) > 2 * self.max_age:
            self._done = {s for s in self._done if s >= floor}
