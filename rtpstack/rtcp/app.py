"""Application-defined packets (APP, PT 204, RFC 3550 6.7)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from rtpstack.errors import RtcpParseError
from rtpstack.rtcp.common import PT_APP, build_packet, check_single, frozen_factory

__all__ = ["AppPacket"]

_HEAD = struct.Struct("!I4s")


@dataclass(frozen=True, slots=True)
class AppPacket:
    """APP (PT 204): a 5-bit subtype, SSRC, a 4-octet name and application data."""

    subtype: int
    ssrc: int
    name: bytes
    data: bytes = b""
    padding: bytes = b""

    packet_type: ClassVar[int] = PT_APP

    @classmethod
    def parse(cls, data: bytes) -> AppPacket:
        """Parse exactly one APP packet."""
        count, body, padding = check_single(data, PT_APP)
        return cls.from_body(count, body, padding)

    @classmethod
    def from_body(cls, count: int, body: bytes, padding: bytes) -> AppPacket:
        """Build from the header count field, body and padding (see ``split_packet``)."""
        if len(body) < _HEAD.size:
            raise RtcpParseError(
                f"APP too short: {len(body)} octets after the header, SSRC and name need 8"
            )
        ssrc, name = _HEAD.unpack_from(body)
        return _make_app(count, ssrc, name, body[_HEAD.size :], padding)

    def __bytes__(self) -> bytes:
        if len(self.name) != 4:
            raise ValueError(f"APP name must be 4 octets, got {len(self.name)}")
        body = _HEAD.pack(self.ssrc, self.name) + self.data
        return build_packet(self.subtype, PT_APP, body, self.padding)


_make_app = frozen_factory(AppPacket)
