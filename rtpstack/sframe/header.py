"""The SFrame header (RFC 9605 section 4.3): encode and decode KID and CTR.

The first byte is ``X KKK Y CCC``. With ``X`` clear, ``KKK`` is the KID itself (0 to 7); with
``X`` set, ``KKK`` is the length of the KID minus one and the KID follows as a big-endian
integer. ``Y``/``CCC`` do the same for the counter, whose bytes follow the KID's. Encoding always
uses the shortest form; decoding also accepts longer (non-minimal) forms, since the whole header
is authenticated as part of the AAD anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtpstack.sframe.errors import MalformedHeaderError

__all__ = ["MAX_VALUE", "SFrameHeader", "decode_header", "encode_header"]

#: KID and CTR are unsigned 64-bit values.
MAX_VALUE = (1 << 64) - 1


def _check_range(name: str, value: int) -> None:
    if not 0 <= value <= MAX_VALUE:
        raise ValueError(f"SFrame {name} out of range: {value}")


def encode_header(kid: int, ctr: int) -> bytes:
    """The shortest header for ``kid`` and ``ctr`` (each 0 .. 2**64-1)."""
    _check_range("KID", kid)
    _check_range("CTR", ctr)
    if kid < 8:
        first = kid << 4
        kid_bytes = b""
    else:
        klen = (kid.bit_length() + 7) // 8
        kid_bytes = kid.to_bytes(klen, "big")
        first = 0x80 | ((klen - 1) << 4)
    if ctr < 8:
        first |= ctr
        ctr_bytes = b""
    else:
        clen = (ctr.bit_length() + 7) // 8
        ctr_bytes = ctr.to_bytes(clen, "big")
        first |= 0x08 | (clen - 1)
    return bytes((first,)) + kid_bytes + ctr_bytes


def decode_header(data: bytes | bytearray | memoryview) -> tuple[int, int, int]:
    """Decode the header at the start of ``data``: ``(kid, ctr, header_length)``.

    Raises :class:`MalformedHeaderError` when ``data`` is empty or shorter than the header
    its first byte announces.
    """
    if not data:
        raise MalformedHeaderError("SFrame header: empty frame")
    first = data[0]
    pos = 1
    if first & 0x80:
        klen = ((first >> 4) & 0x07) + 1
        if len(data) < pos + klen:
            raise MalformedHeaderError(
                f"SFrame header: KID needs {klen} bytes, {len(data) - pos} present"
            )
        kid = int.from_bytes(data[pos : pos + klen], "big")
        pos += klen
    else:
        kid = (first >> 4) & 0x07
    if first & 0x08:
        clen = (first & 0x07) + 1
        if len(data) < pos + clen:
            raise MalformedHeaderError(
                f"SFrame header: CTR needs {clen} bytes, {len(data) - pos} present"
            )
        ctr = int.from_bytes(data[pos : pos + clen], "big")
        pos += clen
    else:
        ctr = first & 0x07
    return kid, ctr, pos


@dataclass(frozen=True, slots=True)
class SFrameHeader:
    """A decoded SFrame header: the key id and the counter."""

    kid: int
    ctr: int

    def __post_init__(self) -> None:
        _check_range("KID", self.kid)
        _check_range("CTR", self.ctr)

    @classmethod
    def parse(cls, data: bytes) -> SFrameHeader:
        """Parse the header at the start of ``data`` (trailing bytes are the ciphertext)."""
        kid, ctr, _ = decode_header(data)
        return cls(kid, ctr)

    def __bytes__(self) -> bytes:
        return encode_header(self.kid, self.ctr)

    def __len__(self) -> int:
        return len(encode_header(self.kid, self.ctr))
