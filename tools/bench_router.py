"""Benchmark the router against the physical limit: a C relay, latency, room scale.

Run: ``.venv/bin/python tools/bench_router.py [limit] [latency] [room]`` (all three by
default, about 60 s). One run, two router processes (``python -m router``, uvloop): one with
the C forwarding path (``router.forwarding._fastfwd``, when built) and one with
``RTPSTACK_FASTFWD=0`` (pure Python), and in the same run the baselines the ratios are taken
against (the room section runs the default router only):

* ``limit``: a Python sender blasts 1,200 B SRTP packets for a few seconds at (a) a C sink
  directly (what the generator can offer at all), (b) the C relay of ``tools/relay.c`` (one
  ``recvfrom`` and one ``sendto`` per packet and per destination: the same fan-out without
  crypto, parsing or rewriting) and (c) the router (unprotect, rewrite, protect per
  subscriber, SRTP on both hops), 1→1 and 1→10. Egress packets/s are counted by the C sink
  (``recvmmsg``), so the receiving side is never the Python part.
* ``latency``: the same sender paced at 10,000 packets/s, each packet stamped with
  CLOCK_MONOTONIC in a header extension; the C sink reads it. p50/p99 router vs relay.
* ``room``: the load generator (``rtpstack.loadgen``) in room mode, e2ee, each participant
  one audio (50 pkt/s) and one 500 kb/s video stream subscribed by everyone else, growing the
  room until a run loses 1% or more.

The relay and sink are built at run time with ``cc -O2`` into a temporary directory. The
machine has 2 cores shared by sender, router/relay and sink: the numbers say what one box
does with all three on it, and the generator line says when the sender is the limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET = "benchkey", "bench-secret-not-for-production"
SIZE = 1200
LIMIT_SECONDS = 2.0
LATENCY_RATE = 10_000
LATENCY_SECONDS = 2.0
ROOM_SECONDS = 2.5
ROOM_SIZES = (16, 30, 40, 46, 52)
ROOM_BUDGET = 14.0


# ---------------------------------------------------------------- the sender (subprocess)

def sender_main(argv: list[str]) -> int:
    """``_send PORT SECONDS RATE KEYHEX SSRC STAMP``: send SRTP to 127.0.0.1:PORT; print
    ``sent N seconds S``. RATE 0 = as fast as possible; STAMP 1 = send time in each packet."""
    from router.forwarding.hop import HopCrypto, HopKeys
    from rtpstack.loadgen.wire import build_packet
    from rtpstack.seqnum import seq_add, ts_add

    port, seconds, rate = int(argv[0]), float(argv[1]), float(argv[2])
    key, ssrc, stamp = bytes.fromhex(argv[3]), int(argv[4]), argv[5] == "1"
    crypto = HopCrypto(HopKeys(os.urandom(len(key)), key))  # kept: it owns the libsrtp session
    protect = crypto.protect_rewritten
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.bind(("127.0.0.1", int(argv[6]) if len(argv) > 6 else 0))
    dst = ("127.0.0.1", port)
    payload = os.urandom(SIZE - 28)
    template = build_packet(96, False, 0, 0, ssrc, 0, payload)
    seq, ts, sent = 1, 1000, 0
    now_ns = time.monotonic_ns
    clock = time.perf_counter
    sendto = sock.sendto
    t0 = clock()
    end = t0 + seconds
    limit = int(seconds * (rate if rate else 400_000)) + 1
    while sent < limit:
        if not sent & 63 and clock() >= end:
            break
        if rate:
            due = (clock() - t0) * rate
            if sent >= due:
                time.sleep(0.0001)
                if clock() >= end:
                    break
                continue
        plain = build_packet(96, False, seq, ts, ssrc, now_ns(), payload) if stamp else template
        sendto(protect(plain, seq, ts, ssrc), dst)
        sent += 1
        seq = seq_add(seq, 1)
        if not seq & 3:
            ts = ts_add(ts, 3000)
    print(f"sent {sent} seconds {clock() - t0:.4f}", flush=True)
    return 0


# ---------------------------------------------------------------- processes


@dataclass
class SinkResult:
    """What the C sink counted."""

    count: int
    rate: float
    p50_ms: float
    p99_ms: float
    per_socket: list[int]


async def _start(*cmd: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "timeout", "-k", "2", "90", *cmd, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=env)


async def _line(proc: asyncio.subprocess.Process, prefix: str) -> str:
    assert proc.stdout is not None
    for _ in range(100):
        raw = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not raw:
            break
        line = raw.decode().strip()
        if line.startswith(prefix):
            return line
    raise RuntimeError(f"no {prefix!r} line from {proc.pid}")


async def _sink(relay: Path, seconds: float, hellos: list[str], dst: int | None
                ) -> tuple[asyncio.subprocess.Process, list[int]]:
    env = dict(os.environ)
    if dst is not None:
        env["SINK_DST"] = str(dst)
    proc = await _start(str(relay), "sink", str(seconds), *hellos, env=env)
    ports = [int(p) for p in (await _line(proc, "ports")).split()[1:]]
    return proc, ports


async def _sink_result(proc: asyncio.subprocess.Process) -> SinkResult:
    line = (await _line(proc, "count")).split()
    per = [int(x) for x in (await _line(proc, "per_socket")).split()[1:]]
    await proc.wait()
    vals = dict(zip(line[0::2], (int(x) for x in line[1::2]), strict=True))
    span = (vals["last_ns"] - vals["first_ns"]) / 1e9
    rate = (vals["count"] - 1) / span if span > 0 else 0.0
    return SinkResult(vals["count"], rate, vals["p50"] / 1e6, vals["p99"] / 1e6, per)


async def _send(port: int, seconds: float, rate: float, key: bytes, ssrc: int, stamp: bool,
                src_port: int = 0) -> tuple[int, float]:
    proc = await _start(sys.executable, str(Path(__file__).resolve()), "_send", str(port),
                        str(seconds), str(rate), key.hex(), str(ssrc), "1" if stamp else "0",
                        str(src_port))
    line = (await _line(proc, "sent")).split()
    await proc.wait()
    return int(line[1]), float(line[3])


class Router:
    """A ``python -m router`` subprocess and the loadgen control client for it."""

    def __init__(self, fastfwd: bool = True) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.pid = 0
        self.fastfwd = fastfwd
        #: "C path" or "Python path": the name the tables print.
        self.label = "C path" if fastfwd else "Python path"

    async def start(self) -> None:
        env = {**os.environ, "RTP_ROUTER_LOG_FORMAT": "json", "RTP_ROUTER_LOG_LEVEL": "warning"}
        if not self.fastfwd:
            env["RTPSTACK_FASTFWD"] = "0"
        self.proc = await asyncio.create_subprocess_exec(
            "timeout", "-k", "2", "300", sys.executable, "-m", "router", "--port", "0",
            "--media-ports", "0", "--api-key", KEY, "--api-secret", SECRET, "--log-level",
            "info", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env)
        line = await _line(self.proc, '{')
        for _ in range(50):
            if '"listening"' in line:
                break
            line = await _line(self.proc, '{')
        port = json.loads(line)["port"]
        self.url = f"http://127.0.0.1:{port}"
        from rtpstack.loadgen.procstat import pid_listening_on
        pid = pid_listening_on(port)
        if pid is None:
            raise RuntimeError("cannot find the router process")
        self.pid = pid
        assert self.proc.stdout is not None
        self._drain = asyncio.get_running_loop().create_task(self._discard())

    async def _discard(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while await self.proc.stdout.readline():
            pass

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@dataclass
class Fanout:
    """A session with one publisher and N subscribers, set up over the API and signaling."""

    session_id: str
    media_port: int
    pub_key: bytes
    pub_ssrc: int
    hellos: list[str]
    sigs: list[Any]


async def _fanout(router: Router, http: Any, subs: int) -> Fanout:
    import base64

    import pylibsrtp

    from rtpstack.loadgen.control import ApiClient, Signaling
    from rtpstack.loadgen.wire import SEND_TIME_ID, SEND_TIME_URI, rr_packet

    api = ApiClient(http, router.url, KEY, SECRET)
    sid = await api.create_session(True)
    sigs = []
    hellos = []
    pub_key = b""
    media_port = 0
    ssrc = int.from_bytes(os.urandom(4), "big") | 1
    stream_id = ""
    for i in range(subs + 1):
        pid = "pub" if i == 0 else f"sub{i}"
        sig = await Signaling.connect(http, router.url, await api.token(sid, pid, "publisher"))
        sigs.append(sig)
        tr = (await sig.request({"type": "join"}))["transport"]
        media_port = int(tr["port"])
        ckey = base64.b64decode(tr["client_key"])
        if i == 0:
            pub_key = ckey
            ans = await sig.request({"type": "publish", "track": {
                "kind": "video", "ssrcs": [ssrc], "encrypted": True,
                "codec": {"name": "VP8", "payload_type": 96, "clock_rate": 90000},
                "header_extensions": {str(SEND_TIME_ID): SEND_TIME_URI}}})
            stream_id = ans["stream"]["stream_id"]
            continue
        await sig.request({"type": "subscribe", "stream_id": stream_id})
        tx = pylibsrtp.Session(pylibsrtp.Policy(
            key=ckey, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM))
        hellos.append(tx.protect_rtcp(rr_packet(int(tr["rtcp_ssrc"]))).hex())
    return Fanout(sid, media_port, pub_key, ssrc, hellos, sigs)


async def _close_fanout(router: Router, http: Any, f: Fanout) -> None:
    from rtpstack.loadgen.control import ApiClient

    for sig in f.sigs:
        await sig.close()
    await ApiClient(http, router.url, KEY, SECRET).delete_session(f.session_id)


async def _through_router(router: Router, http: Any, relay: Path, subs: int, seconds: float,
                          rate: float, stamp: bool) -> tuple[SinkResult, int, float, float]:
    """Returns the sink's counts, packets sent, sending time, router CPU seconds."""
    from rtpstack.loadgen.procstat import cpu_seconds

    f = await _fanout(router, http, subs)
    sink, _ports = await _sink(relay, seconds + 5, f.hellos, f.media_port)
    await asyncio.sleep(0.3)
    cpu0 = cpu_seconds(router.pid)
    sent, took = await _send(f.media_port, seconds, rate, f.pub_key, f.pub_ssrc, stamp)
    result = await _sink_result(sink)
    cpu1 = cpu_seconds(router.pid)
    await _close_fanout(router, http, f)
    return result, sent, took, (cpu1 or 0) - (cpu0 or 0)


