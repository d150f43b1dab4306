"""The ``rtp-router`` process: starts on free ports, serves /healthz and /metrics, drains on
SIGTERM and exits 0; bad settings and busy ports give one line, not a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from router.auth import ApiCredentials, make_api_token

BIN = Path(sys.executable).parent
CREDS = ApiCredentials("proc-key", "proc-secret")


def _router_cmd(*args: str, limit: int = 30) -> list[str]:
    exe = BIN / "rtp-router"
    if not exe.exists():
        pytest.skip("the rtp-router console script is not installed (pip install -e .)")
    return ["timeout", "-k", "2", str(limit), str(exe), *args]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTP_ROUTER_")}
    env.update(extra)
    return env


async def _read_json_line(
    stream: asyncio.StreamReader, msg: str, seen: list[dict[str, Any]], timeout: float = 15.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    for _ in range(200):
        line = await asyncio.wait_for(stream.readline(), max(0.01, deadline - time.monotonic()))
        if not line:
            break
        record: dict[str, Any] = json.loads(line)
        seen.append(record)
        if record.get("msg") == msg:
            return record
    raise AssertionError(f"no {msg!r} log line; saw {seen}")


async def test_router_process_serves_and_drains_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "router.toml"
    config.write_text('[auth]\napi_key = "proc-key"\napi_secret = "proc-secret"\n'
                      '[server]\nport = 1\n')  # port 1 is overridden by the flag below
    proc = await asyncio.create_subprocess_exec(
        *_router_cmd("--port", "0", "--media-ports", "0", "--drain-timeout", "3"),
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_clean_env(RTP_ROUTER_CONFIG=str(config), RTP_ROUTER_LOG_FORMAT="json"),
    )
    assert proc.stderr is not None
    seen: list[dict[str, Any]] = []
    try:
        listening = await _read_json_line(proc.stderr, "listening", seen)
        base = f"http://127.0.0.1:{listening['port']}"
        assert listening["host"] == "127.0.0.1"
        assert listening["port"] > 0
        # custom credentials, so no warning about the development defaults
        assert not any("development API key" in r["msg"] for r in seen)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
                assert (await resp.json())["status"] == "ok"
            auth = {"Authorization": "Bearer " + make_api_token(CREDS, time.time())}
            async with http.post(f"{base}/v1/sessions", json={"e2ee": True}, headers=auth) as r:
                assert r.status == 201
                sid = (await r.json())["session_id"]
            async with http.post(f"{base}/v1/sessions/{sid}/tokens",
                                 json={"participant_id": "alice"}, headers=auth) as r:
                token = (await r.json())["token"]
            async with http.get(f"{base}/metrics") as resp:
                assert resp.status == 200
                metrics = await resp.text()
            assert "\nrtp_router_sessions 1\n" in metrics
            assert "# TYPE rtp_router_packets_in_total counter" in metrics
            assert "rtp_router_srtp_failures_total " in metrics
            ws = await http.ws_connect(f"{base}/ws?token={token}")
            await ws.send_json({"type": "join"})
            joined = await ws.receive_json(timeout=5)
            assert (joined["type"], joined["participant_id"]) == ("joined", "alice")

            proc.send_signal(signal.SIGTERM)  # timeout(1) passes it on to the router
            goodbye = await ws.receive_json(timeout=5)
            assert goodbye == {"type": "disconnected", "reason": "shutdown"}
            closing = await ws.receive(timeout=5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == 1001
        await _read_json_line(proc.stderr, "stopped", seen)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert not any(r["level"] == "error" for r in seen), seen
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_bad_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        _router_cmd("--port", "eighty", limit=20), capture_output=True, text=True,
        cwd=tmp_path, env=_clean_env(), timeout=25,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "rtp-router: error: --port: expected an integer from 0 to 65535, got 'eighty'\n")
    result = subprocess.run(
        _router_cmd(limit=20), capture_output=True, text=True, cwd=tmp_path,
        env=_clean_env(RTP_ROUTER_CONFIG=str(tmp_path / "missing.toml")), timeout=25,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "cannot read config file" in result.stderr
    assert "Traceback" not in result.stderr


def test_busy_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            _router_cmd("--port", str(port), "--media-ports", "0", limit=20),
            capture_output=True, text=True, cwd=tmp_path, env=_clean_env(), timeout=25,
        )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"rtp-router: error: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.stderr


def test_python_m_router_help_lists_flags(tmp_path: Path) -> None:
    result = subprocess.run(
        ["timeout", "-k", "2", "20", sys.executable, "-m", "router", "--help"],
        capture_output=True, text=True, cwd=tmp_path, env=_clean_env(), timeout=25,
    )
    assert result.returncode == 0
    for flag in ("--config", "--host", "--port", "--media-ports", "--api-key", "--api-secret",
                 "--log-format", "--e2ee-default", "--drain-timeout"):
        assert flag in result.stdout


def test_log_formats_carry_fields() -> None:
    import io
    import logging

    from router.logs import log_event, setup_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        for fmt in ("json", "text"):
            out = io.StringIO()
            setup_logging(fmt, "info", stream=out)
            log_event(logging.getLogger("router.test"), logging.INFO, "participant joined",
                      session="s1", participant="alice")
            log_event(logging.getLogger("router.test"), logging.DEBUG, "hidden")
            lines = out.getvalue().splitlines()
            assert len(lines) == 1
            if fmt == "json":
                record = json.loads(lines[0])
                assert {k: record[k] for k in ("level", "logger", "msg", "session",
                                               "participant")} == {
                    "level": "info", "logger": "router.test", "msg": "participant joined",
                    "session": "s1", "participant": "alice"}
            else:
                assert lines[0].endswith(
                    " INFO router.test participant joined session=s1 participant=alice")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
