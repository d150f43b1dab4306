"""The main job: a router, an end-to-end encrypted session, four clients, and what they decoded.

``python tools/demo.py`` (what ``make run`` runs):

1. starts the ``rtp-router`` process on free 127.0.0.1 ports with its built-in defaults
   (a subprocess; stopped with SIGTERM by its PID at the end);
2. acts as the application server: creates an e2ee ``routed`` session through the HTTP API and
   mints one client token per participant (the clients never call the server API);
3. joins the clients: all but the last share one encryption secret, the last has another;
4. every client publishes audio (~100 B at 50 frames/s) and video (at ``--bitrate``, split into
   packets of at most 1,200 B), SFrame-encrypted, and subscribes to everyone else;
5. sends for ``--seconds`` and prints what each client decoded from whom, the
   ``encryption_secret_mismatch`` events, and the router's ``/metrics`` counters: it forwarded
   packets whose payloads it had no key for.

Exits 0 when the clients sharing the secret decoded each other's audio and video and the odd
client decoded nothing from them (and reported the mismatch); 1 otherwise; 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.auth import ApiCredentials, make_api_token
from router.config import DEFAULT_API_KEY, DEFAULT_API_SECRET
from rtpstack.client import ENCRYPTION_SECRET_MISMATCH, Client, ClientStats
from rtpstack.loadgen.control import parse_metrics

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
SHARED_SECRET = "correct horse battery staple"
OTHER_SECRET = "a different secret entirely"


def free_port(kind: int) -> int:
    """A port the OS says is free on 127.0.0.1 right now (TCP or UDP)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RouterProcess:
    """The ``rtp-router`` subprocess: started on free ports, stopped by PID with SIGTERM."""

    http_port: int
    media_port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    signalled: bool = False
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "router.log"

    @property
    def base_url(self) -> str:
        """The router's HTTP base URL."""
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 15.0) -> None:
        """Start the process and wait (bounded) until ``/healthz`` answers."""
        cmd = [sys.executable, "-m", "router", "--host", "127.0.0.1",
               "--port", str(self.http_port), "--media-ports", str(self.media_port),
               "--archive-dir", str(self.workdir / "archives"), "--log-level", "warning"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rtp-router exited with {self.proc.returncode} "
                                   "(its log follows)")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=1.0) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"rtp-router did not answer /healthz within {timeout} s")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process by its PID; SIGKILL if it has not exited within ``timeout``.

        Returns its exit status (None if it never started); ``signalled`` says whether it was
        still running.
        """
        if self.proc is None:
            return None
        self.signalled = self.proc.poll() is None
        if self.signalled:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5.0)
        return self.proc.returncode

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the router's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class AppServer:
    """What an application's backend does: call the router's HTTP API with a signed JWT."""

    def __init__(self, base_url: str, api_key: str = DEFAULT_API_KEY,
                 api_secret: str = DEFAULT_API_SECRET) -> None:
        self.base_url = base_url
        self.creds = ApiCredentials(api_key, api_secret)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One API request; returns (status, JSON body or text)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {make_api_token(self.creds, time.time())}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=5.0) as r:
                raw, status = r.read(), r.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def create_session(self, *, e2ee: bool) -> str:
        """A routed session; returns its id."""
        status, body = self.call("POST", "/v1/sessions", {"media_mode": "routed", "e2ee": e2ee})
        if status != 201:
            raise RuntimeError(f"creating the session failed: HTTP {status} {body}")
        return str(body["session_id"])

    def token(self, session_id: str, participant_id: str, role: str = "publisher") -> str:
        """A client token for one participant."""
        status, body = self.call("POST", f"/v1/sessions/{session_id}/tokens",
                                 {"participant_id": participant_id, "role": role})
        if status != 201:
            raise RuntimeError(f"minting a token failed: HTTP {status} {body}")
        return str(body["token"])


def router_frame_crypto_imports() -> tuple[int, list[str]]:
    """(modules scanned, modules that import the SFrame or e2ee packages) under ``router/``."""
    spec = importlib.util.find_spec("router")
    if spec is None or not spec.submodule_search_locations:
        return 0, []
    scanned, offenders = 0, []
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).rglob("*.py")):
            scanned += 1
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n.startswith(("rtpstack.sframe", "rtpstack.e2ee")) for n in names):
                    offenders.append(path.name)
                    break
    return scanned, offenders


def fetch_metrics(base_url: str) -> dict[str, float]:
    """``/metrics`` as {sample name with labels: value}."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=5.0) as r:
        return parse_metrics(r.read().decode())


