"""Goodbye (BYE, PT 203, RFC 3550 6.6): the sources leaving, and an optional reason.

The reason is kept as raw octets (``reason``; ``None`` when absent, ``b""`` when present but
empty); ``reason_text`` decodes it as UTF-8.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from rtpstack.errors import RtcpParseError
from rtpstack.rtcp.common import PT_BYE, build_packet, check_single, frozen_factory

__all__ = ["Bye"]


@dataclass(frozen=True, slots=True)
class Bye:
    """BYE (PT 203): up to 31 SSRC/CSRCs and an optional reason for leaving."""

    sources: tuple[int, ...] = ()
    reason: bytes | None = None
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_BYE

    @property
    def reason_text(self) -> str | None:
        """The reason decoded as UTF-8 (undecodable octets replaced), or ``None``."""
        return None if self.reason is None else self.reason.decode("utf-8", errors="replace")

    @classmethod
    def with_reason(cls, sources: tuple[int, ...], reason: str) -> Bye:
        """A BYE carrying ``reason`` in UTF-8."""
        return cls(sources, reason.encode("utf-8"))

    @classmethod
    def parse(cls, data: bytes) -> Bye:
        """Parse exactly one BYE packet."""
        count, body, padding = check_single(data, PT_BYE)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> Bye:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        need = 4 * count
        if need > len(body):
            raise RtcpParseError(
                f"BYE source count {count} needs {need} octets after the header, "
                f"packet has {len(body)}"
            )
        sources = struct.unpack_from(f"!{count}I", body)
        reason: bytes | None = None
        if need < len(body):
            length = body[need]
            start = need + 1
            if start + length > len(body):
                raise RtcpParseError(
                    f"BYE reason length {length} exceeds the {len(body) - start} octets left"
                )
            reason = body[start : start + length]
            rest = body[start + length :]
            fill = -(start + length) % 4
            if rest != bytes(fill):
                raise RtcpParseError(
                    f"BYE: {len(rest)} octets after the reason where {fill} zero octets "
                    "pad it to 32 bits"
                )
        return _make_bye(tuple(sources), reason, padding)

    def __bytes__(self) -> bytes:
        if len(self.sources) > 31:
            raise ValueError(f"at most 31 BYE sources fit one packet, got {len(self.sources)}")
        body = struct.pack(f"!{len(self.sources)}I", *self.sources)
        if self.reason is not None:
            if len(self.reason) > 255:
                raise ValueError(f"BYE reason longer than 255 octets: {len(self.reason)}")
            text = bytes((len(self.reason),)) + self.reason
            body += text + bytes(-len(text) % 4)
        return build_packet(len(self.sources), PT_BYE, body, self.padding)


_make_bye = frozen_factory(Bye)
