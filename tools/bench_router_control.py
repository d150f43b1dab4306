#!/usr/bin/env python3
"""Router control-plane benchmark: JWT checks, HTTP API calls, signaling round trips.

Runs everything in one process and one run, on 127.0.0.1 only, with the NullMediaPlane (no
media), and prints operations/s with ratios against a baseline measured in the same run:

* JWT: ``verify_client_token`` vs one bare HMAC-SHA256 over the same bytes;
* HTTP: ``POST /v1/sessions`` and ``POST .../tokens`` (JWT-authenticated) vs ``GET /healthz``;
* signaling: ``publish`` answered and announced to 10 subscribers, and ``subscribe``, vs a
  WebSocket ``ping``/``pong`` round trip.

Every loop is bounded in count and time. Usage: ``python tools/bench_router_control.py
[--seconds S]`` (S = time budget per measurement, default 1).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router.auth import ApiCredentials, Role, mint_client_token, verify_client_token  # noqa: E402
from router.config import RouterConfig  # noqa: E402
from router.mediaplane import NullMediaPlane  # noqa: E402
from router.testing import RouterHarness  # noqa: E402

MAX_OPS = 200_000
Row = tuple[str, str, int, float]


def _sync_rate(fn: Callable[[], object], seconds: float) -> tuple[int, float]:
    n, start = 0, time.perf_counter()
    while n < MAX_OPS and time.perf_counter() - start < seconds:
        for _ in range(100):
            fn()
        n += 100
    return n, n / (time.perf_counter() - start)


async def _async_rate(fn: Callable[[], Awaitable[object]], seconds: float,
                      limit: int = 5000) -> tuple[int, float]:
    n, start = 0, time.perf_counter()
    while n < limit and time.perf_counter() - start < seconds:
        await fn()
        n += 1
    return n, n / (time.perf_counter() - start)


def bench_jwt(seconds: float) -> list[Row]:
    creds = ApiCredentials("bench-key", "bench-secret")
    token, _ = mint_client_token(creds, session_id="S1", participant_id="p1",
                                 role=Role.PUBLISHER, now=time.time(), ttl=3600)
    signing_input = token.rsplit(".", 1)[0].encode()
    key = creds.api_secret.encode()
    n0, base = _sync_rate(lambda: hmac.new(key, signing_input, hashlib.sha256).digest(), seconds)
    now = time.time()
    n1, rate = _sync_rate(lambda: verify_client_token(token, creds, now, 30), seconds)
    return [("jwt", "HMAC-SHA256 only (baseline)", n0, base),
            ("jwt", "verify_client_token", n1, rate)]


async def bench_http_and_ws(seconds: float) -> list[Row]:
    config = RouterConfig(port=0, api_key="bench-key", api_secret="bench-secret")
    rows: list[Row] = []
    async with RouterHarness(config, NullMediaPlane()) as router:
        client = router.client

        async def health() -> None:
            async with client.get("/healthz") as resp:
                await resp.read()

        headers = router.api_headers()

        async def create() -> None:
            async with client.post("/v1/sessions", json={"e2ee": True},
                                   headers=headers) as resp:
                assert resp.status == 201
                await resp.read()

        await router.create_session(session_id="bench")

        async def token() -> None:
            async with client.post("/v1/sessions/bench/tokens", json={"role": "subscriber"},
                                   headers=headers) as resp:
                assert resp.status == 201
                await resp.read()

        n, base = await _async_rate(health, seconds)
        rows.append(("http", "GET /healthz (baseline)", n, base))
        n, rate = await _async_rate(create, seconds)
        rows.append(("http", "POST /v1/sessions", n, rate))
        n, rate = await _async_rate(token, seconds)
        rows.append(("http", "POST /v1/sessions/{id}/tokens", n, rate))

        await router.create_session(session_id="ws")
        pub = await router.join("ws", participant_id="pub")
        subs = [await router.join("ws", participant_id=f"s{i}", role="subscriber")
                for i in range(10)]
        for _ in subs:
            await pub.wait_for("participant_joined")
        for i, s in enumerate(subs):
            for _ in range(len(subs) - 1 - i):
                await s.wait_for("participant_joined")

        async def ping() -> None:
            await pub.request({"type": "ping"})

        ssrc = [1000]
        streams: list[str] = []

        async def publish() -> None:
            ssrc[0] += 1
            reply = await pub.request({"type": "publish", "track": {
                "kind": "audio", "ssrc": ssrc[0], "encrypted": False,
                "codec": {"name": "opus", "payload_type": 111, "clock_rate": 48000}}})
            streams.append(reply["stream"]["stream_id"])
            for s in subs:
                await s.wait_for("stream_created")

        async def subscribe() -> None:
            stream_id = streams.pop()
            reply = await subs[0].request({"type": "subscribe", "stream_id": stream_id})
            assert reply["type"] == "subscribed", reply

        n, base = await _async_rate(ping, seconds)
        rows.append(("ws", "ping/pong round trip (baseline)", n, base))
        n, rate = await _async_rate(publish, seconds, limit=2000)
        rows.append(("ws", "publish + stream_created to 10", n, rate))
        n, rate = await _async_rate(subscribe, seconds, limit=len(streams))
        rows.append(("ws", "subscribe", n, rate))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    # The fan-out row lets its listeners fall behind on purpose; their slow-consumer
    # disconnect warnings are expected here and would only bury the table.
    logging.getLogger("router.signaling").setLevel(logging.ERROR)
    rows = bench_jwt(args.seconds)
    try:
        import uvloop
        runner: Callable[..., list[Row]] = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    rows += runner(bench_http_and_ws(args.seconds))
    print(f"{'group':6} {'operation':36} {'ops':>8} {'ops/s':>10} {'vs baseline':>12}")
    baseline: dict[str, float] = {}
    for group, name, n, rate in rows:
        baseline.setdefault(group, rate)
        print(f"{group:6} {name:36} {n:8d} {rate:10.0f} {rate / baseline[group]:11.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
