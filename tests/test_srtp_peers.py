"""Real peers: ffmpeg sends SDES-SRTP to us; GStreamer's srtpdec and ffmpeg decrypt ours.

Everything stays on 127.0.0.1; every subprocess runs under ``timeout -k 2 N`` and every loop
is bounded in count and time. Tests skip (saying why) when ffmpeg or GStreamer is missing.
"""

from __future__ import annotations

import base64
import itertools
import os
import select
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from rtpstack.seqnum import seq_add
from rtpstack.srtp import (
    SrtpError,
    SrtpKeyingMaterial,
    SrtpProfile,
    SrtpSession,
    format_crypto_attribute,
)
from tests.conftest import require_program

pytestmark = pytest.mark.peer


def _udp_pair() -> tuple[socket.socket, socket.socket]:
    """Two bound UDP sockets on 127.0.0.1 with ports P and P+1 (RTP and RTCP)."""
    for _ in range(50):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            b.bind(("127.0.0.1", port + 1))
        except OSError:
            a.close()
            b.close()
            continue
        for s in (a, b):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        return a, b
    raise RuntimeError("no free UDP port pair on 127.0.0.1")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ulaw_to_linear(byte: int) -> int:
    """G.711 mu-law to a 14-bit linear sample."""
    u = ~byte & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return (0x84 - t) if u & 0x80 else (t - 0x84)


def _outcome(session: SrtpSession, data: bytes, rtcp: bool) -> tuple[str, bytes | str]:
    try:
        return ("ok", session.unprotect_rtcp(data) if rtcp else session.unprotect(data))
    except SrtpError as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize(
    ("profile", "ffmpeg_suite", "srtcp_ok"),
    [
        (SrtpProfile.AES_CM_128_HMAC_SHA1_80, "AES_CM_128_HMAC_SHA1_80", True),
        # ffmpeg 5.1 keeps the 80-bit SRTCP tag of RFC 5764 4.1.2 only under the DTLS-style
        # suite name; under the SDES name it ends SRTCP with a 4-byte tag, which libsrtp (and
        # so the twin) rejects. Its SRTP is fine under both names.
        (SrtpProfile.AES_CM_128_HMAC_SHA1_32, "SRTP_AES128_CM_HMAC_SHA1_32", True),
        (SrtpProfile.AES_CM_128_HMAC_SHA1_32, "AES_CM_128_HMAC_SHA1_32", False),
    ],
)
def test_ffmpeg_sdes_srtp_sender_is_decrypted_by_both_engines(
    profile: SrtpProfile, ffmpeg_suite: str, srtcp_ok: bool
) -> None:
    ffmpeg = require_program("ffmpeg")
    keys = SrtpKeyingMaterial.generate(profile)
    rtp_sock, rtcp_sock = _udp_pair()
    port = rtp_sock.getsockname()[1]
    seconds = 2
    cmd = [
        "timeout", "-k", "2", "30", ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-f", "lavfi", "-t", str(seconds), "-i", "sine=frequency=440:sample_rate=8000",
        "-c:a", "pcm_mulaw", "-f", "rtp",
        "-srtp_out_suite", ffmpeg_suite,
        "-srtp_out_params", base64.b64encode(keys.key_and_salt).decode(),
        f"srtp://127.0.0.1:{port}?pkt_size=200",
    ]  # fmt: skip
    receivers = [SrtpSession(keys, engine="libsrtp"), SrtpSession(keys, engine="python")]
    rtp_out: list[bytes] = []
    rtcp_outcomes: list[tuple[str, bytes | str]] = []
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        deadline = time.monotonic() + 25
        try:
            while time.monotonic() < deadline and len(rtp_out) < 10_000:
                ready, _, _ = select.select([rtp_sock, rtcp_sock], [], [], 0.5)
                if not ready and proc.poll() is not None:
                    break
                for sock in ready:
                    data = sock.recv(4096)
                    is_rtcp = sock is rtcp_sock
                    a, b = (_outcome(r, data, is_rtcp) for r in receivers)
                    assert a == b, "libsrtp and the Python engine disagree on a peer packet"
                    if is_rtcp:
                        rtcp_outcomes.append(a)
                    else:
                        assert a[0] == "ok", f"ffmpeg SRTP packet not decrypted: {a}"
                        assert isinstance(a[1], bytes)
                        rtp_out.append(a[1])
        finally:
            stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.poll() is None:
                proc.kill()
        rtp_sock.close()
        rtcp_sock.close()
    assert proc.returncode == 0, stderr
    # 2 s of 8 kHz mu-law in <= 188-byte payloads: about 90 packets
    assert len(rtp_out) >= 80
    ssrcs = {struct.unpack_from("!I", p, 8)[0] for p in rtp_out}
    assert len(ssrcs) == 1
    seqs = [struct.unpack_from("!H", p, 2)[0] for p in rtp_out]
    assert all(seq_add(x, 1) == y for x, y in itertools.pairwise(seqs))
    assert {p[1] & 0x7F for p in rtp_out} == {0}  # PCMU
    # the decrypted payload is the 440 Hz tone: count zero crossings
    samples = [_ulaw_to_linear(b) for p in rtp_out for b in p[12:]]
    crossings = sum(1 for x, y in itertools.pairwise(samples) if (x < 0) != (y < 0))
    expected = 2 * 440 * len(samples) / 8000
    assert abs(crossings - expected) < 0.05 * expected, (crossings, expected)
    # ffmpeg sends an SR first
    assert rtcp_outcomes, "ffmpeg sent no SRTCP"
    for status, plain in rtcp_outcomes:
        if not srtcp_ok:
            assert status == "SrtpAuthError"  # the 4-byte-tag quirk described above
            continue
        assert status == "ok"
        assert isinstance(plain, bytes) and plain[1] == 200
        assert struct.unpack_from("!I", plain, 4)[0] in ssrcs


