"""A raw test endpoint for the forwarding core and the media plane, plus its own checks.

The endpoint is what a native client does on the wire, built directly on ``rtpstack.srtp``
(libsrtp) and ``rtpstack.rtcp``: it protects with the hop's ``client_key`` and unprotects with
its ``router_key``. Other media test files import :class:`Endpoint` from here.
"""

from __future__ import annotations

import struct

from router.forwarding import HopKeys
from rtpstack.rtcp import ReceiverReport, parse_compound, serialize_compound
from rtpstack.rtcp.compound import RtcpPacket
from rtpstack.rtp import RtpPacket
from rtpstack.srtp.profiles import SrtpKeyingMaterial, SrtpProfile
from rtpstack.srtp.session import SrtpSession

__all__ = ["AUDIO_LEVEL_ID", "Endpoint", "is_rtcp", "rtp_bytes"]

AUDIO_LEVEL_ID = 1


def is_rtcp(data: bytes) -> bool:
    """True for an RTCP datagram (rtcp-mux rule of RFC 5761)."""
    return 192 <= data[1] <= 223


def rtp_bytes(
    ssrc: int, seq: int, ts: int, payload: bytes, *, pt: int = 96, marker: bool = False,
    level: int | None = None,
) -> bytes:
    """A plain RTP packet; with ``level`` it carries a one-byte-form audio-level element."""
    b0 = 0x80
    ext = b""
    if level is not None:
        b0 |= 0x10
        ext = struct.pack(">HHBB2x", 0xBEDE, 1, AUDIO_LEVEL_ID << 4, level)
    b1 = pt | (0x80 if marker else 0)
    return struct.pack(">BBHII", b0, b1, seq, ts, ssrc) + ext + payload


class Endpoint:
    """One client's SRTP hop: protect with ``client_key``, unprotect with ``router_key``."""

    def __init__(self, keys: HopKeys, rtcp_ssrc: int, addr: tuple[str, int]) -> None:
        self.keys = keys
        self.rtcp_ssrc = rtcp_ssrc
        self.addr = addr
        profile = SrtpProfile(keys.profile)
        self.session = SrtpSession(
            SrtpKeyingMaterial.from_key_and_salt(profile, keys.client_key),
            inbound_keys=SrtpKeyingMaterial.from_key_and_salt(profile, keys.router_key),
            allow_repeat_tx=True,
        )

    def rtp(self, ssrc: int, seq: int, ts: int, payload: bytes, **kw: object) -> bytes:
        """Protected RTP (see :func:`rtp_bytes` for the keywords)."""
        return self.session.protect(rtp_bytes(ssrc, seq, ts, payload, **kw))  # type: ignore[arg-type]

    def rtcp(self, *packets: RtcpPacket) -> bytes:
        """Protected compound RTCP."""
        return self.session.protect_rtcp(serialize_compound(packets))

    def rr(self) -> bytes:
        """The empty receiver report a client sends at start and about once a second."""
        return self.rtcp(ReceiverReport(self.rtcp_ssrc))

    def open_rtp(self, data: bytes) -> RtpPacket:
        """Unprotect and parse RTP the router sent."""
        return RtpPacket.parse(self.session.unprotect(data))

    def open_rtp_raw(self, data: bytes) -> bytes:
        """Unprotect RTP the router sent, unparsed."""
        return self.session.unprotect(data)

    def open_rtcp(self, data: bytes) -> list[RtcpPacket]:
        """Unprotect and parse compound RTCP the router sent."""
        return parse_compound(self.session.unprotect_rtcp(data))


def test_endpoint_round_trip_through_its_own_keys() -> None:
    keys = HopKeys.generate()
    a = Endpoint(keys, 7, ("127.0.0.1", 1))
    # A mirror endpoint: the router's view of the same hop swaps the keys.
    mirror = Endpoint(HopKeys(keys.router_key, keys.client_key), 8, ("127.0.0.1", 2))
    pkt = mirror.open_rtp(a.rtp(1234, 10, 20, b"payload", level=30))
    assert (pkt.ssrc, pkt.sequence_number, pkt.timestamp, pkt.payload) == (
        1234, 10, 20, b"payload"
    )
    assert mirror.open_rtcp(a.rr()) == [ReceiverReport(7)]
