"""STUN messages (RFC 8489) as ICE uses them (RFC 8445), written from the wire up.

A :class:`StunMessage` is a frozen value: method, class, transaction id and the attributes in
wire order, each kept as ``(type, raw value)`` so unknown attributes survive a round trip.
:meth:`StunMessage.parse` checks the header and the attribute framing and raises
:class:`StunMessageError` (a :class:`~rtpstack.errors.StunParseError`) with an exact message.
:meth:`StunMessage.encode` writes the message, and appends MESSAGE-INTEGRITY (HMAC-SHA1 over
the message with a short-term credential key, RFC 8489 §14.5) and FINGERPRINT (CRC-32 xor
``0x5354554e``, §14.7) when asked. :func:`check_integrity` and :func:`check_fingerprint` verify
them on the received bytes (the only bytes integrity can be checked on).

Typed helpers read and write the ICE attributes: USERNAME, XOR-MAPPED-ADDRESS, PRIORITY,
USE-CANDIDATE, ICE-CONTROLLING / ICE-CONTROLLED and ERROR-CODE.
"""

from __future__ import annotations

import hmac
import ipaddress
import struct
import zlib
from dataclasses import dataclass
from hashlib import sha1

from rtpstack.errors import StunParseError

__all__ = [
    "ATTR_ERROR_CODE",
    "ATTR_FINGERPRINT",
    "ATTR_ICE_CONTROLLED",
    "ATTR_ICE_CONTROLLING",
    "ATTR_MESSAGE_INTEGRITY",
    "ATTR_PRIORITY",
    "ATTR_SOFTWARE",
    "ATTR_USERNAME",
    "ATTR_USE_CANDIDATE",
    "ATTR_XOR_MAPPED_ADDRESS",
    "BINDING",
    "CLASS_ERROR",
    "CLASS_INDICATION",
    "CLASS_REQUEST",
    "CLASS_SUCCESS",
    "FINGERPRINT_XOR",
    "MAGIC_COOKIE",
    "StunMessage",
    "StunMessageError",
    "check_fingerprint",
    "check_integrity",
    "decode_error_code",
    "decode_xor_address",
    "encode_error_code",
    "encode_xor_address",
    "is_stun",
]

MAGIC_COOKIE = 0x2112A442
FINGERPRINT_XOR = 0x5354554E
BINDING = 0x001

CLASS_REQUEST = 0
CLASS_INDICATION = 1
CLASS_SUCCESS = 2
CLASS_ERROR = 3

ATTR_USERNAME = 0x0006
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_ERROR_CODE = 0x0009
ATTR_XOR_MAPPED_ADDRESS = 0x0020
ATTR_PRIORITY = 0x0024
ATTR_USE_CANDIDATE = 0x0025
ATTR_SOFTWARE = 0x8022
ATTR_FINGERPRINT = 0x8028
ATTR_ICE_CONTROLLED = 0x8029
ATTR_ICE_CONTROLLING = 0x802A

_HEADER = struct.Struct(">HHI12s")
_TLV = struct.Struct(">HH")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class StunMessageError(StunParseError):
    """A datagram is not a well-formed STUN message (or an attribute value is malformed)."""


def is_stun(data: bytes) -> bool:
    """Cheap check: first two bits zero, the magic cookie, a 4-aligned length that fits."""
    return (
        len(data) >= 20
        and data[0] < 4
        and _U32.unpack_from(data, 4)[0] == MAGIC_COOKIE
        and (data[2] << 8 | data[3]) + 20 == len(data)
        and data[3] & 3 == 0
    )


def _type_word(method: int, cls: int) -> int:
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((cls & 1) << 4)
        | ((cls & 2) << 7)
    )


def _split_type(word: int) -> tuple[int, int]:
    method = (word & 0x000F) | ((word & 0x00E0) >> 1) | ((word & 0x3E00) >> 2)
    cls = ((word >> 4) & 1) | ((word >> 7) & 2)
    return method, cls


