"""RTP header extensions: the RFC 3550 block and the RFC 8285 one-byte and two-byte forms.

:class:`HeaderExtension` keeps the block's exact data octets (so re-serialization is exact,
including padding between elements and anything after an ID-15 stop); its elements are read
from those octets on access, so the two can never disagree. Profiles other than 0xBEDE and
0x100X are kept as raw data.
:class:`ExtensionMap` maps local ids to URIs (``a=extmap`` lines, RFC 8285 section 8).

Parsing rules and error messages are those of :mod:`rtpstack.fastpath`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rtpstack.errors import RtpParseError, SdpParseError
from rtpstack.fastpath import (
    ONE_BYTE_PROFILE,
    TWO_BYTE_PROFILE,
    TWO_BYTE_PROFILE_MASK,
    Buffer,
    scan_values,
)

__all__ = [
    "ONE_BYTE_PROFILE",
    "TWO_BYTE_PROFILE",
    "ExtensionElement",
    "ExtensionMap",
    "ExtmapLine",
    "HeaderExtension",
    "parse_extmap_line",
]

ExtensionElement = tuple[int, bytes]
"""One RFC 8285 element: ``(id, value)``."""

_EXT_HDR = struct.Struct("!HH")


@dataclass(frozen=True, slots=True)
class HeaderExtension:
    """An RTP header extension block (RFC 3550 5.3.1).

    ``data`` is the exact extension data (a multiple of 4 octets, without the 4-octet
    profile/length header). :attr:`elements` are the RFC 8285 elements found in it, in order
    (empty for other profiles). :meth:`parse`, :meth:`from_data` and :meth:`build` validate
    the data; direct construction does not (``elements`` then raises on a bad block).
    """

    profile: int
    data: bytes

    @property
    def elements(self) -> tuple[ExtensionElement, ...]:
        """The RFC 8285 elements as ``(id, value)`` pairs in packet order."""
        return tuple(scan_values(self.data, self.profile, 0, len(self.data)))

    @classmethod
    def parse(cls, block: Buffer) -> HeaderExtension:
        """Parse a whole block: profile (2), length in words (2), data (4*length)."""
        if len(block) < 4:
            raise RtpParseError(
                f"RTP header extension block too short: {len(block)} octets, need 4"
            )
        profile, words = _EXT_HDR.unpack_from(block)
        end = 4 + (words << 2)
        if end != len(block):
            raise RtpParseError(
                f"RTP header extension length {words} words does not match "
                f"{len(block) - 4} data octets"
            )
        return cls.from_data(profile, bytes(block[4:end]))

    @classmethod
    def from_data(cls, profile: int, data: bytes) -> HeaderExtension:
        """Build from the profile and the raw data octets, parsing RFC 8285 elements."""
        if not 0 <= profile <= 0xFFFF:
            raise ValueError(f"extension profile {profile} is not a 16-bit value")
        if len(data) & 3:
            raise RtpParseError(
                f"RTP header extension data is {len(data)} octets, not a multiple of 4"
            )
        data = bytes(data)
        scan_values(data, profile, 0, len(data))  # validates the elements
        return cls(profile, data)

    @classmethod
    def build(
        cls,
        elements: Iterable[ExtensionElement] | Mapping[int, bytes],
        *,
        two_byte: bool | None = None,
        appbits: int = 0,
    ) -> HeaderExtension:
        """Encode elements in the one-byte form when they fit, else the two-byte form.

        ``two_byte`` forces a form; ``appbits`` (0-15) go in the two-byte profile's low bits.
        The data is padded with zero octets to a multiple of 4.
        """
        items = list(elements.items() if isinstance(elements, Mapping) else elements)
        fits_one = all(1 <= i <= 14 and 1 <= len(v) <= 16 for i, v in items)
        if two_byte is None:
            two_byte = not fits_one
        if not two_byte and not fits_one:
            raise ValueError("elements do not fit the one-byte form (ids 1-14, 1-16 octets)")
        if not 0 <= appbits <= 15:
            raise ValueError(f"appbits {appbits} is not in 0..15")
        out = bytearray()
        for i, v in items:
            if two_byte:
                if not 1 <= i <= 255 or len(v) > 255:
                    raise ValueError(f"element {i} does not fit the two-byte form")
                out += bytes((i, len(v)))
            else:
                out.append((i << 4) | (len(v) - 1))
            out += v
        out += bytes(-len(out) & 3)
        profile = (TWO_BYTE_PROFILE | appbits) if two_byte else ONE_BYTE_PROFILE
        return cls(profile, bytes(out))

    @property
    def is_one_byte(self) -> bool:
        """True for the RFC 8285 one-byte form (profile 0xBEDE)."""
        return self.profile == ONE_BYTE_PROFILE

    @property
    def is_two_byte(self) -> bool:
        """True for the RFC 8285 two-byte form (profile 0x100X)."""
        return self.profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE

    def get(self, ext_id: int) -> bytes | None:
        """Value of the first element with ``ext_id``, or ``None``."""
        for i, v in self.elements:
            if i == ext_id:
                return v
        return None

    def __contains__(self, ext_id: object) -> bool:
        return any(i == ext_id for i, _ in self.elements)

    def __len__(self) -> int:
        """Number of RFC 8285 elements."""
        return len(self.elements)

    def __bool__(self) -> bool:
        """An extension block is present even when it holds no elements."""
        return True

    def ids(self) -> tuple[int, ...]:
        """Element ids in packet order."""
        return tuple(i for i, _ in self.elements)

    def as_dict(self) -> dict[int, bytes]:
        """Elements as ``{id: value}`` (the first occurrence of a repeated id wins)."""
        out: dict[int, bytes] = {}
        for i, v in self.elements:
            out.setdefault(i, v)
        return out

    def __bytes__(self) -> bytes:
        n = len(self.data)
        if n & 3:
            raise ValueError(f"extension data is {n} octets, not a multiple of 4")
        return _EXT_HDR.pack(self.profile, n >> 2) + self.data


@dataclass(frozen=True, slots=True)
class ExtmapLine:
    """One ``a=extmap:<id>[/<direction>] <uri> [<attributes>]`` line (RFC 8285 section 8)."""

    id: int
    uri: str
    direction: str | None = None
    attributes: str | None = None

    def __str__(self) -> str:
        head = f"a=extmap:{self.id}" + (f"/{self.direction}" if self.direction else "")
        tail = f" {self.attributes}" if self.attributes else ""
        return f"{head} {self.uri}{tail}"


_DIRECTIONS = frozenset({"sendonly", "recvonly", "sendrecv", "inactive"})


def parse_extmap_line(line: str) -> ExtmapLine:
    """Parse one ``a=extmap`` line (with or without the ``a=`` prefix)."""
    text = line.strip()
    if text.startswith("a="):
        text = text[2:]
    if not text.startswith("extmap:"):
        raise SdpParseError(f"not an extmap line: {line.strip()!r}")
    parts = text[7:].split(None, 2)
    if len(parts) < 2:
        raise SdpParseError(f"extmap line without a URI: {line.strip()!r}")
    ident, _, direction = parts[0].partition("/")
    if not ident.isdigit() or not 1 <= int(ident) <= 255 or int(ident) == 15:
        raise SdpParseError(f"extmap id {ident!r} is not in 1-14 or 16-255")
    if direction and direction not in _DIRECTIONS:
        raise SdpParseError(f"extmap direction {direction!r} is not valid")
    return ExtmapLine(int(ident), parts[1], direction or None, parts[2] if len(parts) > 2 else None)


class ExtensionMap:
    """A two-way map between local extension ids and URIs for one media section."""

    __slots__ = ("_by_id", "_by_uri")

    def __init__(self, mapping: Mapping[int, str] | Iterable[tuple[int, str]] = ()) -> None:
        self._by_id: dict[int, str] = {}
        self._by_uri: dict[str, int] = {}
        items = mapping.items() if isinstance(mapping, Mapping) else mapping
        for ext_id, uri in items:
            self.add(ext_id, uri)

    @classmethod
    def from_sdp(cls, sdp: str | Iterable[str]) -> ExtensionMap:
        """Collect every ``a=extmap`` line of an SDP text (or of an iterable of lines)."""
        lines = sdp.splitlines() if isinstance(sdp, str) else sdp
        out = cls()
        for line in lines:
            s = line.strip()
            if s.startswith("a=extmap:"):
                e = parse_extmap_line(s)
                out.add(e.id, e.uri)
        return out

    def add(self, ext_id: int, uri: str) -> None:
        """Map ``ext_id`` to ``uri``; an id or URI mapped twice to different values fails."""
        if not 1 <= ext_id <= 255 or ext_id == 15:
            raise ValueError(f"extension id {ext_id} is not in 1-14 or 16-255")
        if self._by_id.get(ext_id, uri) != uri:
            raise ValueError(f"extension id {ext_id} is already mapped to {self._by_id[ext_id]}")
        if self._by_uri.get(uri, ext_id) != ext_id:
            raise ValueError(f"extension URI {uri} is already mapped to id {self._by_uri[uri]}")
        self._by_id[ext_id] = uri
        self._by_uri[uri] = ext_id

    def uri(self, ext_id: int) -> str | None:
        """URI of ``ext_id``, or ``None`` when unmapped."""
        return self._by_id.get(ext_id)

    def id(self, uri: str) -> int | None:
        """Local id of ``uri``, or ``None`` when unmapped."""
        return self._by_uri.get(uri)

    def items(self) -> list[tuple[int, str]]:
        """``(id, uri)`` pairs sorted by id."""
        return sorted(self._by_id.items())

    def extmap_lines(self) -> list[str]:
        """The map as ``a=extmap`` lines, sorted by id."""
        return [str(ExtmapLine(i, u)) for i, u in self.items()]

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, key: object) -> bool:
        return key in self._by_id or key in self._by_uri

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExtensionMap) and self._by_id == other._by_id

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ExtensionMap({self._by_id!r})"