async def run_clients(base_url: str, app: AppServer, n: int, seconds: float,
                      bitrate: int) -> tuple[list[Client], list[str]]:
    """Join ``n`` clients, publish, subscribe to everyone, send for ``seconds``."""
    session_id = app.create_session(e2ee=True)
    names = [NAMES[i] if i < len(NAMES) else f"p{i}" for i in range(n)]
    secrets_ = [SHARED_SECRET] * (n - 1) + [OTHER_SECRET]
    clients: list[Client] = []
    try:
        for name, secret in zip(names, secrets_, strict=True):
            c = Client(base_url, app.token(session_id, name))
            await c.connect()
            clients.append(c)
            await c.set_encryption_secret(secret)
            await c.publish("audio")
            await c.publish("video", bitrate=bitrate)
        expected_streams = 2 * (n - 1)
        for c in clients:
            ok = await c.wait_for(
                lambda cl: sum(1 for s in cl.remote.values()
                               if s.participant_id != cl.participant_id) >= expected_streams,
                timeout=5.0)
            if not ok:
                raise RuntimeError(f"{c.participant_id} did not learn every stream")
            await c.subscribe_all()
        await asyncio.gather(*(c.run_media(seconds) for c in clients))
        await asyncio.sleep(0.5)  # let the last packets and retransmissions arrive
    except BaseException:
        for c in clients:
            await c.close()
        raise
    return clients, secrets_


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def report(stats: dict[str, ClientStats], secrets_: dict[str, str],
           clients: list[Client], metrics: dict[str, float]) -> bool:
    """Print the tables; True when the outcome is the expected one."""
    names = list(stats)
    rows = []
    ok = True
    problems: list[str] = []
    for rx in names:
        for tx in names:
            if tx == rx:
                continue
            per_kind = {"audio": [0, 0, 0, 0], "video": [0, 0, 0, 0]}
            for st in stats[rx].received.values():
                if st.publisher == tx and st.kind in per_kind:
                    k = per_kind[st.kind]
                    k[0] += st.frames_decoded
                    k[1] += st.frames_failed
                    k[2] += st.packets
                    k[3] += st.lost
            same = secrets_[rx] == secrets_[tx]
            a, v = per_kind["audio"], per_kind["video"]
            verdict = "ok"
            if same and (a[0] == 0 or v[0] == 0 or a[1] or v[1]):
                verdict = "FAIL"
                problems.append(f"{rx} should decode {tx}")
            if not same and (a[0] or v[0] or (a[1] + v[1]) == 0):
                verdict = "FAIL"
                problems.append(f"{rx} must not decode {tx}")
            ok &= verdict == "ok"
            rows.append([rx, tx, "same" if same else "DIFFERENT", f"{a[0]}/{a[0] + a[1]}",
                         f"{v[0]}/{v[0] + v[1]}", str(a[2] + v[2]), str(a[3] + v[3]), verdict])
    print("\nWhat each client decoded (frames decoded / frames received, per publisher):\n")
    print(table(rows, ["receiver", "from", "secret", "audio", "video", "packets", "lost",
                       "check"]))
    print("\nEnd-to-end encryption events:\n")
    ev_rows = []
    for c in clients:
        for ev in c.events_of(ENCRYPTION_SECRET_MISMATCH):
            ev_rows.append([c.participant_id, ev.type, str(ev.get("participant_id")),
                            str(ev.get("kind")), f"{ev.at:.2f}s"])
    print(table(ev_rows, ["client", "event", "publisher", "first seen on", "at"]) if ev_rows
          else "(none)")
    odd = names[-1]
    odd_events = {str(e.get("participant_id")) for e in clients[-1].events_of(
        ENCRYPTION_SECRET_MISMATCH)}
    if odd_events != set(names[:-1]):
        ok = False
        problems.append(f"{odd} should report a mismatch for each of {', '.join(names[:-1])}")
    print("\nThe router's counters (/metrics):\n")
    keys = ["rtp_router_sessions", "rtp_router_participants", "rtp_router_streams",
            "rtp_router_packets_in_total", "rtp_router_packets_out_total",
            "rtp_router_bytes_in_total", "rtp_router_bytes_out_total",
            "rtp_router_srtp_failures_total"]
    m_rows = [[k, f"{metrics.get(k, 0):.0f}"] for k in keys]
    drops = {k: v for k, v in sorted(metrics.items()) if k.startswith("rtp_router_drops_total")}
    m_rows += [[k, f"{v:.0f}"] for k, v in drops.items() if v]
    print(table(m_rows, ["metric", "value"]))
    zero = sum(1 for v in drops.values() if not v)
    if zero:
        print(f"(and {zero} other drop reasons at 0)")
    sent = sum(s.packets for st in stats.values() for s in st.sent.values())
    fwd = metrics.get("rtp_router_packets_out_total", 0)
    print()
    print(textwrap.fill(
        f"The clients sent {sent} SRTP media packets whose payloads are SFrame ciphertext. "
        f"The router forwarded {fwd:.0f} packets (media and RTCP) without any SFrame key: it "
        "never received a secret, and nothing under router/ can decrypt a frame. The client "
        f"with the other secret ({odd}) got the same ciphertext and decoded nothing from the "
        "others.", width=100))
    scanned, offenders = router_frame_crypto_imports()
    print(f"Router modules that import rtpstack.sframe or rtpstack.e2ee: {len(offenders)} of "
          f"{scanned} scanned{': ' + ', '.join(offenders) if offenders else ''}.")
    if fwd <= 0:
        ok = False
        problems.append("the router forwarded nothing")
    if offenders or not scanned:
        ok = False
        problems.append("the router's code can reach the frame cipher")
    print()
    if ok:
        print("RESULT: ok - same secret decodes, different secret does not, router saw only "
              "ciphertext")
    else:
        print("RESULT: FAILED - " + "; ".join(problems))
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="demo.py",
        description="Start rtp-router, create an end-to-end encrypted session, join clients "
                    "(all but the last share a secret), publish SFrame-encrypted audio and "
                    "video, and print who decoded whom, the mismatch events and the router's "
                    "counters. Exit 0 when decoding worked as expected.")
    p.add_argument("--seconds", type=float, default=3.0,
                   help="how long every client sends media (0.5 to 60; default 3)")
    p.add_argument("--clients", type=int, default=4,
                   help="participants (3 to 8; the last one has a different secret; default 4)")
    p.add_argument("--bitrate", type=int, default=300_000,
                   help="video bitrate per client in bit/s (default 300000)")
    args = p.parse_args(argv)
    if not 0.5 <= args.seconds <= 60:
        p.error("--seconds must be from 0.5 to 60")
    if not 3 <= args.clients <= 8:
        p.error("--clients must be from 3 to 8")
    if not 10_000 <= args.bitrate <= 5_000_000:
        p.error("--bitrate must be from 10000 to 5000000")
    return args