@dataclass(frozen=True, slots=True)
class StunMessage:
    """One STUN message: ``method`` (12 bits), ``cls`` (0–3), 12-byte ``transaction_id``.

    ``attributes`` holds ``(type, value)`` pairs in wire order, values without padding. When a
    parsed message carried MESSAGE-INTEGRITY or FINGERPRINT they are among the attributes;
    :meth:`encode` leaves those two out and recomputes them when asked.
    """

    method: int
    cls: int
    transaction_id: bytes
    attributes: tuple[tuple[int, bytes], ...] = ()

    @classmethod
    def parse(cls, data: bytes) -> StunMessage:
        """Parse one STUN message (the whole datagram); raise :class:`StunMessageError`."""
        data = bytes(data)
        if len(data) < 20:
            raise StunMessageError(f"STUN message too short: {len(data)} bytes, need 20")
        word, length, cookie, tid = _HEADER.unpack_from(data, 0)
        if word & 0xC000:
            raise StunMessageError("STUN message type must start with two zero bits")
        if cookie != MAGIC_COOKIE:
            raise StunMessageError(f"STUN magic cookie is 0x{cookie:08x}, expected 0x2112a442")
        if length & 3:
            raise StunMessageError(f"STUN message length {length} is not a multiple of 4")
        if length + 20 != len(data):
            raise StunMessageError(
                f"STUN message length {length} does not match the {len(data) - 20} bytes "
                "after the header"
            )
        attrs: list[tuple[int, bytes]] = []
        pos = 20
        while pos < len(data):
            if pos + 4 > len(data):
                raise StunMessageError(f"truncated STUN attribute header at offset {pos}")
            atype, alen = _TLV.unpack_from(data, pos)
            end = pos + 4 + alen
            if end > len(data):
                raise StunMessageError(
                    f"STUN attribute 0x{atype:04x} at offset {pos} has length {alen}, "
                    f"only {len(data) - pos - 4} bytes remain"
                )
            attrs.append((atype, data[pos + 4 : end]))
            pos = end + (-alen & 3)
        method, klass = _split_type(word)
        return cls(method, klass, tid, tuple(attrs))

    def get(self, attr_type: int) -> bytes | None:
        """The first value of ``attr_type``, or None."""
        for t, v in self.attributes:
            if t == attr_type:
                return v
        return None

    def has(self, attr_type: int) -> bool:
        """Whether the message carries ``attr_type``."""
        return any(t == attr_type for t, _ in self.attributes)

    @property
    def username(self) -> str | None:
        """USERNAME as text (UTF-8), or None."""
        raw = self.get(ATTR_USERNAME)
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise StunMessageError("STUN USERNAME is not valid UTF-8") from None

    @property
    def priority(self) -> int | None:
        """PRIORITY, or None."""
        raw = self.get(ATTR_PRIORITY)
        if raw is None:
            return None
        if len(raw) != 4:
            raise StunMessageError(f"STUN PRIORITY must be 4 bytes, got {len(raw)}")
        return int(_U32.unpack(raw)[0])

    @property
    def use_candidate(self) -> bool:
        """Whether USE-CANDIDATE is present (the controlling agent nominates this pair)."""
        return self.has(ATTR_USE_CANDIDATE)

    @property
    def ice_controlling(self) -> int | None:
        """ICE-CONTROLLING tie-breaker, or None."""
        return self._tiebreaker(ATTR_ICE_CONTROLLING, "ICE-CONTROLLING")

    @property
    def ice_controlled(self) -> int | None:
        """ICE-CONTROLLED tie-breaker, or None."""
        return self._tiebreaker(ATTR_ICE_CONTROLLED, "ICE-CONTROLLED")

    def _tiebreaker(self, attr: int, name: str) -> int | None:
        raw = self.get(attr)
        if raw is None:
            return None
        if len(raw) != 8:
            raise StunMessageError(f"STUN {name} must be 8 bytes, got {len(raw)}")
        return int(_U64.unpack(raw)[0])

    @property
    def xor_mapped_address(self) -> tuple[str, int] | None:
        """XOR-MAPPED-ADDRESS as ``(host, port)``, or None."""
        raw = self.get(ATTR_XOR_MAPPED_ADDRESS)
        return None if raw is None else decode_xor_address(raw, self.transaction_id)

    def encode(
        self, key: bytes | None = None, fingerprint: bool = True, pad_byte: int = 0
    ) -> bytes:
        """The wire bytes; with ``key`` adds MESSAGE-INTEGRITY, then FINGERPRINT if asked.

        Attribute values are padded to 4 bytes with ``pad_byte`` (any value is allowed; RFC
        5769's samples pad with spaces).
        """
        if len(self.transaction_id) != 12:
            raise ValueError("a STUN transaction id is 12 bytes")
        body = bytearray()
        for t, v in self.attributes:
            if t in (ATTR_MESSAGE_INTEGRITY, ATTR_FINGERPRINT):
                continue
            body += _TLV.pack(t, len(v)) + v + bytes((pad_byte,)) * (-len(v) & 3)
        word = _type_word(self.method, self.cls)
        if key is not None:
            header = _HEADER.pack(word, len(body) + 24, MAGIC_COOKIE, self.transaction_id)
            mac = hmac.new(key, header + body, sha1).digest()
            body += _TLV.pack(ATTR_MESSAGE_INTEGRITY, 20) + mac
        if fingerprint:
            header = _HEADER.pack(word, len(body) + 8, MAGIC_COOKIE, self.transaction_id)
            crc = zlib.crc32(header + body) ^ FINGERPRINT_XOR
            body += _TLV.pack(ATTR_FINGERPRINT, 4) + _U32.pack(crc)
        return _HEADER.pack(word, len(body), MAGIC_COOKIE, self.transaction_id) + bytes(body)


