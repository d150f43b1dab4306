"""Extended reports (XR, PT 207, RFC 3611).

An XR packet is the reporter's SSRC followed by report blocks, each with a 4-octet header:
block type, a type-specific octet and the block length in 32-bit words minus one, header
included (so: the number of 32-bit words after the header).

Typed: Receiver Reference Time (type 4, :class:`Rrtr`) and DLRR (type 5, :class:`Dlrr`), which
the RTT computation of non-senders needs (RFC 3611 4.4, 4.5). Every other block type is kept
raw in :class:`XrBlock` and re-serialized identically.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final

from rtpstack.errors import RtcpParseError
from rtpstack.rtcp.common import PT_XR, RtcpHeader, build_packet, check_single

__all__ = [
    "XR_DLRR",
    "XR_RRTR",
    "XR_TYPE_NAMES",
    "Dlrr",
    "DlrrSubBlock",
    "ExtendedReport",
    "Rrtr",
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


XrBlockType = XrBlock | Rrtr | Dlrr


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
        if len(body) != 8:
            raise RtcpParseError(f"XR RRTR block must have 8 octets, got {len(body)}")
        return Rrtr(_U64.unpack(body)[0], specific), end
    if block_type == XR_DLRR:
        if len(body) % 12:
            raise RtcpParseError(f"XR DLRR block must be a multiple of 12 octets, got {len(body)}")
        subs = tuple(DlrrSubBlock(*s) for s in _DLRR.iter_unpack(body))
        return Dlrr(subs, specific), end
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
        header, body, padding = check_single(data, PT_XR)
        return cls.from_body(header, body, padding)

    @classmethod
    def from_body(cls, header: RtcpHeader, body: bytes, padding: bytes) -> ExtendedReport:
        """Build from a framed packet (see :func:`rtpstack.rtcp.common.split_packet`)."""
        if len(body) < 4:
            raise RtcpParseError(f"XR too short: {len(body)} octets after the header, SSRC needs 4")
        (ssrc,) = _U32.unpack_from(body)
        blocks: list[XrBlockType] = []
        pos = 4
        while pos < len(body):
            block, pos = parse_xr_block(body, pos)
            blocks.append(block)
        return cls(ssrc, tuple(blocks), header.count, padding)

    def __bytes__(self) -> bytes:
        body = _U32.pack(self.ssrc) + b"".join(bytes(b) for b in self.blocks)
        return build_packet(self.reserved, PT_XR, body, self.padding)
