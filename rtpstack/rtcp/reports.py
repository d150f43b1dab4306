"""Sender and receiver reports (RFC 3550 6.4.1, 6.4.2) and their report blocks.

Octets after the last report block that the length field still covers are the
profile-specific extension (RFC 3550 6.4.1); they are kept raw in ``profile_extension``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final

from rtpstack.errors import RtcpParseError
from rtpstack.rtcp.common import PT_RR, PT_SR, build_packet, check_single, frozen_factory

__all__ = [
    "REPORT_BLOCK_SIZE",
    "ReceiverReport",
    "ReportBlock",
    "SenderReport",
]

REPORT_BLOCK_SIZE: Final = 24
_BLOCK = struct.Struct("!IIIIII")
_SENDER_INFO = struct.Struct("!IQIII")
_SSRC = struct.Struct("!I")
_MAX_REPORTS: Final = 31


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (24 octets)."""

    ssrc: int
    fraction_lost: int = 0
    cumulative_lost: int = 0
    """Signed 24-bit cumulative number of packets lost (duplicates can make it negative)."""
    extended_highest_seq: int = 0
    jitter: int = 0
    lsr: int = 0
    """Middle 32 bits of the NTP timestamp of the last SR received (0: none yet)."""
    dlsr: int = 0
    """Delay since that SR, in units of 1/65536 s."""

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> ReportBlock:
        """Read one block at ``offset``."""
        if len(data) - offset < REPORT_BLOCK_SIZE:
            raise RtcpParseError(
                f"report block truncated: need 24 octets, have {max(len(data) - offset, 0)}"
            )
        ssrc, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        return _make_block(ssrc, lost >> 24, cumulative, highest, jitter, lsr, dlsr)

    def __bytes__(self) -> bytes:
        if not 0 <= self.fraction_lost <= 255:
            raise ValueError(f"fraction_lost must be 0..255, got {self.fraction_lost}")
        if not -0x800000 <= self.cumulative_lost <= 0x7FFFFF:
            raise ValueError(f"cumulative_lost out of 24-bit range: {self.cumulative_lost}")
        lost = (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF)
        return _BLOCK.pack(
            self.ssrc, lost, self.extended_highest_seq, self.jitter, self.lsr, self.dlsr
        )


_make_block = frozen_factory(ReportBlock)


def _parse_blocks(
    kind: str, count: int, body: bytes, offset: int
) -> tuple[tuple[ReportBlock, ...], bytes]:
    need = offset + count * REPORT_BLOCK_SIZE
    if need > len(body):
        raise RtcpParseError(
            f"{kind} report count {count} needs {need} octets after the header, "
            f"packet has {len(body)}"
        )
    blocks = tuple(ReportBlock.parse(body, offset + i * REPORT_BLOCK_SIZE) for i in range(count))
    return blocks, body[need:]


def _check_count(reports: tuple[ReportBlock, ...]) -> None:
    if len(reports) > _MAX_REPORTS:
        raise ValueError(f"at most 31 report blocks fit one packet, got {len(reports)}")


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR (PT 200): sender info plus up to 31 report blocks."""

    ssrc: int
    ntp_timestamp: int
    """64-bit NTP timestamp (see :mod:`rtpstack.rtcp.ntp`)."""
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    profile_extension: bytes = b""
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_SR

    @classmethod
    def parse(cls, data: bytes) -> SenderReport:
        """Parse exactly one SR packet."""
        count, body, padding = check_single(data, PT_SR)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> SenderReport:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        if len(body) < _SENDER_INFO.size:
            raise RtcpParseError(
                f"SR too short: {len(body)} octets after the header, sender info needs 24"
            )
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
        reports, ext = _parse_blocks("SR", count, body, _SENDER_INFO.size)
        return _make_sr(ssrc, ntp, rtp_ts, packets, octets, reports, ext, padding)

    def __bytes__(self) -> bytes:
        _check_count(self.reports)
        body = b"".join(
            [
                _SENDER_INFO.pack(
                    self.ssrc,
                    self.ntp_timestamp,
                    self.rtp_timestamp,
                    self.packet_count,
                    self.octet_count,
                ),
                *(bytes(r) for r in self.reports),
                self.profile_extension,
            ]
        )
        return build_packet(len(self.reports), PT_SR, body, self.padding)


_make_sr = frozen_factory(SenderReport)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR (PT 201): the reporter's SSRC plus up to 31 report blocks."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    profile_extension: bytes = b""
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_RR

    @classmethod
    def parse(cls, data: bytes) -> ReceiverReport:
        """Parse exactly one RR packet."""
        count, body, padding = check_single(data, PT_RR)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> ReceiverReport:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        if len(body) < 4:
            raise RtcpParseError(f"RR too short: {len(body)} octets after the header, SSRC needs 4")
        (ssrc,) = _SSRC.unpack_from(body)
        reports, ext = _parse_blocks("RR", count, body, 4)
        return _make_rr(ssrc, reports, ext, padding)

    def __bytes__(self) -> bytes:
        _check_count(self.reports)
        body = b"".join(
            [_SSRC.pack(self.ssrc), *(bytes(r) for r in self.reports), self.profile_extension]
        )
        return build_packet(len(self.reports), PT_RR, body, self.padding)


_make_rr = frozen_factory(ReceiverReport)
