"""Every capture in the project's ``pcaps/`` folder analyses to the expected JSON beside it.

The captures were recorded by ``tools/make_pcaps.py`` from real peers (ffmpeg, GStreamer) with
the project's own writer; at generation the packet and loss counts were cross-checked with
tshark (``tshark_cross_check`` in the JSON), and that block is checked here again when tshark
is installed.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from rtpstack.capture.analysis import analyze_file
from rtpstack.capture.cli import sidecar_sdp
from rtpstack.capture.detect import Hints, hints_from_sdp
from rtpstack.capture.reader import is_capture_name
from tests.conftest import PCAPS, require_program

CAPTURES = sorted(p for p in PCAPS.iterdir() if is_capture_name(p.name)) if PCAPS.is_dir() else []


def _expected(path: Path) -> dict[str, object]:
    exp = path.with_name(path.name + ".expected.json")
    assert exp.is_file(), f"{path.name} has no expected JSON beside it"
    doc: dict[str, object] = json.loads(exp.read_text())
    return doc


def _analyze(path: Path) -> dict[str, object]:
    hints = Hints()
    sdp = sidecar_sdp(path)
    if sdp is not None:
        hints.merge(hints_from_sdp(sdp.read_text()))
    return analyze_file(path, hints).to_dict()


def test_the_folder_holds_captures() -> None:
    assert len(CAPTURES) >= 2
    for p in CAPTURES:
        assert p.stat().st_size < 300_000, f"{p.name} is too big for the repository"


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_capture_matches_expected_json(path: Path) -> None:
    expected = _expected(path)
    expected.pop("tshark_cross_check", None)
    assert _analyze(path) == expected


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_tshark_agrees_on_packets_and_loss(path: Path) -> None:
    tshark = require_program("tshark")
    cross = _expected(path).get("tshark_cross_check")
    assert isinstance(cross, list) and cross
    res = subprocess.run(
        ["timeout", "-k", "2", "60", tshark, "-r", str(path), "-o", "rtp.heuristic_rtp:TRUE",
         "-q", "-z", "rtp,streams"], capture_output=True, text=True, check=True)
    rows = []
    for line in res.stdout.splitlines():
        m = re.search(r"\s(0x[0-9A-F]{8})\s+.*?\s(\d+)\s+(-?\d+) \(", line)
        if m:
            rows.append({"ssrc": m.group(1), "packets": int(m.group(2)), "lost": int(m.group(3))})
    assert sorted(rows, key=lambda r: str(r["ssrc"])) == cross


def test_gstreamer_session_has_both_rtcp_directions_and_known_loss() -> None:
    path = PCAPS / "gst_rtpbin_pcmu_rtcp.pcapng"
    if not path.exists():
        pytest.skip("gst_rtpbin_pcmu_rtcp.pcapng not generated")
    analysis = analyze_file(path)
    (stream,) = analysis.streams
    assert stream.lost == 4  # the recorder's relay dropped four sequence numbers
    kinds = {(r.counts["sr"] > 0, r.counts["rr"] > 0) for r in analysis.rtcp}
    assert kinds == {(True, False), (False, True)}
    assert stream.rtt is not None and stream.rtt["samples"] >= 1
