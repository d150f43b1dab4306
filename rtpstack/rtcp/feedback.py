"""RTP/AVPF feedback messages (RFC 4585, RFC 5104) and REMB.

Transport-layer feedback (RTPFB, PT 205) and payload-specific feedback (PSFB, PT 206) share a
layout: the header's count field is the feedback message type (FMT), then the sender SSRC, the
media source SSRC and the feedback control information (FCI).

Typed here: Generic NACK (RTPFB 1), PLI (PSFB 1), FIR (PSFB 4) and REMB (PSFB 15 with the
``REMB`` identifier). Every other FMT (TMMBR/TMMBN, RRR, SLI, RPSI, ...) is kept raw in
:class:`RtpFeedback` / :class:`PayloadFeedback`; transport-cc and RFC 8888 live in
:mod:`rtpstack.rtcp.twcc` and :mod:`rtpstack.rtcp.ccfb`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Final

from rtpstack.errors import RtcpParseError
from rtpstack.rtcp.common import PT_PSFB, PT_RTPFB, build_packet, check_single, frozen_factory
from rtpstack.seqnum import seq_add, seq_diff

__all__ = [
    "FMT_CCFB",
    "FMT_FIR",
    "FMT_NACK",
    "FMT_PLI",
    "FMT_REMB",
    "FMT_TWCC",
    "PSFB_NAMES",
    "RTPFB_NAMES",
    "Fir",
    "FirEntry",
    "GenericNack",
    "NackEntry",
    "PayloadFeedback",
    "Pli",
    "Remb",
    "RtpFeedback",
    "feedback_ssrcs",
]

FMT_NACK: Final = 1
FMT_CCFB: Final = 11
FMT_TWCC: Final = 15
FMT_PLI: Final = 1
FMT_FIR: Final = 4
FMT_REMB: Final = 15

RTPFB_NAMES: Final[dict[int, str]] = {
    1: "NACK",
    3: "TMMBR",
    4: "TMMBN",
    5: "RRR",
    11: "CCFB",
    15: "TWCC",
}
PSFB_NAMES: Final[dict[int, str]] = {
    1: "PLI",
    2: "SLI",
    3: "RPSI",
    4: "FIR",
    5: "TSTR",
    6: "TSTN",
    7: "VBCM",
    15: "AFB",
}

_SSRCS = struct.Struct("!II")
_NACK = struct.Struct("!HH")
_FIR = struct.Struct("!IB3s")
_REMB_HEAD = struct.Struct("!4sBBH")
_REMB_ID: Final = b"REMB"
_MANTISSA_BITS: Final = 18


def feedback_ssrcs(kind: str, body: bytes) -> tuple[int, int]:
    """Sender and media SSRC at the start of a feedback body."""
    if len(body) < 8:
        raise RtcpParseError(f"{kind} too short: {len(body)} octets after the header, SSRCs need 8")
    sender, media = _SSRCS.unpack_from(body)
    return sender, media


@dataclass(frozen=True, slots=True)
class RtpFeedback:
    """Any transport-layer feedback message (PT 205) kept raw: FMT, SSRCs and FCI."""

    fmt: int
    sender_ssrc: int
    media_ssrc: int
    fci: bytes = b""
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_RTPFB

    @property
    def feedback(self) -> str:
        """Short name of the message type (``other`` when unassigned)."""
        return RTPFB_NAMES.get(self.fmt, "other")

    @classmethod
    def parse(cls, data: bytes) -> RtpFeedback:
        """Parse exactly one RTPFB packet, whatever its FMT, without decoding the FCI."""
        count, body, padding = check_single(data, PT_RTPFB)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> RtpFeedback:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        sender, media = feedback_ssrcs("RTPFB", body)
        return _make_rtpfb(count, sender, media, body[8:], padding)

    def __bytes__(self) -> bytes:
        body = _SSRCS.pack(self.sender_ssrc, self.media_ssrc) + self.fci
        return build_packet(self.fmt, PT_RTPFB, body, self.padding)


_make_rtpfb = frozen_factory(RtpFeedback)


@dataclass(frozen=True, slots=True)
class PayloadFeedback:
    """Any payload-specific feedback message (PT 206) kept raw: FMT, SSRCs and FCI."""

    fmt: int
    sender_ssrc: int
    media_ssrc: int
    fci: bytes = b""
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_PSFB

    @property
    def feedback(self) -> str:
        """Short name of the message type (``other`` when unassigned)."""
        return PSFB_NAMES.get(self.fmt, "other")

    @classmethod
    def parse(cls, data: bytes) -> PayloadFeedback:
        """Parse exactly one PSFB packet, whatever its FMT, without decoding the FCI."""
        count, body, padding = check_single(data, PT_PSFB)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> PayloadFeedback:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        sender, media = feedback_ssrcs("PSFB", body)
        return _make_psfb(count, sender, media, body[8:], padding)

    def __bytes__(self) -> bytes:
        body = _SSRCS.pack(self.sender_ssrc, self.media_ssrc) + self.fci
        return build_packet(self.fmt, PT_PSFB, body, self.padding)


_make_psfb = frozen_factory(PayloadFeedback)


@dataclass(frozen=True, slots=True)
class NackEntry:
    """One Generic NACK FCI entry: packet ID and bitmask of the 16 following losses."""

    pid: int
    blp: int = 0

    def lost(self) -> list[int]:
        """The sequence numbers this entry reports lost, in order."""
        out = [self.pid]
        out.extend(seq_add(self.pid, i + 1) for i in range(16) if self.blp >> i & 1)
        return out


_make_nack_entry = frozen_factory(NackEntry)


@dataclass(frozen=True, slots=True)
class GenericNack:
    """Generic NACK (RTPFB FMT 1, RFC 4585 6.2.1)."""

    sender_ssrc: int
    media_ssrc: int
    entries: tuple[NackEntry, ...]
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_RTPFB
    fmt: ClassVar[int] = FMT_NACK
    feedback: ClassVar[str] = "NACK"

    @classmethod
    def parse(cls, data: bytes) -> GenericNack:
        """Parse exactly one Generic NACK packet."""
        count, body, padding = check_single(data, PT_RTPFB)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> GenericNack:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        _check_fmt("Generic NACK", count, FMT_NACK)
        sender, media = feedback_ssrcs("RTPFB", body)
        fci = body[8:]
        if not fci or len(fci) % 4:
            raise RtcpParseError(
                f"Generic NACK FCI must be a non-empty multiple of 4 octets, got {len(fci)}"
            )
        entries = tuple(_make_nack_entry(*e) for e in _NACK.iter_unpack(fci))
        return _make_nack(sender, media, entries, padding)

    @classmethod
    def from_lost(cls, sender_ssrc: int, media_ssrc: int, lost: Iterable[int]) -> GenericNack:
        """Build the shortest NACK covering ``lost`` (wrap-aware, duplicates ignored).

        The sequence numbers must span less than half the sequence space.
        """
        seqs = list(dict.fromkeys(lost))
        if not seqs:
            raise ValueError("a Generic NACK needs at least one lost sequence number")
        first = seqs[0]
        seqs.sort(key=lambda s: seq_diff(s, first))
        entries: list[NackEntry] = []
        pid = seqs[0]
        blp = 0
        for seq in seqs[1:]:
            d = seq_diff(seq, pid)
            if d <= 16:
                blp |= 1 << (d - 1)
            else:
                entries.append(NackEntry(pid, blp))
                pid, blp = seq, 0
        entries.append(NackEntry(pid, blp))
        return cls(sender_ssrc, media_ssrc, tuple(entries))

    @property
    def lost_sequence_numbers(self) -> list[int]:
        """Every sequence number reported lost, entry by entry."""
        out: list[int] = []
        for entry in self.entries:
            out.extend(entry.lost())
        return out

    def __bytes__(self) -> bytes:
        fci = b"".join(_NACK.pack(e.pid, e.blp) for e in self.entries)
        body = _SSRCS.pack(self.sender_ssrc, self.media_ssrc) + fci
        return build_packet(FMT_NACK, PT_RTPFB, body, self.padding)


_make_nack = frozen_factory(GenericNack)


@dataclass(frozen=True, slots=True)
class Pli:
    """Picture Loss Indication (PSFB FMT 1, RFC 4585 6.3.1): no FCI."""

    sender_ssrc: int
    media_ssrc: int
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_PSFB
    fmt: ClassVar[int] = FMT_PLI
    feedback: ClassVar[str] = "PLI"

    @classmethod
    def parse(cls, data: bytes) -> Pli:
        """Parse exactly one PLI packet."""
        count, body, padding = check_single(data, PT_PSFB)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> Pli:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        _check_fmt("PLI", count, FMT_PLI)
        sender, media = feedback_ssrcs("PSFB", body)
        if len(body) != 8:
            raise RtcpParseError(f"PLI must not carry FCI, got {len(body) - 8} octets")
        return _make_pli(sender, media, padding)

    def __bytes__(self) -> bytes:
        body = _SSRCS.pack(self.sender_ssrc, self.media_ssrc)
        return build_packet(FMT_PLI, PT_PSFB, body, self.padding)


_make_pli = frozen_factory(Pli)


@dataclass(frozen=True, slots=True)
class FirEntry:
    """One FIR FCI entry: the SSRC asked for a decoder refresh and the command number."""

    ssrc: int
    seq_nr: int
    reserved: bytes = b"\x00\x00\x00"


@dataclass(frozen=True, slots=True)
class Fir:
    """Full Intra Request (PSFB FMT 4, RFC 5104 4.3.1).

    RFC 5104 says the media SSRC field SHALL be 0; senders that fill it are kept as received.
    """

    sender_ssrc: int
    entries: tuple[FirEntry, ...]
    media_ssrc: int = 0
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_PSFB
    fmt: ClassVar[int] = FMT_FIR
    feedback: ClassVar[str] = "FIR"

    @classmethod
    def parse(cls, data: bytes) -> Fir:
        """Parse exactly one FIR packet."""
        count, body, padding = check_single(data, PT_PSFB)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> Fir:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        _check_fmt("FIR", count, FMT_FIR)
        sender, media = feedback_ssrcs("PSFB", body)
        fci = body[8:]
        if not fci or len(fci) % 8:
            raise RtcpParseError(
                f"FIR FCI must be a non-empty multiple of 8 octets, got {len(fci)}"
            )
        entries = tuple(FirEntry(*e) for e in _FIR.iter_unpack(fci))
        return cls(sender, entries, media, padding)

    def __bytes__(self) -> bytes:
        fci = b"".join(_FIR.pack(e.ssrc, e.seq_nr, e.reserved) for e in self.entries)
        body = _SSRCS.pack(self.sender_ssrc, self.media_ssrc) + fci
        return build_packet(FMT_FIR, PT_PSFB, body, self.padding)


@dataclass(frozen=True, slots=True)
class Remb:
    """Receiver Estimated Maximum Bitrate (PSFB FMT 15, draft-alvestrand-rmcat-remb).

    ``bitrate`` = ``mantissa * 2**exp`` bit/s; use :meth:`from_bitrate` to encode one.
    """

    sender_ssrc: int
    bitrate_exp: int
    bitrate_mantissa: int
    ssrcs: tuple[int, ...] = ()
    media_ssrc: int = 0
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_PSFB
    fmt: ClassVar[int] = FMT_REMB
    feedback: ClassVar[str] = "REMB"

    @property
    def bitrate(self) -> int:
        """The estimate in bit/s."""
        return self.bitrate_mantissa << self.bitrate_exp

    @classmethod
    def from_bitrate(cls, sender_ssrc: int, bitrate: int, ssrcs: tuple[int, ...] = ()) -> Remb:
        """Encode ``bitrate`` (rounded down to what 18 mantissa bits can hold)."""
        if bitrate < 0:
            raise ValueError(f"bitrate must not be negative, got {bitrate}")
        exp = max(bitrate.bit_length() - _MANTISSA_BITS, 0)
        if exp > 63:
            raise ValueError(f"bitrate {bitrate} is too large for REMB")
        return cls(sender_ssrc, exp, bitrate >> exp, ssrcs)

    @staticmethod
    def is_remb(fci: bytes) -> bool:
        """True when a PSFB FMT 15 FCI carries the REMB identifier."""
        return fci[:4] == _REMB_ID

    @classmethod
    def parse(cls, data: bytes) -> Remb:
        """Parse exactly one REMB packet."""
        count, body, padding = check_single(data, PT_PSFB)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> Remb:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        _check_fmt("REMB", count, FMT_REMB)
        sender, media = feedback_ssrcs("PSFB", body)
        fci = body[8:]
        if len(fci) < _REMB_HEAD.size:
            raise RtcpParseError(f"REMB FCI too short: {len(fci)} octets, need at least 8")
        ident, num, b1, b23 = _REMB_HEAD.unpack_from(fci)
        if ident != _REMB_ID:
            raise RtcpParseError("REMB FCI does not start with the identifier 'REMB'")
        if len(fci) != 8 + 4 * num:
            raise RtcpParseError(
                f"REMB lists {num} SSRCs but its FCI has room for {(len(fci) - 8) / 4:g}"
            )
        ssrcs = struct.unpack_from(f"!{num}I", fci, 8)
        return _make_remb(sender, b1 >> 2, (b1 & 3) << 16 | b23, tuple(ssrcs), media, padding)

    def __bytes__(self) -> bytes:
        if not 0 <= self.bitrate_exp <= 63 or not 0 <= self.bitrate_mantissa < 1 << 18:
            raise ValueError("REMB exponent must be 0..63 and mantissa 0..2**18-1")
        if len(self.ssrcs) > 255:
            raise ValueError(f"REMB holds at most 255 SSRCs, got {len(self.ssrcs)}")
        m = self.bitrate_mantissa
        fci = _REMB_HEAD.pack(
            _REMB_ID, len(self.ssrcs), self.bitrate_exp << 2 | m >> 16, m % (1 << 16)
        ) + struct.pack(f"!{len(self.ssrcs)}I", *self.ssrcs)
        body = _SSRCS.pack(self.sender_ssrc, self.media_ssrc) + fci
        return build_packet(FMT_REMB, PT_PSFB, body, self.padding)


_make_remb = frozen_factory(Remb)


def _check_fmt(kind: str, count: int, fmt: int) -> None:
    if count != fmt:
        raise RtcpParseError(f"{kind} needs FMT {fmt}, got {count}")
