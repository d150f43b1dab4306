"""Regenerate the project's own captures in ``pcaps/`` from real peers.

Real senders (ffmpeg, GStreamer's rtpbin) send RTP/RTCP over 127.0.0.1 to a recorder built on
:mod:`rtpstack.io.udp`; it writes every datagram it receives into a pcapng file with
:class:`rtpstack.capture.PcapngWriter` (as IPv4/UDP from the sender's address to the
recorder's port, capture time = arrival time) and, for the GStreamer session, relays the
packets on to the GStreamer receiver and its RTCP receiver reports back to the sender, so both
directions of RTCP are in the file. The relay drops a fixed set of RTP sequence numbers
before recording them, so the capture holds known loss that the receiver reports as well.

Beside each capture it writes ``<name>.expected.json``: the analysis by ``rtpstack pcap
analyze`` of that capture, plus a ``tshark`` block (packets and lost per stream from
``tshark -z rtp,streams``) when tshark is installed, checked to agree before writing.

Run: ``.venv/bin/python tools/make_pcaps.py [--out pcaps]`` (about 20 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rtpstack.capture.analysis import analyze_file
from rtpstack.capture.detect import Hints, hints_from_sdp
from rtpstack.capture.ip import udp_ip_packet
from rtpstack.capture.pcap import LINKTYPE_RAW
from rtpstack.capture.pcapng import PcapngWriter
from rtpstack.io.udp import Datagram, UdpEndpoint, open_udp_endpoint

HOST = "127.0.0.1"


class Recorder:
    """Receive on several ports, record to pcapng, optionally relay and drop."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, str, int, int, bytes]] = []
        self.endpoints: dict[int, UdpEndpoint] = {}
        self.forward: dict[int, int] = {}
        self.drop_seqs: set[int] = set()

    async def listen(self, port: int, forward_to: int | None = None) -> None:
        def on_datagram(d: Datagram, port: int = port) -> None:
            data = d.data
            if (self.drop_seqs and len(data) >= 12 and data[0] >> 6 == 2
                    and not 192 <= data[1] <= 223
                    and int.from_bytes(data[2:4], "big") in self.drop_seqs):
                return  # "network" loss upstream of the capture point
            self.frames.append((time.time_ns(), d.addr[0], d.addr[1], port, data))
            dest = self.forward.get(port)
            if dest is not None:
                self.endpoints[port].sendto(data, (HOST, dest))

        self.endpoints[port] = await open_udp_endpoint(HOST, port, on_datagram=on_datagram)
        if forward_to is not None:
            self.forward[port] = forward_to

    def write(self, path: Path, comment: str) -> None:
        with open(path, "wb") as f:
            w = PcapngWriter(f, LINKTYPE_RAW, comment=comment)
            for i, (t, src, sport, dport, data) in enumerate(sorted(self.frames)):
                w.write(udp_ip_packet(src, sport, HOST, dport, data, ident=i), t)

    def close(self) -> None:
        for e in self.endpoints.values():
            e.close()


async def _run(cmd: list[str], seconds: int, sig: str = "TERM") -> None:
    proc = await asyncio.create_subprocess_exec(
        "timeout", "-k", "2", "-s", sig, str(seconds), *cmd,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode not in (0, 124, 130, -2):
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.decode()[-400:]}")


async def ffmpeg_vp8_pcmu(out: Path, base: int) -> Path:
    """ffmpeg sends VP8 (PT 96) and PCMU (PT 0) with RTCP SRs; 3 seconds."""
    rec = Recorder()
    for port in (base, base + 1, base + 2, base + 3):
        await rec.listen(port)
    sdp = out / "ffmpeg_vp8_pcmu.sdp"
    cmd = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
        "-f", "lavfi", "-t", "3", "-i", "testsrc=size=320x240:rate=15",
        "-f", "lavfi", "-t", "3", "-i", "sine=frequency=440:sample_rate=8000:samples_per_frame=160",
        "-map", "0:v", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8",
        "-b:v", "200k", "-ssrc", "287454020", "-payload_type", "96",
        "-f", "rtp", f"rtp://{HOST}:{base}?pkt_size=1200",
        "-map", "1:a", "-c:a", "pcm_mulaw", "-ssrc", "1432778632", "-payload_type", "0",
        "-f", "rtp", f"rtp://{HOST}:{base + 2}?pkt_size=172",
        "-sdp_file", str(sdp),
    ]
    await _run(cmd, 20)
    await asyncio.sleep(0.2)
    rec.close()
    path = out / "ffmpeg_vp8_pcmu.pcapng"
    rec.write(path, "ffmpeg 5 -> rtpstack recorder: VP8 PT 96 + PCMU PT 0 with RTCP SR")
    # keep the SDP without the machine-specific header line
    sdp.write_text(re.sub(r"^(s=|o=).*\n", "", sdp.read_text(), flags=re.M))
    return path


