"""Benchmark the router's forwarding path: sans-IO core, and over UDP with uvloop.

Run: ``.venv/bin/python tools/bench_forwarding.py`` (about 20-40 s, one process, one run).

Rows (all per incoming packet, same process, same run):

* ``naive``: the straightforward typed path: unprotect, ``RtpPacket.parse``, rebuild with a new
  SSRC/seq/ts via ``dataclasses.replace`` + ``bytes()``, protect per subscriber. The baseline.
* ``core``: :meth:`ForwardingCore.handle_datagram` (unprotect, ownership, stats, NACK cache,
  per-subscriber rewrite on bytes + protect).
* ``floor``: only the SRTP calls the core must make (1 unprotect + N protects), made through
  pylibsrtp's public API; the core calls libsrtp on the session buffer directly, so with one
  subscriber it can come out below this "floor".
* ``udp``: publisher socket → router (uvloop) → N subscriber sockets on 127.0.0.1, packets
  received by the subscribers per second of wall time (kernel and both ends included).

Numbers on a shared 2-core VM are noisy; compare ratios within one run only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import socket
import struct
import time

import pylibsrtp

from router.forwarding import ForwardingCore, HopKeys
from router.forwarding.hop import HopCrypto
from rtpstack.rtp import RtpPacket

N_CORE = 20000


def _client_tx(keys: HopKeys) -> pylibsrtp.Session:
    return pylibsrtp.Session(pylibsrtp.Policy(
        key=keys.client_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM))


def _packets(tx: pylibsrtp.Session, ssrc: int, size: int, n: int) -> list[bytes]:
    payload = os.urandom(size)
    return [tx.protect(struct.pack(">BBHII", 0x80, 96, i & 0xFFFF, 3000 * i, ssrc) + payload)
            for i in range(n)]


def bench_naive(size: int, subs: int) -> float:
    pub = HopKeys.generate()
    rx = HopCrypto(pub).rx
    txs = [HopCrypto(HopKeys.generate()).tx for _ in range(subs)]
    pkts = _packets(_client_tx(pub), 42, size, N_CORE)
    t0 = time.perf_counter()
    for i, data in enumerate(pkts):
        pkt = RtpPacket.parse(rx.unprotect(data))
        for j, tx in enumerate(txs):
            out = dataclasses.replace(pkt, ssrc=1000 + j, sequence_number=(i + j) % 65536,
                                      timestamp=(pkt.timestamp + j) % (1 << 32))
            tx.protect(bytes(out))
    return (time.perf_counter() - t0) / N_CORE


def bench_floor(size: int, subs: int) -> float:
    pub = HopKeys.generate()
    rx = HopCrypto(pub).rx
    txs = [HopCrypto(HopKeys.generate()).tx for _ in range(subs)]
    pkts = _packets(_client_tx(pub), 42, size, N_CORE)
    t0 = time.perf_counter()
    for data in pkts:
        plain = rx.unprotect(data)
        for tx in txs:
            tx.protect(plain)
    return (time.perf_counter() - t0) / N_CORE


def bench_core(size: int, subs: int) -> float:
    core = ForwardingCore(rng=random.Random(1))
    pub = core.add_participant("pub")
    core.add_stream("pub", 42, "video", 90000)
    for j in range(subs):
        core.add_participant(f"s{j}")
        core.add_subscription(f"s{j}", 42)
        core.participants[f"s{j}"].addr = ("127.0.0.1", 20000 + j)
    pkts = _packets(_client_tx(pub.keys), 42, size, N_CORE)
    addr = ("127.0.0.1", 10000)
    core.participants["pub"].addr = addr
    core._by_addr[addr] = core.participants["pub"]
    handle = core.handle_datagram
    t0 = time.perf_counter()
    for i, data in enumerate(pkts):
        handle(data, addr, i * 0.001)
    dt = (time.perf_counter() - t0) / N_CORE
    assert core.packets_out == N_CORE * subs, core.stats()
    return dt


async def _udp(size: int, subs: int, seconds: float) -> tuple[float, float]:
    from router.config import PortRange, RouterConfig
    from router.media import RouterMediaPlane
    from router.sessions import Codec, Kind, Publication

    plane = RouterMediaPlane(RouterConfig(media_ports=PortRange(0, 0)))
    await plane.start()
    await plane.add_session("b", e2ee=True)
    infos = {n: await plane.add_participant("b", n) for n in ["pub"] + [f"s{j}" for j in
                                                                        range(subs)]}
    pubn = Publication("v", "pub", Kind.VIDEO, (42,), (), Codec("VP8", 96, 90000), (), True)
    await plane.add_publication("b", pubn)
    socks: dict[str, socket.socket] = {}
    dst = (infos["pub"].host, infos["pub"].port)
    for n, info in infos.items():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setblocking(False)
        socks[n] = s
        keys = HopKeys(info.client_key.key + info.client_key.salt,
                       info.router_key.key + info.router_key.salt)
        rr = _client_tx(keys).protect_rtcp(struct.pack(">BBHI", 0x80, 201, 1, info.rtcp_ssrc))
        s.sendto(rr, dst)
        if n != "pub":
            await plane.add_subscription("b", f"sub{n}", n, pubn)
    await asyncio.sleep(0.1)
    pub_keys = HopKeys(infos["pub"].client_key.key + infos["pub"].client_key.salt,
                       infos["pub"].router_key.key + infos["pub"].router_key.salt)
    pkts = _packets(_client_tx(pub_keys), 42, size, 60000)
    loop = asyncio.get_running_loop()
    received = [0]

    def drain() -> None:
        for n, s in socks.items():
            if n == "pub":
                continue
            while True:
                try:
                    s.recv(2048)
                except BlockingIOError:
                    break
                received[0] += 1

    for n, s in socks.items():
        if n != "pub":
            loop.add_reader(s.fileno(), drain)
    sent = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    psock = socks["pub"]
    while time.perf_counter() < end and sent < len(pkts):
        for _ in range(32):  # paced bursts: the router runs between them
            if sent >= len(pkts):
                break
            try:
                psock.sendto(pkts[sent], dst)
            except BlockingIOError:
                break
            sent += 1
        await asyncio.sleep(0)
    await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - t0
    for n, s in socks.items():
        if n != "pub":
            loop.remove_reader(s.fileno())
        s.close()
    stats = plane.stats()
    await plane.close()
    delivered = received[0] / subs
    _ = stats
    return sent / elapsed, delivered / elapsed


def main() -> int:
    rows: list[tuple[str, float, float]] = []
    for size, subs in ((100, 1), (1200, 1), (1200, 3), (1200, 10)):
        naive = bench_naive(size, subs)
        floor = bench_floor(size, subs)
        core = bench_core(size, subs)
        tag = f"{size:>5} B x{subs:>2} subs"
        rows += [(f"naive {tag}", naive, naive), (f"core  {tag}", core, naive),
                 (f"floor {tag}", floor, naive)]
    print(f"{'sans-IO path (per incoming packet)':<32}{'us/pkt':>10}{'in pkt/s':>12}"
          f"{'vs naive':>10}")
    for name, t, base in rows:
        print(f"{name:<32}{t * 1e6:>10.2f}{1 / t:>12.0f}{base / t:>9.2f}x")
    try:
        import uvloop
        runner = uvloop.run
        loop_name = "uvloop"
    except ImportError:  # pragma: no cover
        runner = asyncio.run  # type: ignore[assignment]
        loop_name = "asyncio"
    print()
    print(f"{'UDP on 127.0.0.1 (' + loop_name + ', 3 s each)':<32}{'in pkt/s':>12}"
          f"{'delivered/s per sub':>22}{'out pkt/s':>12}")
    for size, subs in ((1200, 1), (1200, 3)):
        sent_rate, got_rate = runner(_udp(size, subs, 3.0))
        print(f"{f'{size} B x{subs} subs':<32}{sent_rate:>12.0f}{got_rate:>22.0f}"
              f"{got_rate * subs:>12.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
