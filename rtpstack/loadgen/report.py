"""Present a :class:`~rtpstack.loadgen.runner.LoadReport`: a text table, JSON, a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path

from rtpstack.loadgen.runner import LoadReport

__all__ = ["format_table", "write_json", "write_plot"]


def format_table(report: LoadReport) -> str:
    """A short human-readable summary of the run."""
    t = report.totals
    lat = report.latency_ms
    lines = [
        f"session {report.session_id}: {len(report.publishers)} publishers, "
        f"{len(report.subscribers)} subscribers, {report.media_seconds:.1f} s of media",
        f"sent {t['sent']} packets ({t['sent_bytes']} B, {t['in_pkt_per_s']:.0f}/s), "
        f"received {t['received']} of {t['expected']} expected "
        f"({t['out_pkt_per_s']:.0f}/s), lost {t['lost']} ({100 * t['loss']:.2f}%)",
        f"latency ms: p50 {lat['p50']:.3f}  p90 {lat['p90']:.3f}  p99 {lat['p99']:.3f}  "
        f"max {lat['max']:.3f}  ({lat['samples']:.0f} samples)",
        f"router CPU {report.router.get('cpu_percent')}% (pid {report.router.get('pid')}), "
        f"generator CPU {report.generator.get('cpu_percent')}%",
        f"{'subscriber':<12}{'streams':>8}{'expected':>10}{'received':>10}{'lost':>8}"
        f"{'loss %':>8}",
    ]
    for s in report.subscribers[:50]:
        lines.append(f"{s['participant_id']:<12}{s['streams']:>8}{s['expected']:>10}"
                     f"{s['received']:>10}{s['lost']:>8}{100 * s['loss']:>8.2f}")
    if len(report.subscribers) > 50:
        lines.append(f"... {len(report.subscribers) - 50} more in the JSON")
    return "\n".join(lines)


def write_json(report: LoadReport, path: str | Path) -> None:
    """Write the whole report as JSON."""
    Path(path).write_text(json.dumps(report.to_json(), indent=1) + "\n", encoding="utf-8")


def write_plot(report: LoadReport, path: str | Path) -> None:
    """A PNG: packets sent/received per 100 ms, latency CDF, loss per subscriber.

    Raises ImportError when matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.2))
    step = report.timeline.get("bucket_ms", [100])[0] / 1000.0
    for name in ("sent", "received"):
        series = report.timeline.get(name, [])
        ax1.plot([i * step for i in range(len(series))], [v / step for v in series],
                 label=f"{name} pkt/s")
    ax1.set_xlabel("s")
    ax1.set_title("packets per second")
    ax1.legend()
    samples = sorted(report.latency_sample_ms)
    if samples:
        ax2.plot(samples, [(i + 1) / len(samples) for i in range(len(samples))])
        ax2.set_xscale("log")
    lat = report.latency_ms
    ax2.set_title(f"send→receive latency CDF (p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms)")
    ax2.set_xlabel("ms")
    subs = report.subscribers
    ax3.bar(range(len(subs)), [100 * s["loss"] for s in subs])
    ax3.set_title(f"loss per subscriber (router CPU {report.router.get('cpu_percent')}%)")
    ax3.set_xlabel("subscriber")
    ax3.set_ylabel("%")
    fig.tight_layout()
    fig.savefig(str(path), dpi=80)
    plt.close(fig)
