"""Benchmark SRTP protect/unprotect per packet: libsrtp (pylibsrtp) vs the pure-Python twin.

One process, one run: every profile, 100 B and 1,200 B payloads, both engines. Each cell is the
best of a few repeats over a batch of packets with increasing sequence numbers (fresh sessions
per repeat, so the replay window never rejects). Prints packets/s, microseconds per packet and
the python/libsrtp throughput ratio measured in this same run. Numbers on a shared 2-core VM
are noisy: compare within one run only.

    .venv/bin/python tools/bench_srtp.py [--packets N] [--repeats R]
"""

from __future__ import annotations

import argparse
import struct
import time

from rtpstack.srtp import SrtpKeyingMaterial, SrtpProfile, SrtpSession

__all__ = ["main"]

SIZES = (100, 1200)
ENGINES = ("libsrtp", "python")


def _packets(n: int, size: int) -> list[bytes]:
    payload = bytes(range(256)) * (size // 256 + 1)
    return [
        struct.pack("!BBHII", 0x80, 96, i % 65536, i * 3000, 0x1234ABCD) + payload[:size]
        for i in range(n)
    ]


def _measure(
    engine: str, keys: SrtpKeyingMaterial, plain: list[bytes], repeats: int
) -> tuple[float, float]:
    """Best seconds per packet for (protect, unprotect)."""
    best_p = best_u = float("inf")
    for _ in range(repeats):
        tx = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
        rx = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
        protect, unprotect = tx.protect, rx.unprotect
        t0 = time.perf_counter()
        protected = [protect(p) for p in plain]
        t1 = time.perf_counter()
        for p in protected:
            unprotect(p)
        t2 = time.perf_counter()
        best_p = min(best_p, (t1 - t0) / len(plain))
        best_u = min(best_u, (t2 - t1) / len(plain))
    return best_p, best_u


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=5000, help="packets per batch")
    ap.add_argument("--repeats", type=int, default=3, help="batches per cell (best is kept)")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    header = (
        f"{'profile':<24} {'payload':>7} {'op':<9} "
        f"{'libsrtp pkt/s':>13} {'us':>6} {'python pkt/s':>13} {'us':>6} {'py/lib':>7}"
    )
    print(header)
    print("-" * len(header))
    for profile in SrtpProfile:
        keys = SrtpKeyingMaterial.generate(profile)
        for size in SIZES:
            plain = _packets(args.packets, size)
            results = {e: _measure(e, keys, plain, args.repeats) for e in ENGINES}
            for op_index, op in enumerate(("protect", "unprotect")):
                lib = results["libsrtp"][op_index]
                py = results["python"][op_index]
                print(
                    f"{profile.value:<24} {size:>6}B {op:<9} "
                    f"{1 / lib:>13,.0f} {lib * 1e6:>6.2f} {1 / py:>13,.0f} {py * 1e6:>6.2f} "
                    f"{lib / py:>7.2f}"
                )
    print(
        f"\n{args.packets} packets x {args.repeats} repeats per cell; "
        f"py/lib = python throughput / libsrtp throughput; "
        f"total {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
