"""NTP timestamps as RTCP carries them (RFC 3550 4, 6.4.1).

A full NTP timestamp is 64 bits: seconds since 1900-01-01 (upper 32) and a binary fraction
(lower 32). LSR, DLSR, DLRR and the XR/CCFB timestamps use the "compact" form: the middle
32 bits, i.e. 16.16 fixed-point seconds. Round-trip time from a report block (RFC 3550 6.4.1):
``arrival_compact - LSR - DLSR``, modulo 2**32, in 1/65536 s.
"""

from __future__ import annotations

from typing import Final

from rtpstack.seqnum import ts_add

__all__ = [
    "NTP_UNIX_OFFSET",
    "compact_to_seconds",
    "ntp_from_seconds",
    "ntp_from_unix",
    "ntp_to_compact",
    "ntp_to_seconds",
    "ntp_to_unix",
    "rtt_compact",
    "rtt_seconds",
    "seconds_to_compact",
]

NTP_UNIX_OFFSET: Final = 2_208_988_800
"""Seconds from the NTP epoch (1900) to the Unix epoch (1970)."""

_FRAC: Final = 1 << 32
_COMPACT_FRAC: Final = 1 << 16
_U64_MOD: Final = 1 << 64


def ntp_to_seconds(ntp: int) -> float:
    """64-bit NTP timestamp to seconds since 1900."""
    return ntp / _FRAC


def ntp_from_seconds(seconds: float) -> int:
    """Seconds since 1900 to a 64-bit NTP timestamp (rounded to the nearest 2**-32 s)."""
    return round(seconds * _FRAC) % _U64_MOD


def ntp_to_unix(ntp: int) -> float:
    """64-bit NTP timestamp to Unix time (seconds since 1970)."""
    return ntp / _FRAC - NTP_UNIX_OFFSET


def ntp_from_unix(unix_seconds: float) -> int:
    """Unix time to a 64-bit NTP timestamp."""
    return ntp_from_seconds(unix_seconds + NTP_UNIX_OFFSET)


def ntp_to_compact(ntp: int) -> int:
    """The middle 32 bits of a 64-bit NTP timestamp (the LSR value of RFC 3550)."""
    return ts_add(ntp >> 16, 0)


def compact_to_seconds(compact: int) -> float:
    """A 16.16 compact value (LSR, DLSR, RTT) in seconds."""
    return compact / _COMPACT_FRAC


def seconds_to_compact(seconds: float) -> int:
    """Seconds to a 16.16 compact value (DLSR), rounded; must be in [0, 65536)."""
    if not 0 <= seconds < 65536:
        raise ValueError(f"{seconds} s does not fit the 16.16 compact NTP format")
    return min(round(seconds * _COMPACT_FRAC), (1 << 32) - 1)


def rtt_compact(arrival_compact: int, lsr: int, dlsr: int) -> int | None:
    """RTT in 1/65536 s from a report block received at ``arrival_compact``.

    ``None`` when the block carries no LSR (0: no SR received yet) or the result would be
    negative (clock steps, bogus DLSR), which shows as a value in the upper half of 2**32.
    """
    if lsr == 0:
        return None
    rtt = ts_add(arrival_compact, -(lsr + dlsr))
    return None if rtt >= 1 << 31 else rtt


def rtt_seconds(arrival_ntp: int, lsr: int, dlsr: int) -> float | None:
    """RTT in seconds from a report block, given the full 64-bit NTP arrival time."""
    rtt = rtt_compact(ntp_to_compact(arrival_ntp), lsr, dlsr)
    return None if rtt is None else compact_to_seconds(rtt)
