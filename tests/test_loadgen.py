"""The load generator against a real ``rtp-router`` process over UDP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pylibsrtp
import pytest

from router.auth import ApiCredentials, verify_api_token
from rtpstack.loadgen import LoadConfig, api_token, format_table, run_load, write_json, write_plot
from rtpstack.loadgen.procstat import cpu_seconds, pid_listening_on
from rtpstack.loadgen.wire import (
    HEADER_LEN,
    SEND_TIME_OFFSET,
    LatencySamples,
    StreamCounter,
    build_packet,
    percentile,
    read_send_time,
)

KEY, SECRET = "lgkey", "lg-secret-for-tests"


@pytest.fixture(scope="module")
def router_url() -> Iterator[tuple[str, int]]:
    """A real router subprocess on free ports; yields (base URL, pid)."""
    env = {**os.environ, "RTP_ROUTER_LOG_FORMAT": "json"}
    proc = subprocess.Popen(
        ["timeout", "-k", "2", "120", sys.executable, "-m", "router", "--port", "0",
         "--media-ports", "0", "--api-key", KEY, "--api-secret", SECRET],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        port = None
        deadline = time.monotonic() + 20
        assert proc.stdout is not None
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if '"listening"' in line:
                port = json.loads(line)["port"]
        assert port, "router did not start"
        router_pid = pid_listening_on(port)
        assert router_pid is not None
        yield f"http://127.0.0.1:{port}", router_pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def test_counts_add_up(router_url: tuple[str, int], tmp_path: Path) -> None:
    url, pid = router_url
    report = await run_load(LoadConfig(url=url, api_key=KEY, api_secret=SECRET, publishers=2,
                                       subscribers=3, seconds=1.5, video_bitrate=300_000,
                                       verify=True))
    sent_per_pub = [sum(s["packets"] for s in p["streams"]) for p in report.publishers]
    assert all(n > 100 for n in sent_per_pub)  # 1.5 s of 50 audio + ~30 video packets/s
    assert report.totals["sent"] == sum(sent_per_pub)
    for sub in report.subscribers:
        assert sub["streams"] == 4
        assert sub["expected"] == sum(sent_per_pub)  # every publisher stream, every packet
        assert sub["received"] + sub["lost"] == sub["expected"]
        assert 0 <= sub["lost"] <= 0.02 * sub["expected"]
        assert sub["auth_failed"] == 0 and sub["unexpected"] == 0
        assert sub["rtcp_received"] >= 1  # the router's SR/RR reached us too
    assert report.totals["received"] == sum(s["received"] for s in report.subscribers)
    assert report.latency_ms["samples"] == report.totals["received"]
    assert 0 < report.latency_ms["p50"] <= report.latency_ms["p99"] < 1000
    delta = report.router["metrics_delta"]
    # the router counts RTP and RTCP in; the generator's receiver reports are RTCP
    assert delta["packets_in_total"] == report.totals["sent"] + report.totals["rtcp_sent"]
    assert delta["packets_out_total"] >= report.totals["received"]
    assert report.router["pid"] == pid and report.router["cpu_percent"] is not None
    assert report.router["cpu_seconds"] > 0 and report.generator["cpu_seconds"] > 0
    write_json(report, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["totals"] == report.totals
    write_plot(report, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lost 0" in format_table(report) or report.totals["lost"] > 0


async def test_room_every_participant_receives_all_others(router_url: tuple[str, int]) -> None:
    url, _pid = router_url
    report = await run_load(LoadConfig(url=url, api_key=KEY, api_secret=SECRET, publishers=3,
                                       room=True, seconds=1.0, video=False))
    assert len(report.subscribers) == 3 and len(report.publishers) == 3
    sent = {p["participant_id"]: p["streams"][0]["packets"] for p in report.publishers}
    for sub in report.subscribers:
        assert sub["streams"] == 2  # audio of the two others, not its own
        others = sum(n for pid, n in sent.items() if pid != sub["participant_id"])
        assert sub["expected"] == others
        assert sub["received"] >= 0.98 * others


def test_cli_writes_json(router_url: tuple[str, int], tmp_path: Path) -> None:
    url, _pid = router_url
    out = tmp_path / "cli.json"
    proc = subprocess.run(
        ["timeout", "-k", "2", "60", sys.executable, "-m", "rtpstack.cli", "loadgen", "--url",
         url, "--api-key", KEY, "--api-secret", SECRET, "-p", "1", "-s", "1", "-t", "1",
         "--no-video", "--json", str(out)],
        capture_output=True, text=True, timeout=70)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert data["totals"]["expected"] == data["publishers"][0]["streams"][0]["packets"] > 40
    assert data["config"]["api_secret"] == "***"
    assert "latency ms: p50" in proc.stdout


def test_cli_wrong_secret_is_one_error_line(router_url: tuple[str, int]) -> None:
    url, _pid = router_url
    proc = subprocess.run(
        ["timeout", "-k", "2", "60", sys.executable, "-m", "rtpstack.cli", "loadgen", "--url",
         url, "--api-key", KEY, "--api-secret", "wrong", "-t", "1"],
        capture_output=True, text=True, timeout=70)
    assert proc.returncode != 0
    assert "HTTP 401" in proc.stderr and "Traceback" not in proc.stderr


def test_send_time_survives_srtp_in_clear() -> None:
    key = os.urandom(28)
    tx = pylibsrtp.Session(pylibsrtp.Policy(
        key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM))
    for seq, level in ((65535, None), (0, 0x80 | 33)):
        plain = build_packet(96, True, seq, 123, 0xDEADBEEF, 1234567890123, b"x" * 50, level)
        assert len(plain) == HEADER_LEN + 50
        protected = tx.protect(plain)
        assert read_send_time(protected) == 1234567890123
        assert protected[:HEADER_LEN] == plain[:HEADER_LEN]
        assert int.from_bytes(protected[SEND_TIME_OFFSET:SEND_TIME_OFFSET + 8], "big") \
            == 1234567890123
    assert read_send_time(b"\x80" + bytes(40)) is None


def test_stream_counter_wraps_and_latency_percentiles() -> None:
    c = StreamCounter()
    for seq in (65534, 65535, 0, 2):
        c.add(seq, 10)
    assert (c.packets, c.bytes, c.span) == (4, 40, 5)
    lat = LatencySamples(limit=8)
    for i in range(1, 101):
        lat.add(i * 1_000_000)
    assert len(lat.samples) < 8 and lat.stride > 1
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([], 50) != percentile([], 50)  # NaN
    p50, p100 = lat.percentiles(50, 100)
    assert 30 < p50 < 70 and p100 <= 100


def test_api_token_is_accepted_by_the_router() -> None:
    now = time.time()
    verify_api_token(api_token(KEY, SECRET, now), ApiCredentials(KEY, SECRET), now, 0)
    with pytest.raises(ValueError):
        verify_api_token(api_token(KEY, "other", now), ApiCredentials(KEY, SECRET), now, 0)


def test_procstat_finds_a_listener_and_counts_cpu() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        assert pid_listening_on(s.getsockname()[1]) == os.getpid()
    finally:
        s.close()
    t0 = cpu_seconds(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    t1 = cpu_seconds(os.getpid())
    assert t0 is not None and t1 is not None and t1 > t0
    assert cpu_seconds(2**22 + 12345) is None


@pytest.mark.parametrize("kwargs, message", [
    ({"seconds": 0}, "seconds must be"),
    ({"publishers": 0, "subscribers": 0}, "participants allowed"),
    ({"audio": False, "video": False}, "nothing to send"),
    ({"fps": 500}, "fps must be"),
])
def test_config_is_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoadConfig(**kwargs)  # type: ignore[arg-type]


