"""Helpers of the browser tests: find chromium, node and playwright-core (skip with the reason
when one is missing), and run ``tests/browser/driver.mjs`` on a scenario without blocking the
event loop (the router under test may run in the same loop)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ARTIFACTS", "BROWSER_DIR", "BrowserTools", "require_browser", "run_driver"]

BROWSER_DIR = Path(__file__).resolve().parent
ARTIFACTS = BROWSER_DIR.parent.parent / "artifacts"
DRIVER = BROWSER_DIR / "driver.mjs"


class BrowserTools:
    """Where chromium and node are."""

    __slots__ = ("chromium", "node")

    def __init__(self, chromium: str, node: str) -> None:
        self.chromium = chromium
        self.node = node


def require_browser() -> BrowserTools:
    """Chromium, node and playwright-core, or ``pytest.skip`` saying which is missing."""
    chromium = os.environ.get("RTPSTACK_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        pytest.skip("chromium is not installed (apt-get install chromium); browser tests skipped")
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed; browser tests need node and playwright-core")
    if not (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        pytest.skip("playwright-core is not installed: run 'npm install' in tests/browser/")
    return BrowserTools(chromium, node)


async def run_driver(tools: BrowserTools, scenario: dict[str, Any], *,
                     timeout: float) -> dict[str, Any]:
    """Run the driver on ``scenario`` under ``timeout -k 2``; its JSON output."""
    body = dict(scenario, chromium=tools.chromium)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(body, f)
        path = f.name
    try:
        proc = await asyncio.create_subprocess_exec(
            "timeout", "-k", "2", str(int(timeout)), tools.node, str(DRIVER), path,
            cwd=str(BROWSER_DIR), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout + 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError("the browser driver did not finish") from None
    finally:
        os.unlink(path)
    text = stdout.decode().strip()
    if proc.returncode != 0 or not text:
        raise AssertionError(f"driver exit {proc.returncode}: {stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(text.splitlines()[-1])
    return result
