"""Benchmark the page's per-frame end-to-end encryption (``router/static/sframe.js`` on
WebCrypto, run by Node) against the Python client's (``rtpstack.e2ee`` through the codec
carriage of ``rtpstack.client.carriage``), with the bare WebCrypto AES-GCM call as the floor.

One run: VP8 delta frames of 150 B, 1,200 B, 5 KB and 30 KB; microseconds per frame (best of
several rounds) to protect (clear prefix + SFrame encrypt) and to unprotect (decrypt, replay
window), and the ratios. The question it answers: how much of a 30 fps video's frame budget
(33 ms) the page's worker spends per frame, and how far WebCrypto's asynchronous calls are
from the Python path. Needs ``node``; numbers are noisy on shared cores.

Usage: python tools/bench_browser.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rtpstack.client.carriage import open_frame, protect_frame
from rtpstack.e2ee import FrameDecryptor, FrameEncryptor

ROOT = Path(__file__).resolve().parent.parent
SIZES = (150, 1200, 5000, 30_000)
ROUNDS = 7


def best_us(fn: Callable[[int], object], n: int) -> float:
    """Best round's microseconds per call of ``fn(i)``."""
    best = float("inf")
    for r in range(ROUNDS):
        t = time.perf_counter()
        for i in range(n):
            fn(r * n + i)
        best = min(best, (time.perf_counter() - t) * 1e6 / n)
    return best


def python_side() -> dict[int, tuple[float, float]]:
    """(protect, unprotect) µs per frame of the Python codec carriage, per size."""
    enc = FrameEncryptor("benchmark secret", "bench", 1)
    dec = FrameDecryptor("benchmark secret", "bench")
    out: dict[int, tuple[float, float]] = {}
    for size in SIZES:
        frame = b"\x01" + bytes(size - 1)
        n = 100 if size > 10_000 else 400
        wires = [protect_frame("video", frame, lambda p, m: enc.encrypt(p, 0, m))
                 for _ in range(n * ROUNDS)]
        protect = best_us(lambda _i, f=frame: protect_frame(  # type: ignore[misc]
            "video", f, lambda p, m: enc.encrypt(p, 0, m)), n)
        unprotect = best_us(lambda i, w=wires: open_frame(  # type: ignore[misc]
            "video", w[i], dec.decrypt), n)
        out[size] = (protect, unprotect)
    return out


def main() -> int:
    """Run both sides and print the table."""
    node = shutil.which("node")
    if node is None:
        print("bench_browser: node is not installed", file=sys.stderr)
        return 1
    proc = subprocess.run(
        ["timeout", "-k", "2", "50", node, str(ROOT / "tests" / "browser" / "bench_sframe.mjs"),
         *map(str, SIZES)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"bench_browser: node failed: {proc.stderr.strip()[-500:]}", file=sys.stderr)
        return 1
    js = {int(k): v for k, v in json.loads(proc.stdout).items()}
    py = python_side()
    print("per VP8 delta frame, µs (best of rounds); JS = sframe.js on Node WebCrypto")
    print(f"{'size':>7} | {'JS protect':>10} {'JS open':>8} {'bare GCM':>9} | "
          f"{'Py protect':>10} {'Py open':>8} | {'JS/Py prot':>10} {'JS/Py open':>10} "
          f"{'JS/bare':>8}")
    for size in SIZES:
        j, (pp, po) = js[size], py[size]
        print(f"{size:>7} | {j['protect']:>10.1f} {j['unprotect']:>8.1f} {j['bare_gcm']:>9.1f} | "
              f"{pp:>10.1f} {po:>8.1f} | {j['protect'] / pp:>10.2f} {j['unprotect'] / po:>10.2f} "
              f"{j['protect'] / j['bare_gcm']:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
