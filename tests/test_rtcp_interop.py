"""RTCP against other implementations: aiortc's RTCP code (in process), tshark's dissector on
packets we build, and GStreamer's rtpbin as a real sender and receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from aiortc.rtp import (
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from rtpstack.rtcp import (
    SDES_CNAME,
    AppPacket,
    Bye,
    Dlrr,
    DlrrSubBlock,
    ExtendedReport,
    Fir,
    FirEntry,
    GenericNack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    Rrtr,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    TransportCcFeedback,
    ntp_from_unix,
    ntp_to_compact,
    parse_compound,
    recv_delta_bytes,
    serialize_compound,
)
from rtpstack.rtcp import (
    RtcpPacket as OurPacket,
)
from rtpstack.seqnum import seq_add
from tests.conftest import require_program

# --- aiortc -----------------------------------------------------------------------------------


def test_aiortc_built_packets_decode_here() -> None:
    info = RtcpReceiverInfo(
        ssrc=0x1234, fraction_lost=3, packets_lost=-2, highest_sequence=70001, jitter=9,
        lsr=0xAABBCCDD, dlsr=655,
    )  # fmt: skip
    packets: list[Any] = [
        RtcpSrPacket(ssrc=7, sender_info=RtcpSenderInfo(2**63 + 5, 160, 10, 1600), reports=[info]),
        RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=7, items=[(1, b"alice@host")])]),
        RtcpRtpfbPacket(fmt=1, ssrc=7, media_ssrc=9, lost=[100, 101, 103, 140]),
        RtcpPsfbPacket(fmt=15, ssrc=7, media_ssrc=0, fci=pack_remb_fci(1_500_000, [9, 10])),
        RtcpPsfbPacket(fmt=1, ssrc=7, media_ssrc=9),
        RtcpByePacket(sources=[7]),
    ]
    wire = b"".join(bytes(p) for p in packets)
    sr, sdes, nack, remb, pli, bye = parse_compound(wire)
    assert isinstance(sr, SenderReport)
    assert (sr.ssrc, sr.ntp_timestamp, sr.rtp_timestamp, sr.packet_count) == (7, 2**63 + 5, 160, 10)
    block = sr.reports[0]
    assert (block.ssrc, block.fraction_lost, block.cumulative_lost) == (0x1234, 3, -2)
    assert (block.extended_highest_seq, block.lsr, block.dlsr) == (70001, 0xAABBCCDD, 655)
    assert isinstance(sdes, SourceDescription) and sdes.chunks[0].cname == "alice@host"
    assert isinstance(nack, GenericNack)
    assert nack.lost_sequence_numbers == [100, 101, 103, 140]
    assert isinstance(remb, Remb) and remb.ssrcs == (9, 10)
    assert remb.bitrate == unpack_remb_fci(bytes(remb)[12:])[0]
    assert isinstance(pli, Pli) and pli.media_ssrc == 9
    assert isinstance(bye, Bye) and bye.sources == (7,)
    assert serialize_compound([sr, sdes, nack, remb, pli, bye]) == wire


def test_packets_built_here_decode_in_aiortc() -> None:
    block = ReportBlock(0x1234, 3, -2, 70001, 9, 0xAABBCCDD, 655)
    cname = SdesChunk(7, (SdesItem.text_item(SDES_CNAME, "bob@host"),))
    ours: list[OurPacket] = [
        SenderReport(7, 2**62, 320, 20, 3200, (block,)),
        ReceiverReport(8, (block,)),
        SourceDescription((cname,)),
        # aiortc neither packs nor unpacks NACKs across the 65535 -> 0 wrap: stay below it
        GenericNack.from_lost(7, 9, [1000, 1001, 1017, 1200]),
        Pli(7, 9),
        Remb.from_bitrate(7, 2_000_000, (9,)),
        Bye((7, 8)),
    ]
    sr, rr, sdes, nack, pli, remb, bye = RtcpPacket.parse(serialize_compound(ours))
    assert isinstance(sr, RtcpSrPacket) and isinstance(rr, RtcpRrPacket)
    assert sr.sender_info.ntp_timestamp == 2**62 and sr.sender_info.octet_count == 3200
    for report in (sr.reports[0], rr.reports[0]):
        assert (report.ssrc, report.packets_lost, report.highest_sequence) == (0x1234, -2, 70001)
    assert isinstance(sdes, RtcpSdesPacket) and sdes.chunks[0].items == [(1, b"bob@host")]
    assert isinstance(nack, RtcpRtpfbPacket)
    assert sorted(nack.lost) == [1000, 1001, 1017, 1200]
    assert isinstance(pli, RtcpPsfbPacket) and pli.fmt == 1
    assert isinstance(remb, RtcpPsfbPacket)
    assert unpack_remb_fci(remb.fci) == (2_000_000, [9])
    assert isinstance(bye, RtcpByePacket) and bye.sources == [7, 8]


# --- tshark -----------------------------------------------------------------------------------


def _pcap(datagrams: list[bytes], port: int) -> bytes:
    """A classic pcap of Ethernet/IPv4/UDP frames carrying ``datagrams`` to ``port``."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, payload in enumerate(datagrams):
        udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
            bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
        )  # fmt: skip
        frame = bytes(12) + b"\x08\x00" + ip + udp
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame)
    return b"".join(out)


