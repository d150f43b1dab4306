"""Drive a running router: N publishers and M subscribers (or a room of P) over real UDP.

:func:`run_load` creates an e2ee (or clear) routed session over the HTTP API, joins every
participant over signaling, publishes audio (50 frames/s of ~100 B) and video (a chosen
bitrate, at most 1,200 B per packet) as SFrame frames in the SFrame RTP payload format over
hop-by-hop SRTP, subscribes, sends for a bounded time, waits for stragglers and returns a
:class:`LoadReport`: per-subscriber packets/bytes received, expected and lost, send-to-receive
latency percentiles (from the send time each packet carries in a header extension), and the
router's and the generator's CPU use.

It is a lean sender on the transport contract of ``docs/transport.md``, not the full
``rtpstack.client`` (which decrypts and reassembles every frame): subscribers count and time
packets from the header in clear, and check SRTP only with ``verify=True``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import socket
import struct
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pylibsrtp

from rtpstack.client.sources import AudioSource, VideoSource
from rtpstack.client.wire import AUDIO_LEVEL_URI
from rtpstack.e2ee import FrameEncryptor, derive_master_key, random_sender_index
from rtpstack.loadgen.control import ApiClient, ControlError, Signaling
from rtpstack.loadgen.procstat import cpu_seconds, pid_listening_on
from rtpstack.loadgen.wire import (
    SEND_TIME_ID,
    SEND_TIME_URI,
    LatencySamples,
    StreamCounter,
    build_packet,
    rr_packet,
)
from rtpstack.seqnum import seq_add
from rtpstack.sframe.rtp import fragment

__all__ = ["LoadConfig", "LoadReport", "run_load"]

MAX_PAYLOAD = 1200
_PROFILES = {
    "AEAD_AES_128_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "AEAD_AES_256_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
}
_BUCKET_NS = 100_000_000  # timeline resolution: 100 ms
#: sequence number, SSRC, first extension element header, send time (bytes 2-3, 8-11, 16, 17-24)
_RECV_FIELDS = struct.Struct(">2xH4xI4xBQ")
_MAX_BUCKETS = 36_000


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """What to generate. ``room=True``: ``publishers`` participants each publish and
    subscribe to every other one (``subscribers`` is ignored)."""

    url: str = "http://127.0.0.1:8780"
    api_key: str = "devkey"
    api_secret: str = "devsecret-change-me"
    publishers: int = 1
    subscribers: int = 1
    room: bool = False
    seconds: float = 5.0
    audio: bool = True
    video: bool = True
    video_bitrate: int = 500_000
    fps: float = 30.0
    e2ee: bool = True
    secret: str = "loadgen shared secret"
    verify: bool = False
    drain: float = 0.5
    router_pid: int | None = None
    max_participants: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.seconds <= 3600:
            raise ValueError(f"seconds must be in (0, 3600], got {self.seconds}")
        if self.publishers < 0 or self.subscribers < 0:
            raise ValueError("publishers and subscribers must be >= 0")
        total = self.publishers + (0 if self.room else self.subscribers)
        if not 0 < total <= self.max_participants:
            raise ValueError(f"1..{self.max_participants} participants allowed, got {total}")
        if not (self.audio or self.video):
            raise ValueError("nothing to send: enable audio or video")
        if not 1_000 <= self.video_bitrate <= 100_000_000:
            raise ValueError(f"video bitrate must be 1 kb/s..100 Mb/s, got {self.video_bitrate}")
        if not 1 <= self.fps <= 120:
            raise ValueError(f"fps must be 1..120, got {self.fps}")


@dataclass(slots=True)
class LoadReport:
    """What a run measured (see :meth:`to_json`)."""

    config: dict[str, Any]
    session_id: str
    media_seconds: float
    publishers: list[dict[str, Any]]
    subscribers: list[dict[str, Any]]
    totals: dict[str, Any]
    latency_ms: dict[str, float]
    router: dict[str, Any]
    generator: dict[str, Any]
    timeline: dict[str, list[int]] = field(default_factory=dict)
    latency_sample_ms: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict of everything (latency samples thinned to 5,000)."""
        return asdict(self)


