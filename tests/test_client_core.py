"""The client's sans-IO core on a virtual clock, through a two-hop SRTP relay (real libsrtp).

The relay stands in for the router's hop crypto only: it unprotects with the sender's
``client_key``, rewrites the SSRC, and protects with the receiver's ``router_key``, so the
client core is exercised with the same bytes it sees from the real router. The real router is
covered by ``tests/test_integration_router.py``.
"""

from __future__ import annotations

import os
import struct

import pytest

from rtpstack import fastpath
from rtpstack.client.core import ClientCore, TrackConfig, TransportInfo, TransportInfoError
from rtpstack.client.events import (
    ENCRYPTION_SECRET_MATCH,
    ENCRYPTION_SECRET_MISMATCH,
    KEYFRAME_REQUESTED,
)
from rtpstack.client.hop import HopCrypto
from rtpstack.client.sources import AudioSource, VideoSource, frame_label
from rtpstack.client.wire import read_audio_level
from rtpstack.rtcp.compound import parse_compound
from rtpstack.rtcp.feedback import GenericNack, Pli

SESSION = "sess1"


def _transport(rtcp_ssrc: int) -> TransportInfo:
    return TransportInfo("127.0.0.1", 40000, "AEAD_AES_128_GCM", os.urandom(28), os.urandom(28),
                         rtcp_ssrc)


class Relay:
    """Two participants, one stream each way; SSRC rewrite; feedback mapped back."""

    def __init__(self, a: ClientCore, b: ClientCore) -> None:
        self.cores = {"a": a, "b": b}
        # router side of each hop: protect with router_key, unprotect with client_key
        self.hops = {n: HopCrypto(c.transport.router_key, c.transport.client_key)
                     for n, c in self.cores.items()}
        self.routes: dict[tuple[str, int], tuple[str, int]] = {}
        self.back: dict[tuple[str, int], tuple[str, int]] = {}
        self.drop_next: set[int] = set()  # publisher sequence numbers to drop once
        self.payloads: list[bytes] = []

    def route(self, src: str, ssrc: int, dst: str, dst_ssrc: int) -> None:
        self.routes[(src, ssrc)] = (dst, dst_ssrc)
        self.back[(dst, dst_ssrc)] = (src, ssrc)

    def from_client(self, name: str, datagram: bytes) -> list[tuple[str, bytes]]:
        if 192 <= datagram[1] <= 223:
            rtcp = self.hops[name].unprotect_rtcp(datagram)
            out = []
            for pkt in parse_compound(rtcp):
                if isinstance(pkt, GenericNack):
                    dst, ssrc = self.back[(name, pkt.media_ssrc)]
                    fb = GenericNack(pkt.sender_ssrc, ssrc, pkt.entries)
                    out.append((dst, self.hops[dst].protect_rtcp(bytes(fb))))
                elif isinstance(pkt, Pli):
                    dst, ssrc = self.back[(name, pkt.media_ssrc)]
                    out.append((dst, self.hops[dst].protect_rtcp(bytes(Pli(0, ssrc)))))
            return out
        seq = struct.unpack_from("!H", datagram, 2)[0]  # in clear: lose before the relay
        if name == "a" and seq in self.drop_next:
            self.drop_next.discard(seq)
            return []
        plain = bytearray(self.hops[name].unprotect(datagram))
        _m, _pt, seq, _ts, ssrc, start, end, _el = fastpath.read_packet(plain)
        self.payloads.append(bytes(plain[start:end]))
        dst, dst_ssrc = self.routes[(name, ssrc)]
        fastpath.set_ssrc(plain, dst_ssrc)
        return [(dst, self.hops[dst].protect(bytes(plain)))]

    def deliver(self, name: str, datagrams: list[bytes], now: float) -> None:
        """Carry datagrams from ``name`` through the relay, and any answers back, to quiet."""
        queue = [(name, d) for d in datagrams]
        for _ in range(10_000):
            if not queue:
                return
            src, d = queue.pop(0)
            for dst, out in self.from_client(src, d):
                queue.extend((dst, r) for r in self.cores[dst].receive(out, now))
        raise AssertionError("relay did not settle")


def _pair(e2ee: bool = True, nack: bool = True, pli: bool = True
          ) -> tuple[ClientCore, ClientCore, Relay]:
    a = ClientCore(_transport(11), session_id=SESSION, participant_id="alice", e2ee=e2ee,
                   nack=nack, pli=pli, seed=1)
    b = ClientCore(_transport(22), session_id=SESSION, participant_id="bob", e2ee=e2ee,
                   nack=nack, pli=pli, seed=2)
    a.add_track(TrackConfig("a-video", "video", 0xA1, 96, 90_000))
    a.add_track(TrackConfig("a-audio", "audio", 0xA2, 111, 48_000))
    b.add_subscription(0xB1, publisher="alice", kind="video")
    b.add_subscription(0xB2, publisher="alice", kind="audio", clock_rate=48_000)
    relay = Relay(a, b)
    relay.route("a", 0xA1, "b", 0xB1)
    relay.route("a", 0xA2, "b", 0xB2)
    return a, b, relay