async def amain(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit status."""
    with tempfile.TemporaryDirectory(prefix="rtp-demo-") as tmp:
        router = RouterProcess(free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM),
                               Path(tmp))
        print(f"starting rtp-router: http://127.0.0.1:{router.http_port}, "
              f"media udp 127.0.0.1:{router.media_port}")
        clients: list[Client] = []
        try:
            router.start()
            print(f"router pid {router.proc.pid if router.proc else '?'}; creating an e2ee "
                  f"session and joining {args.clients} clients")
            app = AppServer(router.base_url)
            clients, secrets_ = await run_clients(router.base_url, app, args.clients,
                                                  args.seconds, args.bitrate)
            print(f"sent media for {args.seconds:g} s")
            stats = {c.participant_id: c.stats() for c in clients}
            by_name = {c.participant_id: s for c, s in zip(clients, secrets_, strict=True)}
            metrics = fetch_metrics(router.base_url)
            ok = report(stats, by_name, clients, metrics)
        except Exception as exc:  # the demo explains a failure in one line, then the log
            print(f"demo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            print(router.log_tail(), file=sys.stderr)
            ok = False
        finally:
            for c in clients:
                await c.close()
            code = router.stop()
            if router.proc is not None:
                how = "stopped with SIGTERM" if router.signalled else "had already exited"
                print(f"rtp-router (pid {router.proc.pid}) {how}, exit status {code}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return asyncio.run(amain(args))
    return uvloop.run(amain(args))  # asyncio's default loop is slow at datagram reads


if __name__ == "__main__":
    sys.exit(main())
