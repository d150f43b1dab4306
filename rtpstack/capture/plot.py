"""PNG plots of an analysis: per stream sequence, jitter and loss over time; bitrate per stream.

matplotlib is imported only when plotting (it is an optional dependency, ``rtpstack[plot]``)
and always with the non-interactive ``Agg`` backend. The analysis must have been made with
``keep_series=True``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from rtpstack.capture.analysis import CaptureAnalysis, StreamKey

__all__ = ["bitrate_series", "plot_analysis"]


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ValueError("plots need matplotlib: pip install 'rtpstack[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "capture"


def bitrate_series(
    series: list[tuple[float, int, float, int, int]], bin_s: float = 1.0
) -> tuple[list[float], list[float]]:
    """Bitrate (kbit/s) per ``bin_s`` window from a stream's per-packet series.

    Returns the bin edges (one more than the values, the last one being the stream's end) and
    the values; the last, partial bin is divided by the time it really covers.
    """
    if not series:
        return [], []
    end = series[-1][0]
    nbins = int(end // bin_s) + 1
    sums = [0] * nbins
    for t, _seq, _jit, _lost, size in series:
        sums[int(t // bin_s)] += size
    widths = [bin_s] * nbins
    widths[-1] = max(end - (nbins - 1) * bin_s, bin_s / 4)
    edges = [i * bin_s for i in range(nbins)] + [(nbins - 1) * bin_s + widths[-1]]
    return edges, [b * 8 / w / 1000 for b, w in zip(sums, widths, strict=True)]


def _label(key: StreamKey) -> str:
    return f"0x{key.ssrc:08X} {key.src}:{key.sport}->{key.dst}:{key.dport}"


def plot_analysis(analysis: CaptureAnalysis, out_dir: str | Path) -> list[Path]:
    """Write the PNGs for one capture into ``out_dir``; returns the paths written."""
    plt = _matplotlib()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = _safe(Path(analysis.name).name)
    written: list[Path] = []
    if not analysis.series:
        return written
    for key, series in analysis.series.items():
        if not series:
            continue
        t = [p[0] for p in series]
        fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True)
        axes[0].plot(t, [p[1] for p in series], ".", markersize=2)
        axes[0].set_ylabel("extended seq")
        jit = [(a, p[2]) for a, p in zip(t, series, strict=True) if not math.isnan(p[2])]
        if jit:
            axes[1].plot([a for a, _ in jit], [j for _, j in jit], ".-", linewidth=1,
                         markersize=2)
        else:
            axes[1].text(0.5, 0.5, "clock rate unknown: use --clock-rate PT=HZ",
                         ha="center", va="center", transform=axes[1].transAxes)
        axes[1].set_ylabel("jitter (ms)")
        lost = [p[3] for p in series]
        axes[2].step(t, lost, where="post")
        axes[2].set_ylim(min(0, *lost) - 0.05, max(1, *lost) * 1.1)
        axes[2].set_ylabel("lost (cumulative)")
        axes[2].set_xlabel("time since stream start (s)")
        fig.suptitle(f"{analysis.name}: {_label(key)}", fontsize=10)
        for ax in axes:
            ax.grid(True, alpha=0.3)
        fig.tight_layout()
        path = out / f"{base}_{key.ssrc:08x}_{key.sport}_{key.dport}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    fig, ax = plt.subplots(figsize=(9, 4))
    for key, series in analysis.series.items():
        edges, values = bitrate_series(series)
        if values:
            ax.stairs(values, edges, label=_label(key), linewidth=1.5)
    ax.set_xlabel("time since stream start (s)")
    ax.set_ylabel("kbit/s (1 s bins)")
    ax.set_title(f"{analysis.name}: bitrate per stream", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path = out / f"{base}_bitrate.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    written.append(path)
    return written