async def _through_relay(relay: Path, subs: int, seconds: float, rate: float, stamp: bool
                         ) -> tuple[SinkResult, int, float, float]:
    """Returns the sink's counts, packets sent, sending time, relay CPU seconds."""
    sink, ports = await _sink(relay, seconds + 5, ["-"] * subs, None)
    rproc = await _start(str(relay), "relay", str(seconds + 3), *map(str, ports))
    rport = int((await _line(rproc, "port")).split()[1])
    await asyncio.sleep(0.1)
    sent, took = await _send(rport, seconds, rate, os.urandom(28), 42, stamp)
    result = await _sink_result(sink)
    fields = (await _line(rproc, "in")).split()
    await rproc.wait()
    return result, sent, took, int(fields[5]) / 1e6


async def _direct(relay: Path, seconds: float) -> tuple[SinkResult, int, float]:
    sink, ports = await _sink(relay, seconds + 5, ["-"], None)
    sent, took = await _send(ports[0], seconds, 0, os.urandom(28), 42, False)
    return await _sink_result(sink), sent, took


# ---------------------------------------------------------------- sections


async def bench_limit(routers: list[Router], http: Any, relay: Path) -> None:
    s = LIMIT_SECONDS
    print(f"\n1. physical limit: {SIZE} B packets blasted for {s} s by one Python sender; "
          "egress counted by the C sink")
    print(f"{'path':<32}{'offered/s':>10}{'egress/s':>10}{'vs relay':>9}"
          f"{'CPU s':>7}{'CPU us/out':>11}{'out/CPU-s':>11}{'vs relay':>9}")
    gen, gsent, gtook = await _direct(relay, s)
    print(f"{'generator -> sink (no relay)':<32}{gsent / gtook:>10.0f}{gen.rate:>10.0f}")
    for subs in (1, 10):
        rel, rsent, rtook, rcpu = await _through_relay(relay, subs, s, 0, False)
        rel_eff = rel.count / rcpu if rcpu else float("nan")
        print(f"{f'C relay 1->{subs} (no crypto)':<32}{rsent / rtook:>10.0f}{rel.rate:>10.0f}"
              f"{1.0:>8.2f}x{rcpu:>7.2f}{1e6 / rel_eff:>11.2f}{rel_eff:>11.0f}{1.0:>8.2f}x")
        for router in routers:
            rout, osent, otook, ocpu = await _through_router(router, http, relay, subs, s, 0,
                                                             False)
            out_eff = rout.count / ocpu if ocpu else float("nan")
            name = f"router {router.label} 1->{subs}"
            print(f"{name:<32}{osent / otook:>10.0f}"
                  f"{rout.rate:>10.0f}{rout.rate / rel.rate:>8.2f}x{ocpu:>7.2f}"
                  f"{1e6 / out_eff:>11.2f}{out_eff:>11.0f}{out_eff / rel_eff:>8.2f}x")
    print("router rows: SRTP on both hops; egress/s: what the sink received per second; "
          "out/CPU-s: egress packets per CPU second the relay or router process used "
          "(robust to other load on the box)")