GST_PARAMS = {
    SrtpProfile.AES_CM_128_HMAC_SHA1_80: ("aes-128-icm", "hmac-sha1-80", "hmac-sha1-80"),
    SrtpProfile.AES_CM_128_HMAC_SHA1_32: ("aes-128-icm", "hmac-sha1-32", "hmac-sha1-80"),
    SrtpProfile.AEAD_AES_128_GCM: ("aes-128-gcm", "null", "null"),
    SrtpProfile.AEAD_AES_256_GCM: ("aes-256-gcm", "null", "null"),
}


def _rtp(i: int, ssrc: int) -> bytes:
    # start near the top of the sequence space so the stream wraps (ROC 0 -> 1)
    return struct.pack("!BBHII", 0x80, 0, seq_add(65500, i), 160 * i, ssrc) + bytes([i % 251]) * 160


@pytest.mark.parametrize("engine", ["libsrtp", "python"])
@pytest.mark.parametrize("profile", list(SrtpProfile), ids=[p.name for p in SrtpProfile])
def test_gstreamer_srtpdec_decrypts_what_we_send(
    profile: SrtpProfile, engine: str, tmp_path: Path
) -> None:
    gst = require_program("gst-launch-1.0")
    keys = SrtpKeyingMaterial.generate(profile)
    ssrc = 0x5EC0_0001
    cipher, auth, rtcp_auth = GST_PARAMS[profile]
    # srtpdec drops everything unless the caps carry the SSRC with the key and ciphers
    common = (
        f"ssrc=(uint){ssrc},srtp-key=(buffer){keys.key_and_salt.hex()},"
        f"srtp-cipher=(string){cipher},srtp-auth=(string){auth},"
        f"srtcp-cipher=(string){cipher},srtcp-auth=(string){rtcp_auth}"
    )
    rtp_caps = (
        "application/x-srtp,media=(string)audio,clock-rate=(int)8000,"
        f"encoding-name=(string)PCMU,payload=(int)0,{common}"
    )
    rtcp_caps = f"application/x-srtcp,{common}"
    rtp_port, rtcp_port = _free_port(), _free_port()
    rtp_file, rtcp_file = tmp_path / "rtp.bin", tmp_path / "rtcp.bin"
    cmd = [
        "timeout", "-k", "2", "-s", "INT", "30", gst, "-e",
        "udpsrc", f"port={rtp_port}", "address=127.0.0.1", f"caps={rtp_caps}", "!", "d.rtp_sink",
        "udpsrc", f"port={rtcp_port}", "address=127.0.0.1", f"caps={rtcp_caps}", "!", "d.rtcp_sink",
        "srtpdec", "name=d",
        "d.rtp_src", "!", "filesink", f"location={rtp_file}", "buffer-mode=unbuffered",
        "d.rtcp_src", "!", "filesink", f"location={rtcp_file}", "buffer-mode=unbuffered",
        "async=false",
    ]  # fmt: skip
    tx = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    log = tmp_path / "gst.log"
    with (
        log.open("w") as log_fd,
        subprocess.Popen(cmd, stdout=log_fd, stderr=subprocess.STDOUT) as proc,
    ):
        try:
            # wait until the pipeline decrypts: resend the first packet (bounded) until the
            # decrypted copy appears; repeats are replays, which srtpdec drops
            first = tx.protect(_rtp(0, ssrc))
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and proc.poll() is None:
                out.sendto(first, ("127.0.0.1", rtp_port))
                time.sleep(0.05)
                if rtp_file.exists() and rtp_file.stat().st_size > 0:
                    break
            assert rtp_file.exists() and rtp_file.stat().st_size > 0, log.read_text()[-2000:]
            sent = [_rtp(0, ssrc)]
            for i in range(1, 200):
                sent.append(_rtp(i, ssrc))
                out.sendto(tx.protect(sent[-1]), ("127.0.0.1", rtp_port))
                time.sleep(0.001)
            reports = []
            for i in range(5):
                reports.append(struct.pack("!BBHI5I", 0x80, 200, 6, ssrc, i, i, i, i, i))
                out.sendto(tx.protect_rtcp(reports[-1]), ("127.0.0.1", rtcp_port))
                time.sleep(0.001)
            expected_rtp, expected_rtcp = b"".join(sent), b"".join(reports)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (
                rtp_file.stat().st_size < len(expected_rtp)
                or not rtcp_file.exists()
                or rtcp_file.stat().st_size < len(expected_rtcp)
            ):
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGINT)  # our own timeout process: EOS, then exit
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            out.close()
    # srtpdec's output is exactly the RTP/RTCP we protected, every packet once, across the wrap
    assert rtp_file.read_bytes() == expected_rtp
    assert rtcp_file.read_bytes() == expected_rtcp