class _Track:
    __slots__ = (
        "bytes",
        "counter",
        "encrypt_stream",
        "frame_index",
        "interval",
        "kind",
        "level",
        "next_due",
        "packets",
        "payload_type",
        "send_failed",
        "seq",
        "source",
        "ssrc",
        "stream_id",
        "ts0",
        "ts_step",
    )

    def __init__(self, kind: str, ssrc: int, source: AudioSource | VideoSource,
                 payload_type: int, stream: int, rng: random.Random) -> None:
        self.kind = kind
        self.ssrc = ssrc
        self.source = source
        self.payload_type = payload_type
        self.encrypt_stream = stream
        self.interval = 1.0 / source.fps
        self.frame_index = 0
        self.next_due = 0.0
        self.seq = rng.getrandbits(16)
        self.ts0 = rng.getrandbits(32)
        self.ts_step = 0
        self.stream_id = ""
        self.packets = 0
        self.bytes = 0
        self.send_failed = 0
        self.level = kind == "audio"
        self.counter = 0

    def publish_message(self, e2ee: bool) -> dict[str, Any]:
        if self.kind == "audio":
            codec: dict[str, Any] = {"name": "opus", "payload_type": self.payload_type,
                                     "clock_rate": 48000, "channels": 2}
            exts = {"1": AUDIO_LEVEL_URI, str(SEND_TIME_ID): SEND_TIME_URI}
        else:
            codec = {"name": "VP8", "payload_type": self.payload_type, "clock_rate": 90000}
            exts = {str(SEND_TIME_ID): SEND_TIME_URI}
        return {"type": "publish", "track": {"kind": self.kind, "ssrcs": [self.ssrc],
                                             "name": f"loadgen-{self.kind}", "encrypted": e2ee,
                                             "codec": codec, "header_extensions": exts}}


