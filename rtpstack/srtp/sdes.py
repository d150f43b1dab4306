"""SDES keying (RFC 4568): parse and produce SDP ``a=crypto`` attributes for SRTP.

Grammar handled (RFC 4568 sections 9.1 and 6.1)::

    a=crypto:<tag> <crypto-suite> <key-params> [<session-param> ...]
    key-params = key-param *(";" key-param)
    key-param  = "inline:" <base64(master key || master salt)> ["|" lifetime] ["|" MKI:length]
    lifetime   = decimal | "2^" decimal

Crypto suites: the four of :class:`~rtpstack.srtp.profiles.SrtpProfile` (RFC 4568 and RFC
7714 section 12 names). Session parameters (``KDR=``, ``UNENCRYPTED_SRTP``, ``WSH=``, ...) are
kept as raw strings. Errors raise :class:`SdesParseError` (an ``SdpParseError``).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from rtpstack.errors import SdpParseError
from rtpstack.srtp.profiles import SrtpKeyingMaterial, SrtpProfile

__all__ = [
    "CryptoAttribute",
    "SdesKeyParam",
    "SdesParseError",
    "format_crypto_attribute",
    "parse_crypto_attribute",
]

_TAG = re.compile(r"[0-9]{1,9}")
_SUITE = re.compile(r"[A-Za-z0-9_]+")
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_LIFETIME = re.compile(r"(2\^)?([0-9]+)")
_MKI = re.compile(r"([0-9]+):([0-9]{1,3})")
_MAX_LIFETIME_EXP = 48


class SdesParseError(SdpParseError):
    """An SDES ``a=crypto`` attribute is malformed or names something unsupported."""


@dataclass(frozen=True, slots=True)
class SdesKeyParam:
    """One ``inline:`` key parameter: keying material, optional lifetime and MKI."""

    keys: SrtpKeyingMaterial
    lifetime: int | None = None
    mki: int | None = None
    mki_length: int | None = None

    def __str__(self) -> str:
        text = "inline:" + base64.b64encode(self.keys.key_and_salt).decode("ascii")
        if self.lifetime is not None:
            lt = self.lifetime
            exp = lt.bit_length() - 1
            text += f"|2^{exp}" if lt > 1 and lt == 1 << exp else f"|{lt}"
        if self.mki is not None:
            text += f"|{self.mki}:{self.mki_length}"
        return text


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """A parsed ``a=crypto`` attribute."""

    tag: int
    profile: SrtpProfile
    key_params: tuple[SdesKeyParam, ...]
    session_params: tuple[str, ...] = ()

    @property
    def keys(self) -> SrtpKeyingMaterial:
        """The keying material of the first key parameter."""
        return self.key_params[0].keys

    @classmethod
    def parse(cls, line: str) -> CryptoAttribute:
        """Same as :func:`parse_crypto_attribute`."""
        return parse_crypto_attribute(line)

    @property
    def value(self) -> str:
        """The attribute value, without the ``a=crypto:`` prefix."""
        parts = [str(self.tag), self.profile.sdes_name, ";".join(map(str, self.key_params))]
        return " ".join(parts + list(self.session_params))

    def __str__(self) -> str:
        return "a=crypto:" + self.value


def _parse_key_param(text: str, profile: SrtpProfile) -> SdesKeyParam:
    method, sep, info = text.partition(":")
    if not sep:
        raise SdesParseError(f"a=crypto: key parameter without a method: {text!r}")
    if method.lower() != "inline":
        raise SdesParseError(f"a=crypto: unsupported key method {method!r} (only inline)")
    fields = info.split("|")
    if len(fields) > 3:
        raise SdesParseError(f"a=crypto: too many '|' fields in key parameter {text!r}")
    key_text = fields[0]
    if not _B64.fullmatch(key_text):
        raise SdesParseError(f"a=crypto: key is not base64: {key_text!r}")
    try:
        raw = base64.b64decode(key_text + "=" * (-len(key_text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SdesParseError(f"a=crypto: key is not base64: {key_text!r}") from None
    want = profile.key_length + profile.salt_length
    if len(raw) != want:
        raise SdesParseError(
            f"a=crypto: {profile.value} needs {want} bytes of key||salt, got {len(raw)}"
        )
    keys = SrtpKeyingMaterial.from_key_and_salt(profile, raw)
    lifetime: int | None = None
    mki: int | None = None
    mki_length: int | None = None
    for extra in fields[1:]:
        m = _MKI.fullmatch(extra)
        if m is not None:
            if mki is not None:
                raise SdesParseError(f"a=crypto: two MKI fields in key parameter {text!r}")
            mki, mki_length = int(m.group(1)), int(m.group(2))
            if not 1 <= mki_length <= 128:
                raise SdesParseError(f"a=crypto: MKI length must be 1..128, got {mki_length}")
            if mki.bit_length() > 8 * mki_length:
                raise SdesParseError(f"a=crypto: MKI {mki} does not fit in {mki_length} bytes")
            continue
        m = _LIFETIME.fullmatch(extra)
        if m is None or lifetime is not None or mki is not None:
            raise SdesParseError(f"a=crypto: bad lifetime or MKI field {extra!r}")
        if m.group(1):
            exp = int(m.group(2))
            if exp > _MAX_LIFETIME_EXP:
                raise SdesParseError(f"a=crypto: lifetime 2^{exp} exceeds 2^48")
            lifetime = 1 << exp
        else:
            lifetime = int(m.group(2))
        if lifetime == 0:
            raise SdesParseError("a=crypto: lifetime must not be 0")
    return SdesKeyParam(keys, lifetime, mki, mki_length)


def parse_crypto_attribute(line: str) -> CryptoAttribute:
    """Parse ``a=crypto:...`` (the ``a=`` and ``crypto:`` prefixes are optional)."""
    text = line.strip()
    if text.startswith("a="):
        text = text[2:]
    if text[:7].lower() == "crypto:":
        text = text[7:]
    fields = text.split()
    if len(fields) < 3:
        raise SdesParseError(
            f"a=crypto: expected '<tag> <crypto-suite> <key-params>', got {len(fields)} field(s)"
        )
    tag_text, suite, key_params_text = fields[0], fields[1], fields[2]
    if not _TAG.fullmatch(tag_text):
        raise SdesParseError(f"a=crypto: tag must be 1 to 9 digits, got {tag_text!r}")
    if not _SUITE.fullmatch(suite):
        raise SdesParseError(f"a=crypto: bad crypto-suite {suite!r}")
    try:
        profile = SrtpProfile(suite.upper())
    except ValueError:
        raise SdesParseError(f"a=crypto: unsupported crypto-suite {suite!r}") from None
    key_params = tuple(_parse_key_param(kp, profile) for kp in key_params_text.split(";"))
    return CryptoAttribute(int(tag_text), profile, key_params, tuple(fields[3:]))


def format_crypto_attribute(
    tag: int,
    keys: SrtpKeyingMaterial,
    *,
    lifetime: int | None = None,
    mki: int | None = None,
    mki_length: int | None = None,
    session_params: tuple[str, ...] = (),
) -> str:
    """Produce an ``a=crypto:`` line (without a line ending) for ``keys``."""
    if not 0 <= tag <= 999_999_999:
        raise ValueError(f"a=crypto tag must be 0..999999999, got {tag}")
    if (mki is None) != (mki_length is None):
        raise ValueError("mki and mki_length go together")
    if mki_length is not None and not 1 <= mki_length <= 128:
        raise ValueError(f"MKI length must be 1..128, got {mki_length}")
    if lifetime is not None and lifetime <= 0:
        raise ValueError(f"lifetime must be positive, got {lifetime}")
    attr = CryptoAttribute(
        tag, keys.profile, (SdesKeyParam(keys, lifetime, mki, mki_length),), session_params
    )
    return str(attr)