@pytest.mark.parametrize("engine", ["libsrtp", "python"])
@pytest.mark.parametrize(
    "profile", [SrtpProfile.AES_CM_128_HMAC_SHA1_80, SrtpProfile.AES_CM_128_HMAC_SHA1_32]
)
def test_ffmpeg_reading_an_sdp_with_a_crypto_decrypts_what_we_send(
    profile: SrtpProfile, engine: str, tmp_path: Path
) -> None:
    ffmpeg = require_program("ffmpeg")
    keys = SrtpKeyingMaterial.generate(profile)
    port = _free_port() & ~1  # RTP on an even port, RTCP on the next
    sdp = tmp_path / "in.sdp"
    sdp.write_text(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=rtpstack srtp\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        f"{format_crypto_attribute(1, keys)}\r\n"
    )
    out_file = tmp_path / "out.ul"
    cmd = [
        "timeout", "-k", "2", "40", ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-probesize", "32", "-analyzeduration", "0",
        "-protocol_whitelist", "file,udp,rtp,srtp,crypto", "-i", str(sdp),
        "-c:a", "copy", "-flush_packets", "1", "-f", "mulaw", str(out_file),
    ]  # fmt: skip
    tx = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
    ssrc = 0x5EC0_0002
    total = 400
    wrap_at = 300  # the sequence number wraps here, well after ffmpeg listens
    payloads = [bytes([20 + i % 200]) * 160 for i in range(total)]
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    log = tmp_path / "ffmpeg.log"
    with (
        log.open("w") as log_fd,
        subprocess.Popen(cmd, stdout=log_fd, stderr=subprocess.STDOUT) as proc,
    ):
        try:
            for i, payload in enumerate(payloads):  # bounded: 400 packets, ~2 s
                seq = seq_add(0, i - wrap_at)
                packet = struct.pack("!BBHII", 0x80, 0, seq, 160 * i, ssrc) + payload
                out.sendto(tx.protect(packet), ("127.0.0.1", port))
                time.sleep(0.005)
            deadline = time.monotonic() + 10
            last = -1
            while time.monotonic() < deadline:  # until the output stops growing
                time.sleep(0.3)
                size = out_file.stat().st_size if out_file.exists() else 0
                if size == last and size > 0:
                    break
                last = size
        finally:
            proc.terminate()  # our own timeout process; it forwards SIGTERM to ffmpeg
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
            out.close()
    data = out_file.read_bytes() if out_file.exists() else b""
    # ffmpeg may miss the first packets while it starts; everything after must be there,
    # decrypted byte for byte, including the packets after the wrap (ROC 1)
    assert len(data) % 160 == 0, log.read_text()[-2000:]
    received = len(data) // 160
    assert received > total - wrap_at + 20, (received, log.read_text()[-2000:])
    assert data == b"".join(payloads[total - received :])
