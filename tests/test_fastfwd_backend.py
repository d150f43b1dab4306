"""Which forwarding backend runs: ``RTPSTACK_FASTFWD=0`` forces the pure-Python path.

Runs with or without the extension built: the subprocess with the variable set must always
report ``python`` and build libsrtp-only hops; the one without reports ``c`` exactly when the
extension imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "from router.forwarding.fastfwd import fastfwd_backend\n"
    "from router.forwarding import HopCrypto, HopKeys\n"
    "print(fastfwd_backend, HopCrypto(HopKeys.generate()).rx_rtp is not None)\n"
)


def probe(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "RTPSTACK_FASTFWD"}
    if env_value is not None:
        env["RTPSTACK_FASTFWD"] = env_value
    out = subprocess.run(
        ["timeout", "-k", "2", "30", sys.executable, "-c", PROBE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=40, check=True,
    )
    return out.stdout.strip()


@pytest.mark.timeout(60)
def test_env_zero_forces_the_python_path() -> None:
    assert probe("0") == "python False"


@pytest.mark.timeout(60)
def test_default_uses_c_exactly_when_the_extension_imports() -> None:
    try:
        from router.forwarding import _fastfwd  # noqa: F401
    except ImportError:
        built = False
    else:
        built = True
    assert probe(None) == ("c True" if built else "python False")
