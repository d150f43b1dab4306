"""SDP parse/serialize: real offers, round trips, typed attributes, exact errors."""

from __future__ import annotations

import asyncio
import contextlib
from unittest import mock

import pytest

from rtpstack.errors import SdpParseError
from rtpstack.sdp import (
    Attribute,
    Candidate,
    ExtMap,
    Fingerprint,
    MediaDescription,
    RtcpFb,
    RtpMap,
    SdpError,
    SessionDescription,
    SsrcGroup,
)
from tests.sdp_samples import AIORTC_OFFER, CHROMIUM_OFFER, CHROMIUM_SIMULCAST_OFFER


@pytest.mark.parametrize("text", [CHROMIUM_OFFER, AIORTC_OFFER, CHROMIUM_SIMULCAST_OFFER])
def test_round_trip_is_line_identical(text: str) -> None:
    desc = SessionDescription.parse(text)
    assert str(desc) == text
    assert SessionDescription.parse(str(desc)) == desc
    # LF-only input parses to the same value.
    assert SessionDescription.parse(text.replace("\r\n", "\n")) == desc


def test_chromium_offer_fields() -> None:
    d = SessionDescription.parse(CHROMIUM_OFFER)
    assert d.bundle == ("0", "1", "2", "3")
    assert d.has("extmap-allow-mixed") and not d.ice_lite
    assert d.value("msid-semantic") == " WMS 7c1d"
    assert [m.kind for m in d.media] == ["audio", "video", "video", "video"]
    audio, video, slot2, _ = d.media
    assert audio.mid == "0" and audio.direction == "sendrecv"
    assert audio.rtcp_mux and audio.rtcp_rsize
    assert audio.ice_ufrag == "Kp8Q" and audio.ice_pwd == "cLqs6wMWS3c0pDd8wPbGKs9S"
    assert audio.ice_options == ("trickle",)
    assert audio.setup == "actpass"
    assert audio.fingerprints[0].algorithm == "sha-256"
    udp, tcp = audio.candidates
    assert (udp.transport, udp.host, udp.port, udp.type, udp.priority) == (
        "udp", "127.0.0.1", 46243, "host", 2122260223)
    assert udp.extensions == (("generation", "0"), ("network-id", "1"))
    assert tcp.extensions[0] == ("tcptype", "active")
    assert audio.rtpmaps[111] == RtpMap(111, "opus", 48000, 2)
    assert audio.rtpmaps[0] == RtpMap(0, "PCMU", 8000)
    assert audio.fmtps[111] == "minptime=10;useinbandfec=1"
    assert audio.extmaps[0] == ExtMap(1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level")
    assert audio.msid == ("7c1d", "a1f0")
    assert audio.ssrcs == (2203955021,)
    assert audio.formats == ("111", "63", "9", "0", "8", "13", "110", "126")
    assert video.ssrc_groups == (SsrcGroup("FID", (3115276473, 1710216587)),)
    assert video.ssrcs == (3115276473, 1710216587)
    assert RtcpFb(96, "nack", "pli") in video.rtcp_fbs
    assert RtcpFb(96, "ccm", "fir") in video.rtcp_fbs
    assert video.fmtps[97] == "apt=96"
    assert slot2.direction == "recvonly" and slot2.ssrcs == ()
    assert d.media_by_mid("2") is slot2


def test_simulcast_rids_are_parsed_and_kept() -> None:
    d = SessionDescription.parse(CHROMIUM_SIMULCAST_OFFER)
    (video,) = d.media
    assert video.rids == (("q", "send", None), ("h", "send", "max-width=640;max-height=360"),
                          ("f", "send", None))
    assert video.simulcast == "send q;h;f"
    assert video.msid == ("-", "9e1f")
    assert video.connection == "IN IP4 0.0.0.0"


def test_aiortc_offer_fields() -> None:
    d = SessionDescription.parse(AIORTC_OFFER)
    audio, video = d.media
    assert (audio.port, video.port) == (40061, 46582)  # one port per m-line before BUNDLE
    assert audio.end_of_candidates
    assert video.rtpmaps[97].encoding == "VP8"
    assert video.ssrc_groups[0].ssrcs == (182551832, 3232730554)


def test_live_aiortc_offer_parses_and_round_trips() -> None:
    aioice = pytest.importorskip("aioice.ice", reason="aiortc/aioice not installed")
    aiortc = pytest.importorskip("aiortc", reason="aiortc not installed")
    from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

    async def make() -> str:
        with mock.patch.object(aioice, "get_host_addresses", lambda *a, **k: ["127.0.0.1"]):
            pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
            pc.addTrack(AudioStreamTrack())
            pc.addTrack(VideoStreamTrack())
            pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            sdp = str(pc.localDescription.sdp)
            await pc.close()
            return sdp

    text = asyncio.run(asyncio.wait_for(make(), 20))
    d = SessionDescription.parse(text)
    assert str(d).replace("\r\n", "\n") == text.replace("\r\n", "\n")
    assert [m.direction for m in d.media] == ["sendrecv", "sendrecv", "recvonly"]
    assert all(m.setup == "actpass" and m.rtcp_mux for m in d.media)
    assert {f.algorithm for f in d.media[0].fingerprints} >= {"sha-256"}
    assert d.media[0].candidates[0].host == "127.0.0.1"


def test_build_and_serialize() -> None:
    m = MediaDescription(
        "video", 9, "UDP/TLS/RTP/SAVPF", ("96",), "IN IP4 0.0.0.0",
        (Attribute("mid", "0"), Attribute("recvonly"), Attribute("rtcp-mux"),
         Attribute("rtpmap", str(RtpMap(96, "VP8", 90000))),
         Attribute("candidate", str(Candidate("1", 1, "udp", 2130706431, "127.0.0.1", 4000,
                                               "host"))),
         Attribute("fingerprint", str(Fingerprint("sha-256", "AB:CD")))),
    )
    d = SessionDescription(attributes=(Attribute("ice-lite"), Attribute("group", "BUNDLE 0")),
                           media=(m,))
    text = str(d)
    assert text == "\r\n".join([
        "v=0", "o=- 0 0 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=ice-lite", "a=group:BUNDLE 0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0", "a=mid:0", "a=recvonly",
        "a=rtcp-mux", "a=rtpmap:96 VP8/90000",
        "a=candidate:1 1 udp 2130706431 127.0.0.1 4000 typ host",
        "a=fingerprint:sha-256 AB:CD",
    ]) + "\r\n"
    assert SessionDescription.parse(text) == d
    assert SessionDescription.parse(text).ice_lite


def test_unknown_lines_and_attributes_are_kept() -> None:
    text = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nb=AS:300\r\nt=0 0\r\na=x-vendor:1 2\r\n"
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nb=AS:30\r\n"
            "a=sctp-port:5000\r\na=max-message-size:262144\r\na=mid:d\r\n")
    d = SessionDescription.parse(text)
    assert str(d) == text
    assert d.value("x-vendor") == "1 2"
    assert d.media[0].value("sctp-port") == "5000"
    assert d.media[0].other_lines == (("b", "AS:30"),)


_HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty session description"),
        ("v=1\r\n", "line 1: a session description starts with 'v=0', got 'v=1'"),
        ("v=0\r\ns=-\r\n", "the session description has no o= line"),
        ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n", "the session description has no s= line"),
        ("v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n", "line 2: malformed o= line '- 1 1 IN IP4'"),
        (_HEAD + "bogus\r\n", "line 5: expected '<letter>=<value>', got 'bogus'"),
        (_HEAD + "m=audio x RTP/AVP 0\r\n", "line 5: malformed m= line 'audio x RTP/AVP 0'"),
        (_HEAD + "m=audio 70000 RTP/AVP 0\r\n",
         "line 5: malformed m= line 'audio 70000 RTP/AVP 0'"),
        (_HEAD + "c=IN IP9 x\r\n", "line 5: malformed c= line 'IN IP9 x'"),
        (_HEAD + "a=:x\r\n", "line 5: malformed attribute 'a=:x'"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n",
         "line 6: malformed a=rtpmap value '0 PCMU'"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=rtpmap:200 X/8000\r\n",
         "line 6: malformed a=rtpmap value '200 X/8000'"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=rtpmap\r\n", "line 6: a=rtpmap needs a value"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=fmtp:x y\r\n",
         "line 6: malformed a=fmtp value 'x y'"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=rtcp-fb:x nack\r\n",
         "line 6: malformed a=rtcp-fb value 'x nack'"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=extmap:0 urn:x\r\n",
         "line 6: malformed a=extmap value '0 urn:x'"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=extmap:1/sideways urn:x\r\n",
         "line 6: malformed a=extmap value '1/sideways urn:x'"),
        (_HEAD + "a=fingerprint:sha-256 XYZ\r\n",
         "line 5: malformed a=fingerprint value 'sha-256 XYZ'"),
        (_HEAD + "a=setup:both\r\n",
         "line 5: a=setup must be one of active, passive, actpass, holdconn, got 'both'"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp 5 1.2.3.4 99999 typ host\r\n",
         "line 6: malformed a=candidate value '1 1 udp 5 1.2.3.4 99999 typ host'"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp 5 1.2.3.4 9 host\r\n",
         "line 6: malformed a=candidate value '1 1 udp 5 1.2.3.4 9 host'"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=ssrc:abc cname:x\r\n",
         "line 6: malformed a=ssrc value 'abc cname:x'"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=ssrc-group:FID 1 x\r\n",
         "line 6: malformed a=ssrc-group value 'FID 1 x'"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=mid\r\n", "line 6: a=mid needs a value"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=rid:q sideways\r\n",
         "line 6: malformed a=rid value 'q sideways'"),
        (_HEAD + "a=group:BUNDLE 0\r\nm=audio 9 RTP/AVP 0\r\na=mid:1\r\n",
         "a=group:BUNDLE names mid '0', which no media section has"),
        (_HEAD + "m=audio 9 RTP/AVP 0\r\na=mid:1\r\nm=audio 9 RTP/AVP 0\r\na=mid:1\r\n",
         "two media sections have the same a=mid"),
    ],
)
def test_malformed_sdp_errors(text: str, message: str) -> None:
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(text)
    assert str(info.value) == message
    assert isinstance(info.value, SdpParseError)


def test_any_mutation_raises_only_sdp_errors() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    lines = CHROMIUM_OFFER.split("\r\n")

    @settings(max_examples=300, deadline=None)
    @given(st.integers(0, len(lines) - 1), st.integers(0, 200), st.text(max_size=8))
    def check(index: int, cut: int, junk: str) -> None:
        mutated = list(lines)
        mutated[index] = mutated[index][:cut] + junk
        with contextlib.suppress(SdpError):
            SessionDescription.parse("\r\n".join(mutated))

    check()