def _send_video(a: ClientCore, relay: Relay, frames: int, now: float,
                src: VideoSource | None = None, first: int = 0) -> None:
    src = src or VideoSource(bitrate=600_000)
    for i in range(first, first + frames):
        f = src.frame(i)
        relay.deliver("a", a.send_frame("a-video", f.data, timestamp=f.timestamp,
                                        keyframe=f.keyframe), now + i / 30)


def test_frames_round_trip_decrypted_and_byte_identical() -> None:
    a, b, relay = _pair()
    a.set_encryption_secret("correct horse battery")
    b.set_encryption_secret("correct horse battery")
    src = VideoSource(bitrate=600_000)
    _send_video(a, relay, 10, 0.0, src)
    frames = b.pop_frames()
    assert [frame_label(f.data) for f in frames] == list(range(10))
    assert all(f.data == src.frame(i).data for i, f in enumerate(frames))
    st = b.receive_stats()[0xB1]
    assert st.frames_decoded == 10 and st.frames_failed == 0 and st.lost == 0
    assert st.packets == a.send_stats()["a-video"].packets > 10  # key frames span packets
    # the relay saw only ciphertext: no synthetic frame label in any payload
    assert not any(b"RSF1" in p for p in relay.payloads)


def test_packets_stay_within_1200_bytes_and_audio_level_is_clear() -> None:
    a, _b, relay = _pair()
    a.set_encryption_secret("correct horse battery")
    key = VideoSource(bitrate=2_000_000).frame(0)
    assert len(key.data) > 5000
    out = a.send_frame("a-video", key.data, timestamp=0, keyframe=True)
    assert len(out) == -(-len(key.data) // 1100) or len(out) >= len(key.data) // 1200
    plain = [relay.hops["a"].unprotect(d) for d in out]
    assert all(fastpath.parse_header(p)[7] - fastpath.header_length(p) <= 1200 for p in plain)
    assert [fastpath.parse_header(p)[0] for p in plain] == [False] * (len(plain) - 1) + [True]
    f = AudioSource().frame(3)
    (dgram,) = a.send_frame("a-audio", f.data, timestamp=f.timestamp,
                            audio_level=(f.voice, f.audio_level))
    assert read_audio_level(relay.hops["a"].unprotect(dgram)) == (True, f.audio_level)


def test_wrong_secret_fails_then_match_after_fix() -> None:
    a, b, relay = _pair()
    a.set_encryption_secret("correct horse battery")
    b.set_encryption_secret("wrong horse battery")
    _send_video(a, relay, 5, 0.0)
    st = b.receive_stats()[0xB1]
    assert st.frames_decoded == 0 and st.frames_failed == 5
    events = b.pop_events()
    assert [e.type for e in events] == [ENCRYPTION_SECRET_MISMATCH]
    assert events[0].get("participant_id") == "alice"
    b.set_encryption_secret("correct horse battery")
    _send_video(a, relay, 5, 1.0, first=5)
    assert [e.type for e in b.pop_events()] == [ENCRYPTION_SECRET_MATCH]
    assert b.receive_stats()[0xB1].frames_decoded == 5


def test_sender_secret_change_is_followed_without_gap() -> None:
    a, b, relay = _pair()
    a.set_encryption_secret("first secret!")
    b.set_encryption_secret("first secret!")
    _send_video(a, relay, 3, 0.0)
    a.set_encryption_secret("second secret")
    b.set_encryption_secret("second secret")
    _send_video(a, relay, 3, 1.0, first=3)
    st = b.receive_stats()[0xB1]
    assert (st.frames_decoded, st.frames_failed) == (6, 0)


@pytest.mark.parametrize(("secret", "ok"), [
    ("1234567", False), ("12345678", True), ("x" * 256, True), ("x" * 257, False), ("", False),
])
def test_secret_length_rules(secret: str, ok: bool) -> None:
    a, _b, _r = _pair()
    if ok:
        a.set_encryption_secret(secret)
        assert a.has_secret
    else:
        with pytest.raises(ValueError, match="8 to 256 characters"):
            a.set_encryption_secret(secret)


def test_non_e2ee_session_has_no_secret_and_carries_clear_frames() -> None:
    a, b, relay = _pair(e2ee=False)
    with pytest.raises(ValueError, match="not end-to-end encrypted"):
        a.set_encryption_secret("whatever123")
    _send_video(a, relay, 3, 0.0)
    assert b.receive_stats()[0xB1].frames_decoded == 3
    assert any(b"RSF1" in p for p in relay.payloads)


def test_publishing_in_e2ee_session_needs_a_secret() -> None:
    a, _b, _r = _pair()
    with pytest.raises(ValueError, match="set the encryption secret"):
        a.send_frame("a-video", b"x" * 50, timestamp=0)


def test_nack_recovers_a_lost_packet() -> None:
    a, b, relay = _pair()
    for c in (a, b):
        c.set_encryption_secret("correct horse battery")
    _send_video(a, relay, 2, 0.0)
    seq_to_lose = a._send["a-video"].seq + 1  # second packet of the next frame
    relay.drop_next.add(seq_to_lose)
    _send_video(a, relay, 2, 0.1, first=2)
    st = b.receive_stats()[0xB1]
    assert st.lost == 1 and st.frames_decoded < 4
    due = b.tick(0.2)
    relay.deliver("b", due, 0.2)
    st = b.receive_stats()[0xB1]
    assert st.nacks_sent == 1 and st.recovered == 1 and st.lost == 0
    assert st.frames_decoded == 4
    assert a.send_stats()["a-video"].retransmitted == 1
    assert a.send_stats()["a-video"].nacks_received == 1


def test_pli_when_loss_is_not_repaired() -> None:
    a, b, relay = _pair(nack=False)
    for c in (a, b):
        c.set_encryption_secret("correct horse battery")
    _send_video(a, relay, 1, 0.0)
    relay.drop_next.add(a._send["a-video"].seq)
    _send_video(a, relay, 3, 0.1, first=1)
    assert b.tick(0.15) == [] or b.receive_stats()[0xB1].plis_sent == 0
    relay.deliver("b", b.tick(0.5), 0.5)
    assert b.receive_stats()[0xB1].plis_sent == 1
    events = a.pop_events()
    assert [e.type for e in events] == [KEYFRAME_REQUESTED]
    assert events[0].get("track_id") == "a-video"
    assert a.send_stats()["a-video"].plis_received == 1


def test_receiver_report_announces_rtcp_ssrc_and_reports_loss() -> None:
    a, b, relay = _pair()
    for c in (a, b):
        c.set_encryption_secret("correct horse battery")
    rr0 = b.tick(0.0)
    assert len(rr0) == 1
    plain = relay.hops["b"].unprotect_rtcp(rr0[0])
    assert plain[1] == 201 and struct.unpack_from("!I", plain, 4)[0] == 22
    assert b.tick(0.5) == []  # next RR only after ~1 s
    relay.drop_next.add(a._send["a-video"].seq + 3)
    _send_video(a, relay, 6, 0.0)
    b.nack_enabled = False
    (plain,) = [p for p in map(relay.hops["b"].unprotect_rtcp, b.tick(1.0)) if p[1] == 201]
    assert plain[0] & 0x1F == 1  # one report block: only the video stream had packets
    blocks = {struct.unpack_from("!I", plain, 8 + 24 * i)[0]: plain[8 + 24 * i + 4]
              for i in range(plain[0] & 0x1F)}
    assert blocks[0xB1] > 0  # fraction lost


def test_srtp_from_wrong_key_is_dropped_and_counted() -> None:
    _a, b, _relay = _pair()
    stranger = HopCrypto(os.urandom(28), os.urandom(28))
    b.receive(stranger.protect(b"\x80" + bytes(11) + b"x"), 0.0)
    b.receive(b"\x80\x60" + bytes(30), 0.0)
    b.receive(b"\x00\x01" + bytes(30), 0.0)
    assert b.drops == {"srtp": 2, "not_rtp": 1}


def test_transport_info_from_json() -> None:
    import base64
    k = base64.b64encode(bytes(28)).decode()
    ok = {"host": "127.0.0.1", "port": 40000, "profile": "AEAD_AES_128_GCM",
          "client_key": k, "router_key": k, "rtcp_ssrc": 5}
    assert TransportInfo.from_json(ok).rtcp_ssrc == 5
    with pytest.raises(TransportInfoError, match="transport is missing 'router_key'"):
        TransportInfo.from_json({k2: v for k2, v in ok.items() if k2 != "router_key"})
    with pytest.raises(TransportInfoError, match="not base64"):
        TransportInfo.from_json({**ok, "client_key": "***"})
    with pytest.raises(TransportInfoError, match="address is invalid"):
        TransportInfo.from_json({**ok, "port": 0})


def test_periodic_report_carries_a_sender_report_per_published_track() -> None:
    from rtpstack.rtcp.ntp import ntp_to_unix
    from rtpstack.rtcp.reports import ReceiverReport, SenderReport

    a, _b, relay = _pair()
    a.set_encryption_secret("correct horse battery")
    f = VideoSource().frame(0)
    sent = a.send_frame("a-video", f.data, timestamp=f.timestamp, keyframe=True, now=10.0)
    first_ts = struct.unpack_from("!I", relay.hops["a"].unprotect(sent[0]), 4)[0]
    (report,) = a.tick(10.5, wallclock=1_700_000_000.0)
    packets = parse_compound(relay.hops["a"].unprotect_rtcp(report))
    assert isinstance(packets[0], ReceiverReport) and packets[0].ssrc == 11
    (sr,) = [p for p in packets if isinstance(p, SenderReport)]  # audio sent nothing yet
    assert sr.ssrc == 0xA1 and sr.packet_count == len(sent)
    assert sr.rtp_timestamp == (first_ts + 45_000) % (1 << 32)  # 0.5 s at 90 kHz later
    assert ntp_to_unix(sr.ntp_timestamp) == pytest.approx(1_700_000_000.0)