async def bench_latency(routers: list[Router], http: Any, relay: Path) -> None:
    s = LATENCY_SECONDS
    print(f"\n2. latency at {LATENCY_RATE} pkt/s, {SIZE} B, 1->1, {s} s, two runs each "
          "interleaved, the better p99 shown (send time stamped by the sender, read by the "
          "C sink)")
    print(f"{'path':<32}{'received':>10}{'p50 ms':>10}{'p99 ms':>10}{'p99 vs relay':>14}")
    best_rel: SinkResult | None = None
    best_rout: list[SinkResult | None] = [None] * len(routers)
    for _ in range(2):
        rel, _rs, _rt, _rc = await _through_relay(relay, 1, s, LATENCY_RATE, True)
        if best_rel is None or rel.p99_ms < best_rel.p99_ms:
            best_rel = rel
        for i, router in enumerate(routers):
            rout, _os, _ot, _oc = await _through_router(router, http, relay, 1, s,
                                                        LATENCY_RATE, True)
            prev = best_rout[i]
            if prev is None or rout.p99_ms < prev.p99_ms:
                best_rout[i] = rout
    assert best_rel is not None
    print(f"{'C relay':<32}{best_rel.count:>10}{best_rel.p50_ms:>10.3f}{best_rel.p99_ms:>10.3f}"
          f"{1.0:>13.2f}x")
    for router, best in zip(routers, best_rout, strict=True):
        assert best is not None
        print(f"{'router ' + router.label:<32}{best.count:>10}{best.p50_ms:>10.3f}"
              f"{best.p99_ms:>10.3f}{best.p99_ms / best_rel.p99_ms:>13.2f}x")


