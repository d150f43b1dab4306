"""RTP Control Protocol feedback for congestion control (RFC 8888, RTPFB FMT 11).

Unlike other feedback messages there is no media SSRC word: after the sender SSRC come report
blocks (media SSRC, begin sequence, number of metric blocks, 16-bit metric blocks padded to
32 bits) and finally the 32-bit report timestamp (middle of an NTP timestamp).

Metric blocks are kept as their raw 16-bit value so that bits the RFC says to ignore (ECN and
arrival time offset of a packet not received) re-serialize as received.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final

from rtpstack.errors import RtcpParseError
from rtpstack.rtcp.common import PT_RTPFB, build_packet, check_single
from rtpstack.rtcp.feedback import FMT_CCFB
from rtpstack.seqnum import seq_add

__all__ = [
    "ATO_AFTER_REPORT",
    "ATO_OVER_RANGE",
    "CcfbMetricBlock",
    "CcfbReportBlock",
    "CongestionControlFeedback",
]

ATO_OVER_RANGE: Final = 0x1FFE
ATO_AFTER_REPORT: Final = 0x1FFF
_BLOCK_HEAD = struct.Struct("!IHH")
_U32 = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class CcfbMetricBlock:
    """One 16-bit metric block: R (received), ECN (2 bits), arrival time offset (13 bits)."""

    raw: int

    @property
    def received(self) -> bool:
        """The R bit."""
        return bool(self.raw & 0x8000)

    @property
    def ecn(self) -> int:
        """ECN bits of a received packet (0 when not received: the RFC says ignore them)."""
        return self.raw >> 13 & 3 if self.received else 0

    @property
    def arrival_time_offset(self) -> int:
        """Arrival time offset in 1/1024 s before the report timestamp (0 if not received)."""
        return self.raw & 0x1FFF if self.received else 0

    @classmethod
    def make(cls, received: bool, ecn: int = 0, arrival_time_offset: int = 0) -> CcfbMetricBlock:
        """Build a metric block from its fields."""
        if not received:
            return cls(0)
        if not 0 <= ecn <= 3 or not 0 <= arrival_time_offset <= ATO_AFTER_REPORT:
            raise ValueError("ECN must be 0..3 and the arrival time offset 0..8191")
        return cls(0x8000 | ecn << 13 | arrival_time_offset)

    @classmethod
    def parse(cls, data: bytes) -> CcfbMetricBlock:
        """Decode exactly two octets."""
        if len(data) != 2:
            raise RtcpParseError(f"CCFB metric block must be 2 octets, got {len(data)}")
        return cls(int.from_bytes(data, "big"))

    def __bytes__(self) -> bytes:
        return self.raw.to_bytes(2, "big")


@dataclass(frozen=True, slots=True)
class CcfbReportBlock:
    """Feedback on packets ``begin_seq``, ``begin_seq + 1``, ... of one media source."""

    media_ssrc: int
    begin_seq: int
    metrics: tuple[CcfbMetricBlock, ...] = ()

    @property
    def sequence_numbers(self) -> list[int]:
        """The (wrapping) sequence number each metric block reports on."""
        return [seq_add(self.begin_seq, i) for i in range(len(self.metrics))]

    @classmethod
    def parse_from(cls, data: bytes, offset: int = 0) -> tuple[CcfbReportBlock, int]:
        """Read the block at ``offset``; returns it and the offset after its padding."""
        if len(data) - offset < _BLOCK_HEAD.size:
            raise RtcpParseError(
                f"CCFB report block truncated: header needs 8 octets, "
                f"{max(len(data) - offset, 0)} left"
            )
        ssrc, begin, num = _BLOCK_HEAD.unpack_from(data, offset)
        start = offset + _BLOCK_HEAD.size
        end = start + 2 * num + (2 if num % 2 else 0)
        if end > len(data):
            raise RtcpParseError(
                f"CCFB report block truncated: {num} metric blocks need {end - start} "
                f"octets, {len(data) - start} left"
            )
        metrics = tuple(
            CcfbMetricBlock(v) for (v,) in struct.iter_unpack("!H", data[start : start + 2 * num])
        )
        if any(data[start + 2 * num : end]):
            raise RtcpParseError("CCFB report block padding must be zero")
        return cls(ssrc, begin, metrics), end

    @classmethod
    def parse(cls, data: bytes) -> CcfbReportBlock:
        """Decode exactly one report block (with its padding)."""
        block, end = cls.parse_from(data)
        if end != len(data):
            raise RtcpParseError(f"{len(data) - end} octets after the CCFB report block")
        return block

    def __bytes__(self) -> bytes:
        num = len(self.metrics)
        raw = _BLOCK_HEAD.pack(self.media_ssrc, self.begin_seq, num) + b"".join(
            bytes(m) for m in self.metrics
        )
        return raw + (b"\x00\x00" if num % 2 else b"")


@dataclass(frozen=True, slots=True)
class CongestionControlFeedback:
    """RFC 8888 congestion control feedback (RTPFB FMT 11)."""

    sender_ssrc: int
    report_blocks: tuple[CcfbReportBlock, ...]
    report_timestamp: int
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_RTPFB
    fmt: ClassVar[int] = FMT_CCFB
    feedback: ClassVar[str] = "CCFB"

    @classmethod
    def parse(cls, data: bytes) -> CongestionControlFeedback:
        """Parse exactly one RFC 8888 feedback packet."""
        count, body, padding = check_single(data, PT_RTPFB)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> CongestionControlFeedback:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        if count != FMT_CCFB:
            raise RtcpParseError(f"CCFB needs FMT 11, got {count}")
        if len(body) < 8:
            raise RtcpParseError(
                f"CCFB too short: {len(body)} octets after the header, "
                "sender SSRC and report timestamp need 8"
            )
        (sender,) = _U32.unpack_from(body)
        end = len(body) - 4
        (timestamp,) = _U32.unpack_from(body, end)
        blocks: list[CcfbReportBlock] = []
        pos = 4
        region = body[:end]
        while pos < end:
            block, pos = CcfbReportBlock.parse_from(region, pos)
            blocks.append(block)
        return cls(sender, tuple(blocks), timestamp, padding)

    def __bytes__(self) -> bytes:
        body = b"".join(
            [
                _U32.pack(self.sender_ssrc),
                *(bytes(b) for b in self.report_blocks),
                _U32.pack(self.report_timestamp),
            ]
        )
        return build_packet(FMT_CCFB, PT_RTPFB, body, self.padding)
