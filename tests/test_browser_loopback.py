"""The browser page's end-to-end encryption inside one page, in a real headless Chromium: two
local RTCPeerConnections with the SFrame transform on both ends (no router media), served by
the router app. Same secret: the receiver decodes the camera's VP8 frames; different secret:
media arrives but nothing decodes, and the page shows ``encryption_secret_mismatch``; after
the receiver is given the right secret, ``encryption_secret_match`` and frames decode; the
legacy ``createEncodedStreams`` path works too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from router.testing import RouterHarness
from tests.browser.harness import require_browser, run_driver

pytestmark = pytest.mark.timeout(120)

SECRET = "correct horse battery staple"


@pytest.fixture
async def harness() -> AsyncIterator[RouterHarness]:
    async with RouterHarness() as h:
        yield h


async def test_router_serves_the_page(harness: RouterHarness) -> None:
    async with harness.client.get("/") as resp:
        assert resp.status == 200
        text = await resp.text()
        assert '<script type="module" src="/static/app.js">' in text
    for path in ("app.js", "e2ee-worker.js", "sframe.js", "style.css"):
        async with harness.client.get(f"/static/{path}") as resp:
            assert resp.status == 200, path
            kind = "text/css" if path.endswith(".css") else "javascript"
            assert kind in resp.headers["Content-Type"], path
    async with harness.client.get("/static/../app.py") as resp:
        assert resp.status in (403, 404)


@pytest.mark.peer
async def test_loopback_e2ee_in_chromium(harness: RouterHarness) -> None:
    tools = require_browser()
    base = str(harness.client.make_url("/"))
    wrong = "a different secret"
    scenario: dict[str, Any] = {
        "pages": [
            {"name": "same", "url": f"{base}?loopback=1#secret={SECRET}"},
            {"name": "different", "url": f"{base}?loopback=1#secret={SECRET}&secret_b={wrong}"},
            {"name": "legacy", "url": f"{base}?loopback=1&transform=legacy#secret={SECRET}"},
            {"name": "fixed", "url": f"{base}?loopback=1#secret={SECRET}&secret_b={wrong}"},
        ],
        "until": "const r = stats.remotes['loopback-peer'];"
                 "return !!r && r.framesDecoded >= 15 && r.e2ee === 'encryption_secret_match';",
        "until_pages": ["same", "legacy", "fixed"],
        "min_seconds": 8, "max_seconds": 40,
        # the mismatched receiver learns the sender's secret at 5 s: frames open again
        "actions": [{"page": "fixed", "at": 5.0,
                     "eval": f"window.__loopbackSetSecret('receiver', '{SECRET}')"}],
    }
    out = await run_driver(tools, scenario, timeout=70)
    assert out["errors"] == [], out
    assert out["ok"], out["pages"]
    same, different, legacy = (out["pages"][n] for n in ("same", "different", "legacy"))
    assert same["mode"] == "script" and legacy["mode"] == "legacy"
    for stats in (same, legacy):
        peer = stats["remotes"]["loopback-peer"]
        assert peer["framesDecoded"] >= 15
        assert peer["frameWidth"] == 320
        sender = stats["workers"]["loopback-sender"]["local-video"]
        receiver = stats["workers"]["loopback-receiver"]["loopback-peer"]
        assert sender["sent"] > 0 and receiver["ok"] > 0
        assert receiver["failed"] == 0
        assert stats["srtpCipher"], stats["transports"]
    # a different secret: packets arrive, every frame fails to authenticate, none is decoded
    peer = different["remotes"]["loopback-peer"]
    assert peer["packetsReceived"] > 50
    assert peer["framesDecoded"] == 0
    assert peer["e2ee"] == "encryption_secret_mismatch"
    receiver = different["workers"]["loopback-receiver"]["loopback-peer"]
    assert receiver["ok"] == 0 and receiver["failed"] > 10
    kinds = [e["type"] for e in different["events"] if e.get("id") == "loopback-peer"]
    assert kinds == ["encryption_secret_mismatch"]
    # the same start, then the receiver's secret is fixed: mismatch, then match, then decoding
    fixed = out["pages"]["fixed"]
    kinds = [e["type"] for e in fixed["events"] if e.get("id") == "loopback-peer"]
    assert kinds == ["encryption_secret_mismatch", "encryption_secret_match"]
    assert fixed["remotes"]["loopback-peer"]["framesDecoded"] >= 15
    assert out["actions"][0]["result"] == 1      # key epoch 0, then 1 after the change
