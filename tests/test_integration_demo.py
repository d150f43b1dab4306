"""The main job end to end: ``tools/demo.py`` starts a real ``rtp-router`` subprocess, runs its
clients over UDP on 127.0.0.1, prints the tables and exits 0; the router it started is gone."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT, require_program

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


def test_demo_runs_and_reports_the_expected_decoding() -> None:
    timeout = require_program("timeout")
    proc = subprocess.run(
        [timeout, "-k", "2", "75", sys.executable, str(PROJECT_ROOT / "tools" / "demo.py"),
         "--seconds", "1.5", "--clients", "3"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, check=False)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "RESULT: ok" in out
    # alice and bob share the secret: they decode each other; carol decodes nothing
    assert re.search(r"^alice\s+bob\s+same\s+(\d+)/\1\s+(\d+)/\2\s", out, re.M)
    assert re.search(r"^carol\s+alice\s+DIFFERENT\s+0/[1-9]\d*\s+0/[1-9]\d*\s", out, re.M)
    assert re.search(r"^carol\s+encryption_secret_mismatch\s+alice\b", out, re.M)
    fwd = re.search(r"^rtp_router_packets_out_total\s+(\d+)", out, re.M)
    assert fwd is not None and int(fwd.group(1)) > 100
    pid = re.search(r"rtp-router \(pid (\d+)\) stopped with SIGTERM, exit status 0", out)
    assert pid is not None
    with pytest.raises(ProcessLookupError):  # the router process is gone
        os.kill(int(pid.group(1)), 0)


def test_demo_rejects_bad_arguments() -> None:
    proc = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "tools" / "demo.py"), "--clients", "1"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=30, check=False)
    assert proc.returncode == 2
    assert "--clients must be from 3 to 8" in proc.stderr
