"""Extended reports (XR, PT 207, RFC 3611).

An XR packet is the reporter's SSRC followed by report blocks, each with a 4-octet header:
block type, a type-specific octet and the block length in 32-bit words minus one, header
included (so: the number of 32-bit words after the header).

Typed: Receiver Reference Time (type 4, :class:`Rrtr`) and DLRR (type 5, :class:`Dlrr`), which
the RTT computation of non-senders needs (RFC 3611 4.4, 4.5), and the other RFC 3611 blocks:
Loss/Duplicate RLE (1, 2, :class:`RleReport`, chunks kept as 16-bit values), Packet Receipt
Times (3), Statistics Summary (6) and VoIP Metrics (7). Each keeps its type-specific octet so
reserved bits survive a round trip. Unknown block types are kept raw in :class:`XrBlock`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import ClassVar, Final

from rtpstack.errors import RtcpParseError
from rtpstack.rtcp.common import PT_XR, build_packet, check_single

__all__ = [
    "XR_DLRR",
    "XR_RRTR",
    "XR_TYPE_NAMES",
    "Dlrr",
    "DlrrSubBlock",
    "ExtendedReport",
    "PacketReceiptTimes",
    "RleReport",
    "Rrtr",
    "StatisticsSummary",
    "VoipMetrics",
    "XrBlock",
    "XrBlockType",
    "parse_xr_block",
]

XR_RRTR: Final = 4
XR_DLRR: Final = 5
XR_TYPE_NAMES: Final[dict[int, str]] = {
    1: "loss_rle",
    2: "duplicate_rle",
    3: "packet_receipt_times",
    4: "receiver_reference_time",
    5: "dlrr",
    6: "statistics_summary",
    7: "voip_metrics",
}

_BLOCK_HEAD = struct.Struct("!BBH")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_DLRR = struct.Struct("!III")
_RANGE = struct.Struct("!IHH")
_STATS = struct.Struct("!IHHIIIIIIBBBB")
_VOIP = struct.Struct("!IBBBBHHHHbbBBBBBBBBHHH")


@dataclass(frozen=True, slots=True)
class XrBlock:
    """A report block kept raw: type, type-specific octet and the octets after the header."""

    block_type: int
    type_specific: int
    body: bytes

    @property
    def name(self) -> str:
        """RFC 3611 name of the block type (``type<n>`` when unknown)."""
        return XR_TYPE_NAMES.get(self.block_type, f"type{self.block_type}")

    def __bytes__(self) -> bytes:
        if len(self.body) % 4:
            raise ValueError(f"XR block body of {len(self.body)} octets is not 32-bit aligned")
        return _BLOCK_HEAD.pack(self.block_type, self.type_specific, len(self.body) // 4) + (
            self.body
        )


@dataclass(frozen=True, slots=True)
class Rrtr:
    """Receiver Reference Time report block (type 4): a 64-bit NTP timestamp."""

    ntp_timestamp: int
    type_specific: int = 0

    block_type: ClassVar[int] = XR_RRTR
    name: ClassVar[str] = "receiver_reference_time"

    def __bytes__(self) -> bytes:
        return _BLOCK_HEAD.pack(XR_RRTR, self.type_specific, 2) + _U64.pack(self.ntp_timestamp)


@dataclass(frozen=True, slots=True)
class DlrrSubBlock:
    """One DLRR sub-block: receiver SSRC, last RR timestamp and delay since it (1/65536 s)."""

    ssrc: int
    last_rr: int
    dlrr: int


@dataclass(frozen=True, slots=True)
class Dlrr:
    """DLRR report block (type 5): one sub-block per receiver."""

    sub_blocks: tuple[DlrrSubBlock, ...]
    type_specific: int = 0

    block_type: ClassVar[int] = XR_DLRR
    name: ClassVar[str] = "dlrr"

    def __bytes__(self) -> bytes:
        head = _BLOCK_HEAD.pack(XR_DLRR, self.type_specific, 3 * len(self.sub_blocks))
        return head + b"".join(_DLRR.pack(s.ssrc, s.last_rr, s.dlrr) for s in self.sub_blocks)


@dataclass(frozen=True, slots=True)
class RleReport:
    """Loss RLE (type 1) or Duplicate RLE (type 2) report block (RFC 3611 4.1, 4.2).

    ``chunks`` are the raw 16-bit run-length / bit-vector / null chunks.
    """

    block_type: int
    ssrc: int
    begin_seq: int
    end_seq: int
    chunks: tuple[int, ...] = ()
    type_specific: int = 0

    @property
    def name(self) -> str:
        """``loss_rle`` or ``duplicate_rle``."""
        return XR_TYPE_NAMES[self.block_type]

    @property
    def thinning(self) -> int:
        """The thinning value T (low 4 bits of the type-specific octet)."""
        return self.type_specific & 0x0F

    def __bytes__(self) -> bytes:
        if len(self.chunks) % 2:
            raise ValueError("RLE chunks must fill 32-bit words (append a null chunk 0)")
        body = _RANGE.pack(self.ssrc, self.begin_seq, self.end_seq) + struct.pack(
            f"!{len(self.chunks)}H", *self.chunks
        )
        return _BLOCK_HEAD.pack(self.block_type, self.type_specific, len(body) // 4) + body


@dataclass(frozen=True, slots=True)
class PacketReceiptTimes:
    """Packet Receipt Times report block (type 3, RFC 3611 4.3)."""

    ssrc: int
    begin_seq: int
    end_seq: int
    receipt_times: tuple[int, ...] = ()
    type_specific: int = 0

    block_type: ClassVar[int] = 3
    name: ClassVar[str] = "packet_receipt_times"

    @property
    def thinning(self) -> int:
        """The thinning value T (low 4 bits of the type-specific octet)."""
        return self.type_specific & 0x0F

    def __bytes__(self) -> bytes:
        body = _RANGE.pack(self.ssrc, self.begin_seq, self.end_seq) + struct.pack(
            f"!{len(self.receipt_times)}I", *self.receipt_times
        )
        return _BLOCK_HEAD.pack(3, self.type_specific, len(body) // 4) + body


@dataclass(frozen=True, slots=True)
class StatisticsSummary:
    """Statistics Summary report block (type 6, RFC 3611 4.6).

    The type-specific octet holds the L, D, J flags and the TTL/hop-limit kind.
    """

    ssrc: int
    begin_seq: int
    end_seq: int
    lost_packets: int = 0
    dup_packets: int = 0
    min_jitter: int = 0
    max_jitter: int = 0
    mean_jitter: int = 0
    dev_jitter: int = 0
    min_ttl_or_hl: int = 0
    max_ttl_or_hl: int = 0
    mean_ttl_or_hl: int = 0
    dev_ttl_or_hl: int = 0
    type_specific: int = 0

    block_type: ClassVar[int] = 6
    name: ClassVar[str] = "statistics_summary"

    @property
    def loss_report(self) -> bool:
        """L flag: ``lost_packets`` is valid."""
        return bool(self.type_specific & 0x80)

    @property
    def duplicate_report(self) -> bool:
        """D flag: ``dup_packets`` is valid."""
        return bool(self.type_specific & 0x40)

    @property
    def jitter_flag(self) -> bool:
        """J flag: the jitter fields are valid."""
        return bool(self.type_specific & 0x20)

    @property
    def ttl_or_hop_limit(self) -> int:
        """0: no TTL values, 1: IPv4 TTL, 2: IPv6 hop limit."""
        return self.type_specific >> 3 & 3

    def __bytes__(self) -> bytes:
        body = _STATS.pack(
            self.ssrc,
            self.begin_seq,
            self.end_seq,
            self.lost_packets,
            self.dup_packets,
            self.min_jitter,
            self.max_jitter,
            self.mean_jitter,
            self.dev_jitter,
            self.min_ttl_or_hl,
            self.max_ttl_or_hl,
            self.mean_ttl_or_hl,
            self.dev_ttl_or_hl,
        )
        return _BLOCK_HEAD.pack(6, self.type_specific, 9) + body


@dataclass(frozen=True, slots=True)
class VoipMetrics:
    """VoIP Metrics report block (type 7, RFC 3611 4.7); signal and noise level are signed."""

    ssrc: int
    loss_rate: int = 0
    discard_rate: int = 0
    burst_density: int = 0
    gap_density: int = 0
    burst_duration: int = 0
    gap_duration: int = 0
    round_trip_delay: int = 0
    end_system_delay: int = 0
    signal_level: int = 0
    noise_level: int = 0
    rerl: int = 0
    gmin: int = 0
    r_factor: int = 0
    ext_r_factor: int = 0
    mos_lq: int = 0
    mos_cq: int = 0
    rx_config: int = 0
    reserved: int = 0
    jb_nominal: int = 0
    jb_maximum: int = 0
    jb_abs_max: int = 0
    type_specific: int = 0

    block_type: ClassVar[int] = 7
    name: ClassVar[str] = "voip_metrics"

    def __bytes__(self) -> bytes:
        body = _VOIP.pack(
            self.ssrc,
            self.loss_rate,
            self.discard_rate,
            self.burst_density,
            self.gap_density,
            self.burst_duration,
            self.gap_duration,
            self.round_trip_delay,
            self.end_system_delay,
            self.signal_level,
            self.noise_level,
            self.rerl,
            self.gmin,
            self.r_factor,
            self.ext_r_factor,
            self.mos_lq,
            self.mos_cq,
            self.rx_config,
            self.reserved,
            self.jb_nominal,
            self.jb_maximum,
            self.jb_abs_max,
        )
        return _BLOCK_HEAD.pack(7, self.type_specific, 8) + body


XrBlockType = (
    XrBlock | Rrtr | Dlrr | RleReport | PacketReceiptTimes | StatisticsSummary | VoipMetrics
)


def _sized(kind: str, body: bytes, size: int) -> None:
    if len(body) != size:
        raise RtcpParseError(f"XR {kind} block must have {size} octets, got {len(body)}")


def parse_xr_block(data: bytes, offset: int = 0) -> tuple[XrBlockType, int]:
    """Read the report block at ``offset``; returns it and the offset after it."""
    left = len(data) - offset
    if left < 4:
        raise RtcpParseError(f"XR block header truncated: need 4 octets, {max(left, 0)} left")
    block_type, specific, words = _BLOCK_HEAD.unpack_from(data, offset)
    start = offset + 4
    end = start + 4 * words
    if end > len(data):
        raise RtcpParseError(
            f"XR block type {block_type} length {4 * words} octets runs past the packet "
            f"({len(data) - start} left)"
        )
    body = data[start:end]
    if block_type == XR_RRTR:
        _sized("RRTR", body, 8)
        return Rrtr(_U64.unpack(body)[0], specific), end
    if block_type == XR_DLRR:
        if len(body) % 12:
            raise RtcpParseError(f"XR DLRR block must be a multiple of 12 octets, got {len(body)}")
        subs = tuple(DlrrSubBlock(*s) for s in _DLRR.iter_unpack(body))
        return Dlrr(subs, specific), end
    if block_type in (1, 2, 3):
        if len(body) < _RANGE.size:
            raise RtcpParseError(
                f"XR {XR_TYPE_NAMES[block_type]} block needs at least 8 octets, got {len(body)}"
            )
        ssrc, begin, stop = _RANGE.unpack_from(body)
        rest = body[_RANGE.size :]
        if block_type == 3:
            times = struct.unpack(f"!{len(rest) // 4}I", rest)
            return PacketReceiptTimes(ssrc, begin, stop, times, specific), end
        chunks = struct.unpack(f"!{len(rest) // 2}H", rest)
        return RleReport(block_type, ssrc, begin, stop, chunks, specific), end
    if block_type == 6:
        _sized("statistics_summary", body, _STATS.size)
        return replace(StatisticsSummary(*_STATS.unpack(body)), type_specific=specific), end
    if block_type == 7:
        _sized("voip_metrics", body, _VOIP.size)
        return replace(VoipMetrics(*_VOIP.unpack(body)), type_specific=specific), end
    return XrBlock(block_type, specific, body), end


@dataclass(frozen=True, slots=True)
class ExtendedReport:
    """XR (PT 207): the reporter's SSRC and its report blocks.

    ``reserved`` is the header's 5-bit count field, which RFC 3611 leaves reserved.
    """

    ssrc: int
    blocks: tuple[XrBlockType, ...] = ()
    reserved: int = 0
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_XR

    @classmethod
    def parse(cls, data: bytes) -> ExtendedReport:
        """Parse exactly one XR packet."""
        count, body, padding = check_single(data, PT_XR)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> ExtendedReport:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        if len(body) < 4:
            raise RtcpParseError(f"XR too short: {len(body)} octets after the header, SSRC needs 4")
        (ssrc,) = _U32.unpack_from(body)
        blocks: list[XrBlockType] = []
        pos = 4
        while pos < len(body):
            block, pos = parse_xr_block(body, pos)
            blocks.append(block)
        return cls(ssrc, tuple(blocks), count, padding)

    def __bytes__(self) -> bytes:
        body = _U32.pack(self.ssrc) + b"".join(bytes(b) for b in self.blocks)
        return build_packet(self.reserved, PT_XR, body, self.padding)
