"""The SDP answerer: Chromium- and aiortc-style offers in, ICE-lite DTLS-SRTP answers out."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from router.errors import BadRequest
from router.webrtc.answer import WebRtcAnswer, answer_offer, parse_offer
from router.webrtc.ice import IceCredentials
from rtpstack.sdp import SessionDescription
from tests.sdp_samples import AIORTC_OFFER, CHROMIUM_OFFER, CHROMIUM_SIMULCAST_OFFER

ICE = IceCredentials("rtrU", "routerpassword0123456789")
FP = "AA:BB:CC:DD"


def _answer(text: str, port: int = 40000) -> tuple[WebRtcAnswer, SessionDescription]:
    counter = itertools.count(1000)
    ans = answer_offer(parse_offer(text), ice=ICE, fingerprint=FP, host="127.0.0.1",
                       port=port, new_ssrc=lambda: next(counter))
    return ans, SessionDescription.parse(ans.sdp)


def test_chromium_offer_answer() -> None:
    ans, sdp = _answer(CHROMIUM_OFFER)
    assert sdp.ice_lite and sdp.bundle == ("0", "1", "2", "3")
    assert [m.mid for m in sdp.media] == ["0", "1", "2", "3"]
    audio, video, slot2, slot3 = sdp.media
    for m in sdp.media:
        assert m.port == 40000 and m.proto == "UDP/TLS/RTP/SAVPF"
        assert m.setup == "passive" and m.rtcp_mux and m.rtcp_rsize
        assert (m.ice_ufrag, m.ice_pwd) == (ICE.ufrag, ICE.pwd)
        assert [f.value for f in m.fingerprints] == [FP]
        (cand,) = m.candidates
        assert (cand.host, cand.port, cand.type, cand.transport) == (
            "127.0.0.1", 40000, "host", "udp")
    # sending m-lines: recvonly, one codec (+ its RTX), audio level only
    assert audio.direction == "recvonly" and audio.formats == ("111",)
    assert audio.fmtps == {111: "minptime=10;useinbandfec=1"}
    assert [(e.id, e.uri) for e in audio.extmaps] == [
        (1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level")]
    assert video.direction == "recvonly" and video.formats == ("96", "97")
    assert video.extmaps == ()
    assert {(f.type, f.parameter) for f in video.rtcp_fbs} == {
        ("nack", None), ("nack", "pli"), ("ccm", "fir")}
    # slots: sendonly with a router SSRC and msid, every forwardable codec, no RTX
    assert slot2.direction == "sendonly" and slot2.formats == ("96", "102")
    assert slot2.ssrcs == (1000,) and slot3.ssrcs == (1001,)
    assert slot2.msid == ("rtp-router-2", "slot-2")
    # what the router set up
    a_sec, v_sec = ans.sends
    assert a_sec.to_track(encrypted=True) == {
        "kind": "audio", "ssrcs": [2203955021], "rtx_ssrcs": [], "name": "a1f0",
        "encrypted": True,
        "codec": {"name": "opus", "payload_type": 111, "clock_rate": 48000, "channels": 2,
                  "rtx_payload_type": None, "fmtp": "minptime=10;useinbandfec=1"},
        "header_extensions": {"1": "urn:ietf:params:rtp-hdrext:ssrc-audio-level"},
    }
    track = v_sec.to_track(encrypted=False)
    assert track["ssrcs"] == [3115276473] and track["rtx_ssrcs"] == [1710216587]
    assert track["codec"]["name"] == "VP8" and track["codec"]["rtx_payload_type"] == 97
    assert [s.to_json() for s in ans.slots] == [
        {"mid": "2", "kind": "video", "ssrc": 1000}, {"mid": "3", "kind": "video", "ssrc": 1001}]
    assert ans.slots[0].payload_type_for("vp8") == 96
    assert ans.slots[0].payload_type_for("H264") == 102
    assert ans.slots[0].payload_type_for("AV1") is None
    assert (ans.remote_ufrag, ans.remote_pwd) == ("Kp8Q", "cLqs6wMWS3c0pDd8wPbGKs9S")
    assert ans.remote_fingerprint.startswith("3C:4A:0E")
    assert ans.rejected == ()


def test_aiortc_offer_answer_uses_its_payload_types() -> None:
    ans, sdp = _answer(AIORTC_OFFER)
    audio, video = sdp.media
    assert audio.formats == ("96",) and audio.rtpmaps[96].encoding == "opus"
    assert video.formats == ("97", "98")
    assert [s.codec.payload_type for s in ans.sends] == [96, 97]
    assert all(m.port == 40000 for m in sdp.media)  # one bundled port for both


def test_simulcast_without_ssrcs_is_rejected_per_mline() -> None:
    text = CHROMIUM_OFFER.replace("a=group:BUNDLE 0 1 2 3", "a=group:BUNDLE 0 1 2 3 9")
    text += CHROMIUM_SIMULCAST_OFFER.split("t=0 0\r\na=group:BUNDLE 0\r\n", 1)[1].replace(
        "a=mid:0", "a=mid:9")
    ans, sdp = _answer(text)
    assert ans.rejected == (("9", "no a=ssrc lines (rid-only simulcast is not supported)"),)
    rejected = sdp.media_by_mid("9")
    assert rejected is not None and rejected.port == 0 and rejected.direction == "inactive"
    assert rejected.connection == "IN IP4 0.0.0.0"  # every section keeps a c= line
    assert sdp.bundle == ("0", "1", "2", "3")


def test_data_channel_and_unknown_codecs_are_rejected() -> None:
    text = AIORTC_OFFER.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1 2") + (
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
        "a=mid:2\r\na=sctp-port:5000\r\n")
    text = text.replace("m=video 46582 UDP/TLS/RTP/SAVPF 97 98", "m=video 46582 "
                        "UDP/TLS/RTP/SAVPF 98").replace("a=rtpmap:97 VP8/90000\r\n", "")
    ans, _ = _answer(text)
    assert dict(ans.rejected) == {
        "1": "no codec the router forwards (it knows vp8, vp9, h264, av1)",
        "2": "only audio and video are supported",
    }
    assert [s.mid for s in ans.sends] == ["0"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: "v=0\r\nbogus\r\n", "malformed SDP: line 2: expected '<letter>=<value>', "
                                      "got 'bogus'"),
        (lambda t: t.split("a=group")[0], "the offer has no media sections"),
        (lambda t: t.replace("a=setup:actpass", "a=setup:passive"),
         "media section '0' has a=setup:passive; the router is the DTLS server and needs "
         "actpass or active"),
        (lambda t: t.replace("a=fingerprint:sha-256", "a=fingerprint:sha-1"),
         "media section '0' has no a=fingerprint:sha-256"),
        (lambda t: t.replace("a=ice-pwd:66q7vlr9fRSptB2GmXDJJC\r\n", ""),
         "media section '0' has no a=ice-ufrag/a=ice-pwd"),
        (lambda t: t.replace("a=rtcp-mux\r\n", ""),
         "no media section of the offer can be accepted (0: a=rtcp-mux is required; "
         "1: a=rtcp-mux is required)"),
        (lambda t: t.replace("a=group:BUNDLE 0 1\r\n", ""),
         "no media section of the offer can be accepted (0: not in the a=group:BUNDLE group "
         "(the router offers one transport); 1: not in the a=group:BUNDLE group (the router "
         "offers one transport))"),
    ],
)
def test_unanswerable_offers(change: Callable[[str], str], message: str) -> None:
    with pytest.raises(BadRequest) as info:
        _answer(change(AIORTC_OFFER))
    assert info.value.code == "invalid_offer"
    assert str(info.value) == message


def test_offer_sdp_must_be_text() -> None:
    with pytest.raises(BadRequest, match="offer needs 'sdp'"):
        parse_offer(None)


#: Shaped like Firefox's offer: fingerprint at session level, extmap with directions,
#: mozilla origin, one send-receive audio and one receive-only video.
FIREFOX_OFFER = "\r\n".join([
    "v=0",
    "o=mozilla...THIS_IS_SDPARTA-99.0 7043553612307426409 0 IN IP4 0.0.0.0",
    "s=-",
    "t=0 0",
    "a=fingerprint:sha-256 5A:0B:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:"
    "55:66:77:88:99:AA:BB:CC:DD:EE",
    "a=group:BUNDLE 0 1",
    "a=ice-options:trickle",
    "a=msid-semantic:WMS *",
    "m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101",
    "c=IN IP4 0.0.0.0",
    "a=sendrecv",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level",
    "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1",
    "a=fmtp:101 0-15",
    "a=ice-pwd:e3baa26dd2fa5030d881d385f1e36cce",
    "a=ice-ufrag:58b99ead",
    "a=mid:0",
    "a=msid:{5a990edd} {a2d0a3c9}",
    "a=rtcp-mux",
    "a=rtpmap:109 opus/48000/2",
    "a=rtpmap:9 G722/8000/1",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=setup:actpass",
    "a=ssrc:2655508255 cname:{735484ea-4f6c-f74a-bd66-7425f8476c2e}",
    "m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125",
    "c=IN IP4 0.0.0.0",
    "a=recvonly",
    "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=fmtp:120 max-fs=12288;max-fr=60",
    "a=fmtp:124 apt=120",
    "a=fmtp:121 max-fs=12288;max-fr=60",
    "a=fmtp:125 apt=121",
    "a=ice-pwd:e3baa26dd2fa5030d881d385f1e36cce",
    "a=ice-ufrag:58b99ead",
    "a=mid:1",
    "a=rtcp-fb:120 nack",
    "a=rtcp-fb:120 nack pli",
    "a=rtcp-fb:120 ccm fir",
    "a=rtcp-fb:121 nack",
    "a=rtcp-mux",
    "a=rtpmap:120 VP8/90000",
    "a=rtpmap:124 rtx/90000",
    "a=rtpmap:121 VP9/90000",
    "a=rtpmap:125 rtx/90000",
    "a=setup:actpass",
    "a=ssrc:3367359412 cname:{735484ea-4f6c-f74a-bd66-7425f8476c2e}",
]) + "\r\n"


def test_firefox_style_offer_with_session_level_fingerprint() -> None:
    desc = SessionDescription.parse(FIREFOX_OFFER)
    assert str(desc) == FIREFOX_OFFER  # line-identical round trip
    assert desc.media[0].extmaps[1].direction == "recvonly"
    ans, sdp = _answer(FIREFOX_OFFER)
    assert ans.remote_fingerprint.startswith("5A:0B") and ans.remote_ufrag == "58b99ead"
    audio, video = sdp.media
    assert audio.direction == "recvonly" and audio.formats == ("109",)
    assert video.direction == "sendonly" and video.formats == ("120", "121")
    assert {(f.payload_type, f.type, f.parameter) for f in video.rtcp_fbs} == {
        (120, "nack", None), (120, "nack", "pli"), (120, "ccm", "fir"), (121, "nack", None)}
    (send,) = ans.sends
    assert send.ssrcs == (2655508255,) and send.track_id == "{a2d0a3c9}"
    (slot,) = ans.slots
    assert slot.payload_type_for("VP9") == 121


def test_ipv6_media_host() -> None:
    ans = answer_offer(parse_offer(AIORTC_OFFER), ice=ICE, fingerprint=FP, host="::1",
                       port=40000, new_ssrc=lambda: 7)
    sdp = SessionDescription.parse(ans.sdp)
    assert sdp.origin.endswith("IN IP6 ::1")
    assert all(m.connection == "IN IP6 ::1" and m.candidates[0].host == "::1"
               for m in sdp.media)
