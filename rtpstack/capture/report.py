"""Render analyses: a terminal table, JSON and CSV.

All three take :class:`CaptureAnalysis` values (one per capture) and return text, so the
command line and library users format the same way.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rtpstack.capture.analysis import CaptureAnalysis

__all__ = ["CSV_FIELDS", "render_csv", "render_json", "render_table"]

#: columns of the CSV output, one row per RTP stream
CSV_FIELDS = (
    "capture", "src", "sport", "dst", "dport", "ssrc", "transport", "encoding", "payload_types",
    "clock_rate", "packets", "expected", "lost", "lost_pct", "seq_errors", "duplicates",
    "min_delta_ms", "mean_delta_ms", "max_delta_ms", "min_jitter_ms", "mean_jitter_ms",
    "max_jitter_ms", "bitrate_kbps", "bytes", "first_time", "last_time", "secure",
    "rtt_mean_ms", "nack", "pli", "fir",
)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _endpoint(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _table(headers: Sequence[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w)
               for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *[line(r) for r in rows]]


def render_table(analyses: Sequence[CaptureAnalysis]) -> str:
    """A human-readable report: per capture, an RTP stream table and an RTCP table."""
    out: list[str] = []
    for a in analyses:
        out.append(f"== {a.name}: {a.frames} frames, {len(a.streams)} RTP streams, "
                   f"{len(a.rtcp)} RTCP senders")
        if a.streams:
            rows = []
            for s in a.streams:
                rows.append([
                    f"0x{s.ssrc:08X}",
                    f"{_endpoint(s.src, s.sport)} -> {_endpoint(s.dst, s.dport)}"
                    + (" tcp" if s.transport == "tcp" else ""),
                    (s.encoding or "?")[:18] + (" srtp" if s.secure else ""),
                    str(s.packets),
                    f"{s.lost} ({s.lost_pct:.1f}%)",
                    str(s.seq_errors),
                    str(s.duplicates),
                    _fmt(s.max_delta_ms),
                    _fmt(s.mean_jitter_ms, 2),
                    _fmt(s.max_jitter_ms, 2),
                    _fmt(s.bitrate_kbps),
                    f"{s.first_time:.3f}-{s.last_time:.3f}",
                ])
            out += _table(
                ["SSRC", "flow", "payload", "pkts", "lost", "seqerr", "dup", "maxdelta ms",
                 "jitter ms", "maxjit ms", "kbit/s", "time s"],
                rows, {3, 4, 5, 6, 7, 8, 9, 10},
            )
        if a.rtcp:
            out.append("")
            rows = []
            for r in a.rtcp:
                c = r.counts
                rtt = r.rtt.to_dict()
                rows.append([
                    f"0x{r.ssrc:08X}",
                    f"{_endpoint(r.src, r.sport)} -> {_endpoint(r.dst, r.dport)}",
                    str(r.packets), str(c["sr"]), str(c["rr"]), str(c["nack"]), str(c["pli"]),
                    str(c["fir"]), str(c["remb"]), str(c["twcc"]), str(c["xr"]),
                    _fmt(rtt["mean_ms"]) + (" srtcp" if r.encrypted else ""),
                ])
            out += _table(
                ["RTCP SSRC", "flow", "pkts", "SR", "RR", "NACK", "PLI", "FIR", "REMB",
                 "TWCC", "XR", "RTT ms"],
                rows, set(range(2, 12)),
            )
        if a.drops:
            dropped = ", ".join(f"{k}: {v}" for k, v in sorted(a.drops.items()))
            out.append(f"   not media: {dropped}")
        out.append("")
    return "\n".join(out)


def render_json(analyses: Sequence[CaptureAnalysis], *, as_list: bool | None = None) -> str:
    """JSON: one object for one capture, a list for several (``as_list`` forces the list,
    e.g. when a directory was given, so programs always get the same shape)."""
    docs: list[dict[str, Any]] = [a.to_dict() for a in analyses]
    if as_list is None:
        as_list = len(docs) != 1
    return json.dumps(docs if as_list else docs[0], indent=2)


def render_csv(analyses: Sequence[CaptureAnalysis]) -> str:
    """CSV with a header row and one row per RTP stream (columns: :data:`CSV_FIELDS`)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for a in analyses:
        for s in a.streams:
            d = s.to_dict()
            d["capture"] = a.name
            d["payload_types"] = " ".join(map(str, s.payload_types))
            d["rtt_mean_ms"] = s.rtt["mean_ms"] if s.rtt else None
            d.update(s.feedback)
            w.writerow(["" if d.get(f) is None else d[f] for f in CSV_FIELDS])
    return buf.getvalue()