class _Peer:
    """One participant: signaling, one UDP socket, hop SRTP, tracks, receive counters."""

    def __init__(self, pid: str, sig: Signaling, transport: dict[str, Any], verify: bool
                 ) -> None:
        self.pid = pid
        self.sig = sig
        self.dst = (str(transport["host"]), int(transport["port"]))
        self.rtcp_ssrc = int(transport["rtcp_ssrc"])
        profile = _PROFILES.get(str(transport.get("profile", "AEAD_AES_128_GCM")))
        if profile is None:
            raise ControlError(f"unsupported SRTP profile {transport.get('profile')!r}")
        ckey = base64.b64decode(transport["client_key"])
        rkey = base64.b64decode(transport["router_key"])
        self.tx = pylibsrtp.Session(pylibsrtp.Policy(
            key=ckey, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
        self.rx = pylibsrtp.Session(pylibsrtp.Policy(
            key=rkey, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
        ) if verify else None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.tracks: list[_Track] = []
        self.encryptor: FrameEncryptor | None = None
        #: subscriber-side SSRC → the publisher's track it carries.
        self.expect: dict[int, _Track] = {}
        self.counters: dict[int, StreamCounter] = {}
        self.rtcp_in = 0
        self.auth_failed = 0
        self.unexpected = 0
        self.rr_sent = 0

    def send_rr(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendto(self.tx.protect_rtcp(rr_packet(self.rtcp_ssrc)), self.dst)
            self.rr_sent += 1


class _Receiver:
    """Drains every peer's socket from the loop's reader callbacks."""

    def __init__(self, latency: LatencySamples, start_ns: int) -> None:
        self.latency = latency
        self.start_ns = start_ns
        self.buckets = [0] * _MAX_BUCKETS

    def drain(self, peer: _Peer) -> None:
        recv = peer.sock.recv
        now_ns = time.monotonic_ns
        counters = peer.counters
        rx = peer.rx
        add_latency = self.latency.add
        buckets = self.buckets
        start = self.start_ns
        unpack = _RECV_FIELDS.unpack_from
        stamped = (SEND_TIME_ID << 4) | 7
        for _ in range(512):
            try:
                data = recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            t = now_ns()
            if len(data) < 28 or 192 <= data[1] <= 223:
                peer.rtcp_in += 1
                continue
            if rx is not None:
                try:
                    rx.unprotect(data)
                except pylibsrtp.Error:
                    peer.auth_failed += 1
                    continue
            seq, ssrc, element, sent = unpack(data)
            counter = counters.get(ssrc)
            if counter is None:
                peer.unexpected += 1
                continue
            counter.add(seq, len(data))
            if element == stamped:
                add_latency(t - sent)
            b = (t - start) // _BUCKET_NS
            if 0 <= b < _MAX_BUCKETS:
                buckets[b] += 1


def _send_frame(peer: _Peer, track: _Track, sent_buckets: list[int], start_ns: int) -> None:
    frame = track.source.frame(track.frame_index)
    track.frame_index += 1
    data = frame.data
    if peer.encryptor is not None:
        data = peer.encryptor.encrypt(data, stream=track.encrypt_stream)
    payloads = fragment(data, MAX_PAYLOAD)
    ts = (track.ts0 + frame.timestamp) % (1 << 32)
    last = len(payloads) - 1
    level = frame.audio_level | (0x80 if frame.voice else 0) if track.level else None
    protect = peer.tx.protect
    sendto = peer.sock.sendto
    dst = peer.dst
    for i, payload in enumerate(payloads):
        now = time.monotonic_ns()
        pkt = protect(build_packet(track.payload_type, i == last, track.seq, ts, track.ssrc,
                                   now, payload, level))
        track.seq = seq_add(track.seq, 1)
        try:
            sendto(pkt, dst)
        except (BlockingIOError, InterruptedError):
            track.send_failed += 1
            continue
        track.packets += 1
        track.bytes += len(pkt)
        b = (now - start_ns) // _BUCKET_NS
        if 0 <= b < _MAX_BUCKETS:
            sent_buckets[b] += 1


async def run_load(config: LoadConfig) -> LoadReport:
    """Run one bounded load against the router at ``config.url``; see the module docstring."""
    rng = random.Random()
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        api = ApiClient(http, config.url, config.api_key, config.api_secret)
        session_id = await api.create_session(config.e2ee)
        if config.e2ee:
            await asyncio.to_thread(derive_master_key, config.secret, session_id)
        router_pid = config.router_pid
        if router_pid is None:
            port = urlsplit(config.url).port
            router_pid = pid_listening_on(port) if port else None
        n_pub = config.publishers
        n_sub = 0 if config.room else config.subscribers
        peers: list[_Peer] = []
        publishers: list[_Peer] = []
        subscribers: list[_Peer] = []
        try:
            for i in range(n_pub + n_sub):
                is_pub = i < n_pub
                pid = f"{'pub' if is_pub else 'sub'}{i if is_pub else i - n_pub}"
                token = await api.token(session_id, pid, "publisher" if is_pub else "subscriber")
                sig = await Signaling.connect(http, config.url, token)
                joined = await sig.request({"type": "join"})
                transport = joined.get("transport")
                if not isinstance(transport, dict):
                    await sig.close()
                    raise ControlError("the join answer carries no transport")
                peer = _Peer(pid, sig, transport, config.verify)
                peers.append(peer)
                peer.send_rr()
                if is_pub:
                    publishers.append(peer)
                    if config.room:
                        subscribers.append(peer)
                    await _publish(peer, config, rng, session_id)
                else:
                    subscribers.append(peer)
            for sub in subscribers:
                for pub in publishers:
                    if pub is sub:
                        continue
                    for track in pub.tracks:
                        answer = await sub.sig.request(
                            {"type": "subscribe", "stream_id": track.stream_id})
                        out_ssrc = int(answer["ssrc"])
                        sub.expect[out_ssrc] = track
                        sub.counters[out_ssrc] = StreamCounter()
            for peer in peers:
                peer.send_rr()
            await asyncio.sleep(0.3)
            return await _media(config, loop, api, session_id, peers, publishers,
                                subscribers, router_pid)
        finally:
            for peer in peers:
                with contextlib.suppress(Exception):
                    loop.remove_reader(peer.sock.fileno())
                peer.sock.close()
            await asyncio.gather(*(p.sig.close() for p in peers), return_exceptions=True)
            await api.delete_session(session_id)


async def _publish(peer: _Peer, config: LoadConfig, rng: random.Random, session_id: str
                   ) -> None:
    if config.e2ee:
        peer.encryptor = FrameEncryptor(config.secret, session_id, random_sender_index())
    stream = 0
    if config.audio:
        peer.tracks.append(_Track("audio", rng.getrandbits(32) or 1, AudioSource(), 111,
                                  stream, rng))
        stream += 1
    if config.video:
        peer.tracks.append(_Track("video", rng.getrandbits(32) or 1,
                                  VideoSource(bitrate=config.video_bitrate, fps=config.fps),
                                  96, stream, rng))
    for track in peer.tracks:
        answer = await peer.sig.request(track.publish_message(config.e2ee))
        track.stream_id = str(answer["stream"]["stream_id"])


async def _media(config: LoadConfig, loop: asyncio.AbstractEventLoop, api: ApiClient,
                 session_id: str, peers: list[_Peer], publishers: list[_Peer],
                 subscribers: list[_Peer], router_pid: int | None) -> LoadReport:
    latency = LatencySamples()
    start_ns = time.monotonic_ns()
    receiver = _Receiver(latency, start_ns)
    sent_buckets = [0] * _MAX_BUCKETS
    for peer in subscribers:
        loop.add_reader(peer.sock.fileno(), receiver.drain, peer)
    for peer in peers:
        if peer not in subscribers:  # drain RTCP so the socket buffer never fills
            loop.add_reader(peer.sock.fileno(), receiver.drain, peer)
    metrics_before = await api.metrics()
    router_cpu0 = cpu_seconds(router_pid) if router_pid else None
    gen_cpu0 = cpu_seconds(os.getpid())
    rr_before = sum(p.rr_sent for p in peers)
    t0 = loop.time()
    end = t0 + config.seconds
    stagger = 0.0
    for peer in publishers:
        for track in peer.tracks:
            track.next_due = t0 + stagger % track.interval
            stagger += 0.0037
    next_rr = t0 + 1.0
    max_ticks = int(config.seconds * 1500) + 10  # each tick sleeps >= 1 ms
    for _ in range(max_ticks):
        now = loop.time()
        if now >= end:
            break
        for peer in publishers:
            for track in peer.tracks:
                for _f in range(20):
                    if track.next_due > now or track.next_due >= end:
                        break
                    _send_frame(peer, track, sent_buckets, start_ns)
                    track.next_due += track.interval
        if now >= next_rr:
            next_rr += 1.0
            for peer in peers:
                peer.send_rr()
        upcoming = min((t.next_due for p in publishers for t in p.tracks), default=end)
        await asyncio.sleep(max(0.001, min(upcoming, end) - loop.time()))
    media_end = loop.time()
    await asyncio.sleep(config.drain)
    wall = loop.time() - t0
    router_cpu1 = cpu_seconds(router_pid) if router_pid else None
    gen_cpu1 = cpu_seconds(os.getpid())
    metrics_after = await api.metrics()
    for peer in peers:
        loop.remove_reader(peer.sock.fileno())
    rtcp_sent = sum(p.rr_sent for p in peers) - rr_before
    return _report(rtcp_sent, config, session_id, media_end - t0, wall, publishers,
                   subscribers, latency,
                   receiver.buckets, sent_buckets, router_pid,
                   (router_cpu0, router_cpu1), (gen_cpu0, gen_cpu1),
                   metrics_before, metrics_after)


def _cpu(pair: tuple[float | None, float | None], wall: float) -> float | None:
    a, b = pair
    return None if a is None or b is None else round(100.0 * (b - a) / wall, 1)


def _cpu_seconds(pair: tuple[float | None, float | None]) -> float | None:
    a, b = pair
    return None if a is None or b is None else round(b - a, 3)


def _report(rtcp_sent: int, config: LoadConfig, session_id: str, media_seconds: float, wall: float,
            publishers: list[_Peer], subscribers: list[_Peer], latency: LatencySamples,
            recv_buckets: list[int], sent_buckets: list[int], router_pid: int | None,
            router_cpu: tuple[float | None, float | None],
            gen_cpu: tuple[float | None, float | None],
            before: dict[str, float], after: dict[str, float]) -> LoadReport:
    pubs = [{"participant_id": p.pid,
             "streams": [{"kind": t.kind, "ssrc": t.ssrc, "stream_id": t.stream_id,
                          "packets": t.packets, "bytes": t.bytes,
                          "send_failed": t.send_failed} for t in p.tracks]}
            for p in publishers]
    subs: list[dict[str, Any]] = []
    for s in subscribers:
        expected = sum(t.packets for t in s.expect.values())
        received = sum(c.packets for c in s.counters.values())
        subs.append({"participant_id": s.pid, "streams": len(s.expect), "expected": expected,
                     "received": received, "lost": expected - received,
                     "loss": round((expected - received) / expected, 6) if expected else 0.0,
                     "bytes": sum(c.bytes for c in s.counters.values()),
                     "rtcp_received": s.rtcp_in, "auth_failed": s.auth_failed,
                     "unexpected": s.unexpected})
    sent = sum(t.packets for p in publishers for t in p.tracks)
    sent_bytes = sum(t.bytes for p in publishers for t in p.tracks)
    expected = sum(s["expected"] for s in subs)
    received = sum(s["received"] for s in subs)
    totals = {"sent": sent, "sent_bytes": sent_bytes, "expected": expected,
              "received": received, "lost": expected - received,
              "loss": round((expected - received) / expected, 6) if expected else 0.0,
              "received_bytes": sum(s["bytes"] for s in subs),
              "rtcp_sent": rtcp_sent,
              "send_failed": sum(t.send_failed for p in publishers for t in p.tracks),
              "in_pkt_per_s": round(sent / media_seconds, 1),
              "out_pkt_per_s": round(received / media_seconds, 1)}
    p50, p90, p99, pmax = latency.percentiles(50, 90, 99, 100)
    lat = {"p50": round(p50, 4), "p90": round(p90, 4), "p99": round(p99, 4),
           "max": round(pmax, 4), "samples": len(latency.samples)}
    delta = {k.removeprefix("rtp_router_"): after[k] - before.get(k, 0.0) for k in after
             if (k.startswith("rtp_router_") and k.endswith("_total")) or "drops_total{" in k}
    router = {"pid": router_pid, "cpu_percent": _cpu(router_cpu, wall),
              "cpu_seconds": _cpu_seconds(router_cpu),
              "metrics_delta": {k: v for k, v in delta.items() if v}}
    generator = {"pid": os.getpid(), "cpu_percent": _cpu(gen_cpu, wall),
                 "cpu_seconds": _cpu_seconds(gen_cpu)}
    n = max(1, int(wall * 1e9 // _BUCKET_NS) + 1)
    thin = latency.samples[:: max(1, len(latency.samples) // 5000)]
    return LoadReport(
        config=asdict(config) | {"api_secret": "***"},
        session_id=session_id, media_seconds=round(media_seconds, 3),
        publishers=pubs, subscribers=subs, totals=totals, latency_ms=lat, router=router,
        generator=generator,
        timeline={"bucket_ms": [_BUCKET_NS // 1_000_000], "sent": sent_buckets[:n],
                  "received": recv_buckets[:n]},
        latency_sample_ms=[round(x / 1e6, 4) for x in thin],
    )