def _tshark_rtcp(tmp_path: Path, datagrams: list[bytes]) -> list[dict[str, Any]]:
    tshark = require_program("tshark")
    capture = tmp_path / "rtcp.pcap"
    capture.write_bytes(_pcap(datagrams, 5005))
    result = subprocess.run(
        ["timeout", "-k", "2", "60", tshark, "-r", str(capture), "-d", "udp.port==5005,rtcp",
         "-T", "json", "--no-duplicate-keys", "-J", "rtcp"],
        capture_output=True, check=True, timeout=70,
    )  # fmt: skip
    frames: list[dict[str, Any]] = json.loads(result.stdout)
    return [f["_source"]["layers"] for f in frames]


def _values(layer: Any, key: str) -> list[str]:
    """Every value of ``key`` anywhere under ``layer`` (tshark nests per packet and item)."""
    found: list[str] = []
    if isinstance(layer, dict):
        for k, v in layer.items():
            if k == key:
                found.extend(v if isinstance(v, list) else [v])
            else:
                found.extend(_values(v, key))
    elif isinstance(layer, list):
        for item in layer:
            found.extend(_values(item, key))
    return found


@pytest.mark.peer
def test_tshark_dissects_packets_built_here(tmp_path: Path) -> None:
    block = ReportBlock(0x01020304, 25, 77, 0x0001FFFF, 123, 0xB7052000, 0x00054000)
    cname = SdesChunk(0xCAFEBABE, (SdesItem.text_item(SDES_CNAME, "carol@example"),))
    twcc = TransportCcFeedback.build(1, 2, 65530, 17, 4242, [4, None, 300, -20, 1, 1, 1, 1])
    xr = ExtendedReport(
        5, (Rrtr(0x0102030405060708), Dlrr((DlrrSubBlock(6, 0x11223344, 0x55667788),)))
    )
    sr_packet = SenderReport(0xCAFEBABE, 2**63, 1, 2, 3, (block,))
    datagrams = [
        serialize_compound([sr_packet, SourceDescription((cname,))]),
        bytes(ReceiverReport(0xCAFEBABE, (block,))),
        bytes(Bye.with_reason((0xCAFEBABE,), "see you")),
        bytes(AppPacket(5, 0xCAFEBABE, b"TEST", b"abcdefgh")),
        bytes(GenericNack.from_lost(1, 2, [100, 102, 117, 300])),
        bytes(Fir(1, (FirEntry(2, 77),))),
        bytes(Remb.from_bitrate(1, 1_234_567, (2, 3))),
        bytes(twcc),
        bytes(xr),
    ]  # fmt: skip
    sr, rr, bye, app, nack, fir, remb, tw, xrl = _tshark_rtcp(tmp_path, datagrams)
    assert _values(sr, "rtcp.pt") == ["200", "202"]
    assert _values(sr, "rtcp.senderssrc") == ["0xcafebabe"]
    assert _values(sr, "rtcp.ssrc.identifier") == ["0x01020304", "0xcafebabe"]
    assert _values(sr, "rtcp.sender.octetcount") == ["3"]
    assert _values(sr, "rtcp.ssrc.cum_nr") == ["77"]
    assert _values(sr, "rtcp.sdes.text") == ["carol@example"]
    assert _values(rr, "rtcp.ssrc.ext_high") == [str(0x0001FFFF)]
    assert _values(rr, "rtcp.ssrc.lsr") == [str(0xB7052000)]
    assert _values(rr, "rtcp.ssrc.dlsr") == [str(0x00054000)]
    assert _values(bye, "rtcp.sdes.text") == ["see you"]  # tshark files the reason there
    assert _values(app, "rtcp.app.name") == ["TEST"]
    # tshark lists each PID and each packet its bitmask marks lost
    assert sorted(int(v) for v in _values(nack, "rtcp.rtpfb.nack_pid")) == [100, 102, 117, 300]
    assert _values(fir, "rtcp.psfb.fir.fci.csn") == ["77"]
    remb_packet = Remb.from_bitrate(1, 1_234_567, (2, 3))
    assert _values(remb, "rtcp.psfb.remb.fci.br_exp") == [str(remb_packet.bitrate_exp)]
    assert _values(remb, "rtcp.psfb.remb.fci.br_mantissa") == [str(remb_packet.bitrate_mantissa)]
    assert _values(tw, "rtcp.rtpfb.transportcc.baseseq") == ["65530"]
    assert _values(tw, "rtcp.rtpfb.transportcc.statuscount") == ["8"]
    assert _values(tw, "rtcp.rtpfb.transportcc.reftime") == ["4242"]
    assert _values(tw, "rtcp.rtpfb.transportcc.pktcount") == ["17"]
    chunk_values = [str(int.from_bytes(bytes(c), "big")) for c in twcc.chunks]
    assert _values(tw, "rtcp.rtpfb.transportcc.pktchunk") == chunk_values
    delta_hex = [
        "0x" + recv_delta_bytes(p.symbol, p.delta).hex()
        for p in twcc.packets()
        if p.delta is not None
    ]
    assert _values(tw, "rtcp.rtpfb.transportcc.recv_delta") == delta_hex
    assert _values(xrl, "rtcp.xr.bt") == ["4", "5"]
    assert _values(xrl, "rtcp.xr.lrr") == [str(0x11223344)]
    assert _values(xrl, "rtcp.xr.dlrr") == [str(0x55667788)]
    for layers in (sr, rr, bye, app, nack, fir, remb, tw, xrl):
        assert "_ws.malformed" not in json.dumps(layers)
        assert "_ws.expert" not in json.dumps(layers)