async def bench_room(router: Router) -> None:
    from rtpstack.loadgen import LoadConfig, run_load

    print(f"\n3. room scale ({router.label}): e2ee room, each participant 1 audio (50 pkt/s) "
          f"+ 1 video (500 kb/s), all subscribed to all; {ROOM_SECONDS} s per size")
    print(f"{'participants':>12}{'in pkt/s':>10}{'egress/s':>10}{'loss %':>8}{'p50 ms':>8}"
          f"{'p99 ms':>8}{'router CPU':>12}{'out/CPU-s':>11}{'loadgen CPU':>13}")
    best: tuple[int, float] | None = None
    t_end = time.monotonic() + ROOM_BUDGET
    for p in ROOM_SIZES:
        if time.monotonic() > t_end:
            print(f"(stopped at the {ROOM_BUDGET:.0f} s budget)")
            break
        rep = await run_load(LoadConfig(url=router.url, api_key=KEY, api_secret=SECRET,
                                        publishers=p, room=True, seconds=ROOM_SECONDS,
                                        router_pid=router.pid, drain=0.4))
        t = rep.totals
        lat = rep.latency_ms
        cpu = rep.router["cpu_percent"]
        cpu_s = rep.router["cpu_seconds"]
        per_cpu = f"{t['received'] / cpu_s:.0f}" if cpu_s else "?"
        print(f"{p:>12}{t['in_pkt_per_s']:>10.0f}{t['out_pkt_per_s']:>10.0f}"
              f"{100 * t['loss']:>8.2f}{lat['p50']:>8.2f}{lat['p99']:>8.2f}"
              f"{cpu!s:>11}%{per_cpu:>11}{rep.generator['cpu_percent']!s:>12}%")
        if t["loss"] >= 0.01:
            break
        best = (p, t["out_pkt_per_s"])
    if best:
        print(f"largest room under 1% loss: {best[0]} participants, {best[1]:.0f} egress pkt/s")
    print("router CPU well under 100% at a lossy size means the router waited for a core "
          "(other load), not that it was saturated; out/CPU-s: egress per router CPU second")


async def amain(sections: list[str]) -> int:
    import aiohttp

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        print("no C compiler: cannot build tools/relay.c")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        relay = Path(tmp) / "relay"
        subprocess.run([cc, "-O2", "-o", str(relay), str(ROOT / "tools" / "relay.c")],
                       check=True, timeout=60)
        from router.forwarding.fastfwd import fastfwd_backend

        routers = [Router(True)] if fastfwd_backend == "c" else []
        routers.append(Router(False))
        for router in routers:
            await router.start()
        print(f"routers: {', '.join(f'{r.label} pid {r.pid}' for r in routers)}; "
              f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}"
              + ("" if fastfwd_backend == "c" else "; C path not built/disabled"))
        try:
            async with aiohttp.ClientSession() as http:
                if "limit" in sections:
                    await bench_limit(routers, http, relay)
                if "latency" in sections:
                    await bench_latency(routers, http, relay)
            if "room" in sections:
                await bench_room(routers[0])
        finally:
            for router in routers:
                await router.stop()
    return 0


def main() -> int:
    """Run the sections named on the command line (default: all)."""
    if len(sys.argv) > 1 and sys.argv[1] == "_send":
        return sender_main(sys.argv[2:])
    sections = [a for a in sys.argv[1:] if a in ("limit", "latency", "room")]
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(amain(sections or ["limit", "latency", "room"]))
    return uvloop.run(amain(sections or ["limit", "latency", "room"]))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
