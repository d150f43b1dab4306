"""SRTP keys given on the command line or to the library, for decrypting or protecting media.

A key spec is one of: a whole SDES line (``a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:...``),
a suite and inline key (``AES_CM_128_HMAC_SHA1_80 inline:...``), a bare ``inline:BASE64``,
or hex of master key followed by master salt. Bare forms use ``profile`` (SDES's common
``AES_CM_128_HMAC_SHA1_80`` by default). ``SSRC=SPEC`` binds a key to one SSRC (decimal or
``0x`` hex); keys without an SSRC apply to every stream.
"""

from __future__ import annotations

from rtpstack.srtp import SrtpKeyingMaterial, SrtpProfile, parse_crypto_attribute

__all__ = ["DEFAULT_SDES_PROFILE", "parse_key_spec", "parse_ssrc", "parse_ssrc_key"]

DEFAULT_SDES_PROFILE = SrtpProfile.AES_CM_128_HMAC_SHA1_80


def parse_ssrc(text: str) -> int:
    """An SSRC written in decimal or ``0x`` hex."""
    try:
        value = int(text, 0)
    except ValueError:
        raise ValueError(f"bad SSRC {text!r}: use decimal or 0x-hex") from None
    if not 0 <= value < 1 << 32:
        raise ValueError(f"bad SSRC {text!r}: out of range")
    return value


def parse_key_spec(
    text: str, profile: SrtpProfile = DEFAULT_SDES_PROFILE
) -> SrtpKeyingMaterial:
    """Keying material from a key spec (see the module docstring)."""
    spec = text.strip()
    if spec.startswith("a=crypto:"):
        return parse_crypto_attribute(spec).keys
    first = spec.split()[0] if spec.split() else ""
    if first in SrtpProfile.__members__:
        return parse_crypto_attribute(f"a=crypto:1 {spec}").keys
    if spec.startswith("inline:"):
        return parse_crypto_attribute(f"a=crypto:1 {profile.value} {spec}").keys
    try:
        raw = bytes.fromhex(spec)
    except ValueError:
        raise ValueError(
            f"bad SRTP key {text!r}: expected 'inline:BASE64', an a=crypto line, or hex"
        ) from None
    need = profile.key_length + profile.salt_length
    if len(raw) != need:
        raise ValueError(
            f"bad SRTP key: {profile.value} needs {need} bytes of key+salt, got {len(raw)}"
        )
    return SrtpKeyingMaterial.from_key_and_salt(profile, raw)


def parse_ssrc_key(
    text: str, profile: SrtpProfile = DEFAULT_SDES_PROFILE
) -> tuple[int | None, SrtpKeyingMaterial]:
    """``[SSRC=]SPEC`` -> (SSRC or None, keying material)."""
    head, sep, rest = text.partition("=")
    if sep and " " not in head and not head.startswith(("a", "inline")) and head:
        try:
            return parse_ssrc(head), parse_key_spec(rest, profile)
        except ValueError:
            if head.lower().startswith("0x") or head.isdigit():
                raise
    return None, parse_key_spec(text, profile)