def _find(data: bytes, attr_type: int) -> int | None:
    """Offset of the first ``attr_type`` attribute header in a framed message, or None."""
    pos = 20
    while pos + 4 <= len(data):
        t, n = _TLV.unpack_from(data, pos)
        if t == attr_type:
            return pos
        pos += 4 + n + (-n & 3)
    return None


def check_integrity(data: bytes, key: bytes) -> bool:
    """Whether the message's MESSAGE-INTEGRITY verifies under ``key`` (False if absent).

    Attributes after MESSAGE-INTEGRITY (only FINGERPRINT is allowed there) are excluded, and
    the header length is adjusted to end just after MESSAGE-INTEGRITY, as RFC 8489 §14.5 says.
    """
    pos = _find(data, ATTR_MESSAGE_INTEGRITY)
    if pos is None or pos + 24 > len(data) or data[pos + 2 : pos + 4] != b"\x00\x14":
        return False
    header = data[:2] + struct.pack(">H", pos + 24 - 20) + data[4:20]
    mac = hmac.new(key, header + data[20:pos], sha1).digest()
    return hmac.compare_digest(mac, data[pos + 4 : pos + 24])


def check_fingerprint(data: bytes) -> bool:
    """Whether the message ends with a correct FINGERPRINT (False if absent)."""
    pos = len(data) - 8
    if pos < 20 or data[pos : pos + 4] != b"\x80\x28\x00\x04":
        return False
    header = data[:2] + struct.pack(">H", pos + 8 - 20) + data[4:20]
    crc = zlib.crc32(header + data[20:pos]) ^ FINGERPRINT_XOR
    return bool(crc == _U32.unpack_from(data, pos + 4)[0])


def encode_xor_address(host: str, port: int, transaction_id: bytes) -> bytes:
    """XOR-MAPPED-ADDRESS value for ``(host, port)`` (IPv4 or IPv6)."""
    ip = ipaddress.ip_address(host)
    xport = port ^ (MAGIC_COOKIE >> 16)
    if ip.version == 4:
        return struct.pack(">BBHI", 0, 1, xport, int(ip) ^ MAGIC_COOKIE)
    mask = int.from_bytes(_U32.pack(MAGIC_COOKIE) + transaction_id, "big")
    return struct.pack(">BBH", 0, 2, xport) + (int(ip) ^ mask).to_bytes(16, "big")


def decode_xor_address(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    """``(host, port)`` from an XOR-MAPPED-ADDRESS value."""
    if len(value) < 4:
        raise StunMessageError(f"STUN XOR-MAPPED-ADDRESS too short: {len(value)} bytes")
    family = value[1]
    port = (value[2] << 8 | value[3]) ^ (MAGIC_COOKIE >> 16)
    if family == 1:
        if len(value) != 8:
            raise StunMessageError(f"STUN XOR-MAPPED-ADDRESS IPv4 is 8 bytes, got {len(value)}")
        return str(ipaddress.IPv4Address(_U32.unpack_from(value, 4)[0] ^ MAGIC_COOKIE)), port
    if family == 2:
        if len(value) != 20:
            raise StunMessageError(f"STUN XOR-MAPPED-ADDRESS IPv6 is 20 bytes, got {len(value)}")
        mask = int.from_bytes(_U32.pack(MAGIC_COOKIE) + transaction_id, "big")
        return str(ipaddress.IPv6Address(int.from_bytes(value[4:], "big") ^ mask)), port
    raise StunMessageError(f"STUN address family {family} is neither 1 (IPv4) nor 2 (IPv6)")


def encode_error_code(code: int, reason: str) -> bytes:
    """ERROR-CODE value (e.g. 400 Bad Request, 401 Unauthorized, 487 Role Conflict)."""
    return struct.pack(">HBB", 0, code // 100, code % 100) + reason.encode("utf-8")


def decode_error_code(value: bytes) -> tuple[int, str]:
    """``(code, reason)`` from an ERROR-CODE value."""
    if len(value) < 4:
        raise StunMessageError(f"STUN ERROR-CODE too short: {len(value)} bytes")
    return (value[2] & 7) * 100 + value[3], value[4:].decode("utf-8", "replace")