# --- GStreamer rtpbin -------------------------------------------------------------------------


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    return sock


def _gst(pipeline: str, seconds: int) -> subprocess.Popen[bytes]:
    gst = require_program("gst-launch-1.0")
    cmd = ["timeout", "-k", "2", "-s", "INT", str(seconds), gst, "-q", "-e", *pipeline.split()]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT to gst-launch itself (``-e``: EOS, clean shutdown), not to its ``timeout``.

    Forwarded through ``timeout`` the signal sometimes kills gst-launch before its handler
    sends EOS, and then no BYE goes out.
    """
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    try:
        pids = [int(pid) for pid in children.read_text().split()]
    except OSError:
        pids = []
    if pids:
        os.kill(pids[0], signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)


@pytest.mark.peer
def test_gstreamer_sender_reports_sdes_and_bye() -> None:
    rtp, rtcp = _udp(), _udp()
    pipeline = (
        "rtpbin name=rb rtp-profile=avpf audiotestsrc is-live=true ! audioconvert ! "
        "audioresample ! alawenc ! rtppcmapay ! rb.send_rtp_sink_0 rb.send_rtp_src_0 ! "
        f"udpsink host=127.0.0.1 port={rtp.getsockname()[1]} rb.send_rtcp_src_0 ! "
        f"udpsink host=127.0.0.1 port={rtcp.getsockname()[1]} sync=false async=false"
    )
    proc = _gst(pipeline, 20)
    received: list[list[OurPacket]] = []
    start = time.monotonic()
    stopping = False
    try:
        while time.monotonic() - start < 15 and len(received) < 20:
            if len(received) >= 2 and not stopping and time.monotonic() - start > 1.5:
                _interrupt(proc)  # -e: EOS, and rtpbin says BYE
                stopping = True
            try:
                data, _ = rtcp.recvfrom(2048)
            except TimeoutError:
                if proc.poll() is not None:
                    break
                continue
            packets = parse_compound(data)
            assert serialize_compound(packets) == data
            received.append(packets)
            if any(isinstance(p, Bye) for p in packets):
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
        rtp.close()
        rtcp.close()
    assert len(received) >= 3, proc.stderr.read() if proc.stderr else ""
    first = received[0]
    assert isinstance(first[0], SenderReport)
    ssrc = first[0].ssrc
    assert isinstance(first[1], SourceDescription)
    assert first[1].chunks[0].ssrc == ssrc and first[1].chunks[0].cname
    last = received[-1]
    byes = [p for p in last if isinstance(p, Bye)]
    assert byes and ssrc in byes[0].sources
    # SR timestamps move forward between reports
    srs = [p[0] for p in received if isinstance(p[0], SenderReport)]
    assert srs[-1].ntp_timestamp > srs[0].ntp_timestamp


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.peer
def test_gstreamer_receiver_reports_on_our_stream() -> None:
    """We send PCMA RTP (sequence numbers wrapping, 3 packets lost) and an SR; rtpbin's RRs must
    report our SSRC, count the wrap in the extended highest sequence number, count the loss
    (between an RR before and one after it), and echo our SR's NTP time as LSR."""
    ssrc = 0x5EED5EED
    rtp_port, rtcp_port = _free_port(), _free_port()
    feedback = _udp()
    feedback.setblocking(False)
    pipeline = (
        f"rtpbin name=rb rtp-profile=avpf udpsrc address=127.0.0.1 port={rtp_port} "
        "caps=application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMA,payload=8 ! "
        f"rb.recv_rtp_sink_0 udpsrc address=127.0.0.1 port={rtcp_port} ! rb.recv_rtcp_sink_0 "
        "rb. ! rtppcmadepay ! fakesink rb.send_rtcp_src_0 ! "
        f"udpsink host=127.0.0.1 port={feedback.getsockname()[1]} sync=false async=false"
    )
    proc = _gst(pipeline, 30)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    first_seq, lost = 65500, {150, 151, 152}
    sent_sr: SenderReport | None = None
    blocks: list[tuple[int, ReportBlock]] = []  # (packets sent so far, block about us)
    deadline = time.monotonic() + 20
    try:
        time.sleep(1.0)  # let the pipeline reach PLAYING before the first packet
        for i in range(600):
            if time.monotonic() > deadline or (blocks and blocks[-1][0] > max(lost) + 20):
                break
            if i not in lost:
                header = struct.pack("!BBHII", 0x80, 8, seq_add(first_seq, i), 160 * i, ssrc)
                sender.sendto(header + b"\xd5" * 160, ("127.0.0.1", rtp_port))
            if i == 25:
                sent_sr = SenderReport(ssrc, ntp_from_unix(time.time()), 160 * i, i, 160 * i)
                sender.sendto(bytes(sent_sr), ("127.0.0.1", rtcp_port))
            while True:  # drain what rtpbin sent, without waiting
                try:
                    data, _ = feedback.recvfrom(2048)
                except (BlockingIOError, TimeoutError):
                    break
                for packet in parse_compound(data):
                    if isinstance(packet, ReceiverReport):
                        blocks += [(i, b) for b in packet.reports if b.ssrc == ssrc]
            time.sleep(0.02)
    finally:
        sender.close()
        _interrupt(proc)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        feedback.close()
    assert sent_sr is not None
    before = [b for i, b in blocks if i < min(lost)]
    after = [b for i, b in blocks if i > max(lost) + 5]
    assert before and after, f"no receiver reports around the loss: {blocks}"
    assert after[-1].cumulative_lost - before[-1].cumulative_lost == len(lost)
    assert after[-1].lsr == ntp_to_compact(sent_sr.ntp_timestamp)
    assert after[-1].extended_highest_seq >= 65536  # one wrap counted
    assert after[-1].extended_highest_seq > before[-1].extended_highest_seq
