"""``rtpstack pcap ...`` run as a real process: help texts, outputs, and one-line errors."""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rtpstack.capture.cli import add_arguments
from rtpstack.capture.reader import iter_packets
from rtpstack.srtp import SrtpKeyingMaterial, SrtpProfile, format_crypto_attribute
from tests.conftest import corpus_path

SIP = "pcaps/ndpi__sip.pcap"


def rtpstack(*args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["timeout", "-k", "2", str(timeout), sys.executable, "-m", "rtpstack.cli", *args],
        capture_output=True, text=True, check=False,
    )


@pytest.mark.parametrize("action", ["analyze", "replay", "decrypt", "extract"])
def test_help_explains_every_option(action: str) -> None:
    res = rtpstack("pcap", action, "--help")
    assert res.returncode == 0 and res.stdout.startswith("usage: rtpstack pcap " + action)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    actions = sub.choices[action]._actions
    undocumented = [a.dest for a in actions if not a.help]
    assert undocumented == []
    for a in actions:
        for flag in a.option_strings:
            assert flag in res.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "capture file is empty"),
        (b"this is not a capture at all", "not a pcap, pcapng or rtpdump file (magic 0x74686973)"),
        (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + b"\0" * 16 + b"\0" * 8,
         "truncated pcap record header at offset 24"),
    ],
    ids=["empty", "garbage", "truncated"],
)
def test_bad_files_give_one_error_line(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    for action in (["analyze", str(bad)], ["extract", str(bad), "-o", str(tmp_path / "o")]):
        res = rtpstack("pcap", *action)
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        assert message in lines[0] and "Traceback" not in res.stderr
        assert lines[0].startswith("rtpstack pcap: error: ")


def test_missing_file_and_bad_option_values(tmp_path: Path) -> None:
    res = rtpstack("pcap", "analyze", str(tmp_path / "nope.pcap"))
    assert res.returncode == 2 and "no such file or directory" in res.stderr
    res = rtpstack("pcap", "analyze", "--clock-rate", "x", str(corpus_path(SIP)))
    assert res.returncode == 2 and "bad clock rate 'x'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_analyze_table_json_csv() -> None:
    path = str(corpus_path(SIP))
    table = rtpstack("pcap", "analyze", path)
    assert table.returncode == 0
    assert "0x3796CB71" in table.stdout and "PCMA" in table.stdout.upper()
    doc = json.loads(rtpstack("pcap", "analyze", "--json", path).stdout)
    (stream,) = doc["streams"]
    assert stream["ssrc"] == "0x3796CB71" and stream["packets"] == 9
    assert stream["mean_jitter_ms"] == 5.646 and stream["max_jitter_ms"] == 7.799
    assert doc["rtcp"][0]["sr"] == 1 and doc["rtcp"][0]["bye"] == 1
    rows = list(csv.DictReader(io.StringIO(rtpstack("pcap", "analyze", "--csv", path).stdout)))
    assert len(rows) == 1 and rows[0]["packets"] == "9" and rows[0]["lost"] == "0"


def test_analyze_directory_and_plots(tmp_path: Path) -> None:
    folder = tmp_path / "caps"
    folder.mkdir()
    for name in ("ndpi__sip.pcap", "sipp__dtmf_2833_1.pcap"):
        (folder / name).write_bytes(corpus_path(f"pcaps/{name}").read_bytes())
    (folder / "notes.txt").write_text("not a capture")
    res = rtpstack("pcap", "analyze", str(folder), "--plot", str(tmp_path / "png"))
    assert res.returncode == 0, res.stderr
    assert "== ndpi__sip.pcap" in res.stdout and "== sipp__dtmf_2833_1.pcap" in res.stdout
    pngs = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert "ndpi__sip.pcap_bitrate.png" in pngs and len(pngs) == 4
    for p in (tmp_path / "png").iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_extract_keeps_only_the_chosen_stream(tmp_path: Path) -> None:
    out = tmp_path / "one.pcapng"
    res = rtpstack("pcap", "extract", str(corpus_path("pcaps/ndpi__rtp.pcapng")), "-o", str(out),
                   "--ssrc", "0x1646", "--no-rtcp")
    assert res.returncode == 0, res.stderr
    assert "wrote 15 packets" in res.stderr
    doc = json.loads(rtpstack("pcap", "analyze", "--json", str(out)).stdout)
    assert [(s["ssrc"], s["packets"]) for s in doc["streams"]] == [("0x00001646", 15)]


def test_decrypt_round_trip(tmp_path: Path) -> None:
    """Protect a capture's RTP with a key, then decrypt it with the CLI and compare."""
    from rtpstack.capture.ip import udp_ip_packet
    from rtpstack.capture.pcap import LINKTYPE_RAW
    from rtpstack.capture.pcapng import PcapngWriter
    from rtpstack.capture.replay import media_packets
    from rtpstack.srtp import SrtpSession

    keys = SrtpKeyingMaterial.generate(SrtpProfile.AES_CM_128_HMAC_SHA1_80)
    tx = SrtpSession(keys)
    clear = [p for p in media_packets(corpus_path("pcaps/str0m__vp8.pcap")) if p.kind == "rtp"]
    enc = tmp_path / "enc.pcapng"
    with open(enc, "wb") as f:
        w = PcapngWriter(f, LINKTYPE_RAW)
        for p in clear:
            w.write(udp_ip_packet(p.src, p.sport, p.dst, p.dport, tx.protect(p.data)),
                    p.timestamp_ns)
    line = format_crypto_attribute(1, keys)
    out = tmp_path / "dec.pcapng"
    res = rtpstack("pcap", "decrypt", str(enc), "-o", str(out), "--key", f"0xEEDF3944={line}")
    assert res.returncode == 0, res.stderr
    assert "104 decrypted, 0 failed" in res.stderr
    back = [p for p in media_packets(out)]
    assert [p.data for p in back] == [p.data for p in clear]
    assert [p.timestamp_ns for p in back] == [p.timestamp_ns for p in clear]
    wrong = SrtpKeyingMaterial.generate(SrtpProfile.AES_CM_128_HMAC_SHA1_80)
    res = rtpstack("pcap", "decrypt", str(enc), "-o", str(out), "--key",
                   wrong.key_and_salt.hex())
    assert res.returncode == 1 and "0 decrypted, 104 failed authentication" in res.stderr
    assert list(iter_packets(out)) == []


def test_replay_command_sends_to_a_udp_port(tmp_path: Path) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        port = rx.getsockname()[1]
        res = rtpstack("pcap", "replay", str(corpus_path(SIP)), "--target",
                       f"127.0.0.1:{port}", "--speed", "4")
        assert res.returncode == 0, res.stderr
        assert "sent 10 packets" in res.stderr and "errors 0" in res.stderr
        assert "[" in res.stderr and "10/10 sent" in res.stderr  # the progress bar
        got = [rx.recv(2048) for _ in range(10)]
    assert sum(1 for d in got if d[1] == 8) == 9  # nine PCMA RTP packets (PT 8)
    assert sum(1 for d in got if d[1] == 200) == 1  # and the RTCP SR compound


def test_replay_command_protects_with_srtp_and_rewrites_ssrc() -> None:
    import base64
    import socket

    from rtpstack.rtp import RtpPacket
    from rtpstack.srtp import SrtpSession

    keys = SrtpKeyingMaterial.generate(SrtpProfile.AES_CM_128_HMAC_SHA1_80)
    inline = "inline:" + base64.b64encode(keys.key_and_salt).decode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        port = rx.getsockname()[1]
        res = rtpstack("pcap", "replay", str(corpus_path(SIP)), "--target", f"127.0.0.1:{port}",
                       "--fast", "--quiet", "--srtp-key", inline,
                       "--rewrite-ssrc", "0x3796CB71=7")
        assert res.returncode == 0, res.stderr
        got = [rx.recv(2048) for _ in range(10)]
    session = SrtpSession(keys)
    rtp = [RtpPacket.parse(session.unprotect(d)) for d in got if d[1] != 200]
    assert len(rtp) == 9 and {p.ssrc for p in rtp} == {7}
    (rtcp,) = [session.unprotect_rtcp(d) for d in got if d[1] == 200]
    assert rtcp[4:8] == (7).to_bytes(4, "big")  # the SR's sender SSRC was rewritten too


def test_json_shape_is_a_list_for_directories(tmp_path: Path) -> None:
    (tmp_path / "a.pcap").write_bytes(corpus_path(SIP).read_bytes())
    doc = json.loads(rtpstack("pcap", "analyze", "--json", str(tmp_path)).stdout)
    assert isinstance(doc, list) and doc[0]["capture"] == "a.pcap"