async def gstreamer_rtcp_session(out: Path, base: int) -> Path:
    """GStreamer rtpbin PCMU sender -> project relay (drops 4 packets) -> rtpbin receiver;
    the receiver's RRs go back through the relay: SR and RR in one capture, so RTT shows."""
    rec = Recorder()
    relay_rtp, relay_rtcp, relay_rr = base, base + 1, base + 2
    gst_rtp, gst_rtcp, sender_rr = base + 10, base + 11, base + 12
    rec.drop_seqs = set()  # filled once the first sequence number is known
    await rec.listen(relay_rtp, gst_rtp)
    await rec.listen(relay_rtcp, gst_rtcp)
    await rec.listen(relay_rr, sender_rr)
    caps = "application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0"
    receiver = [
        "gst-launch-1.0", "-e", "rtpbin", "name=rb", "rtp-profile=avpf",
        "udpsrc", f"port={gst_rtp}", f"caps={caps}", "!", "rb.recv_rtp_sink_0",
        "rb.", "!", "rtppcmudepay", "!", "mulawdec", "!", "fakesink", "sync=false",
        "udpsrc", f"port={gst_rtcp}", "!", "rb.recv_rtcp_sink_0",
        "rb.send_rtcp_src_0", "!", "udpsink", f"host={HOST}", f"port={relay_rr}",
        "sync=false", "async=false",
    ]
    sender = [
        "gst-launch-1.0", "-e", "rtpbin", "name=rb", "rtp-profile=avpf",
        "audiotestsrc", "is-live=true", "num-buffers=300", "samplesperbuffer=160", "!",
        "audio/x-raw,rate=8000,channels=1", "!", "mulawenc", "!",
        "rtppcmupay", "ssrc=3735928559", "!", "rb.send_rtp_sink_0",
        "rb.send_rtp_src_0", "!", "udpsink", f"host={HOST}", f"port={relay_rtp}",
        "rb.send_rtcp_src_0", "!", "udpsink", f"host={HOST}", f"port={relay_rtcp}",
        "sync=false", "async=false",
        "udpsrc", f"port={sender_rr}", "!", "rb.recv_rtcp_sink_0",
    ]

    def first_seq() -> None:
        for _t, _s, _sp, dport, data in rec.frames:
            if dport == relay_rtp:
                s0 = int.from_bytes(data[2:4], "big")
                rec.drop_seqs = {(s0 + k) % 65536 for k in (40, 41, 120, 250)}
                return
        loop.call_later(0.01, first_seq)

    loop = asyncio.get_running_loop()
    loop.call_later(0.01, first_seq)
    rx = asyncio.create_task(_run(receiver, 9, "INT"))
    await asyncio.sleep(0.5)
    await _run(sender, 8, "INT")
    await asyncio.sleep(1.5)
    rx.cancel()
    await asyncio.gather(rx, return_exceptions=True)
    rec.close()
    path = out / "gst_rtpbin_pcmu_rtcp.pcapng"
    rec.write(path, "GStreamer rtpbin PCMU -> rtpstack relay (drops 4) -> rtpbin; SR + RR")
    return path


def tshark_streams(path: Path) -> list[dict[str, Any]]:
    """packets/lost per stream as tshark counts them (heuristics on)."""
    res = subprocess.run(
        ["timeout", "-k", "2", "60", "tshark", "-r", str(path), "-o", "rtp.heuristic_rtp:TRUE",
         "-q", "-z", "rtp,streams"], capture_output=True, text=True, check=True)
    rows = []
    for line in res.stdout.splitlines():
        m = re.search(r"\s(0x[0-9A-F]{8})\s+.*?\s(\d+)\s+(-?\d+) \(", line)
        if m:
            rows.append({"ssrc": m.group(1), "packets": int(m.group(2)),
                         "lost": int(m.group(3))})
    return sorted(rows, key=lambda r: r["ssrc"])


def write_expected(path: Path) -> None:
    sdp = path.with_suffix(".sdp")
    hints = Hints()
    if sdp.exists():
        hints.merge(hints_from_sdp(sdp.read_text()))
    doc = analyze_file(path, hints).to_dict()
    if shutil.which("tshark"):
        theirs = tshark_streams(path)
        ours = sorted(({"ssrc": s["ssrc"], "packets": s["packets"], "lost": s["lost"]}
                       for s in doc["streams"]), key=lambda r: r["ssrc"])
        if theirs != ours:
            raise SystemExit(f"{path.name}: tshark {theirs} != ours {ours}")
        doc["tshark_cross_check"] = theirs
    expected = path.with_name(path.name + ".expected.json")
    expected.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes) and {expected.name}")


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory():
        paths = [await ffmpeg_vp8_pcmu(out, 47100), await gstreamer_rtcp_session(out, 47200)]
    for p in paths:
        write_expected(p)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "pcaps")
    ns = ap.parse_args()
    for prog in ("ffmpeg", "gst-launch-1.0"):
        if shutil.which(prog) is None:
            sys.exit(f"{prog} is not installed (tools/install-peers.sh installs it)")
    asyncio.run(main(ns.out))
