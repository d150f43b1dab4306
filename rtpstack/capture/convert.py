"""Write new captures from old ones: decrypted SRTP (``decrypt``) or chosen streams (``extract``).

Both stream the input, find RTP/RTCP exactly as the analyzer does (TURN unwrapped, fragments
reassembled), and write each media packet to a pcapng file as a plain IPv4/IPv6 + UDP packet
(raw-IP link type) with its original capture time and 5-tuple. Other traffic is left out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from rtpstack.capture.analysis import CaptureAnalysis, CaptureAnalyzer, MediaPacket
from rtpstack.capture.detect import Hints
from rtpstack.capture.ip import udp_ip_packet
from rtpstack.capture.pcap import LINKTYPE_RAW
from rtpstack.capture.pcapng import PcapngWriter
from rtpstack.capture.reader import iter_packets
from rtpstack.srtp import SrtpKeyingMaterial

__all__ = ["ConvertSummary", "decrypt_capture", "extract_capture", "packet_ssrc"]


@dataclass(slots=True)
class ConvertSummary:
    """Packets written, and the analysis of the input made on the way."""

    written: int
    decrypted: int
    analysis: CaptureAnalysis


def packet_ssrc(p: MediaPacket) -> int:
    """SSRC of an RTP packet, or sender SSRC of an RTCP packet."""
    off = 8 if p.kind == "rtp" else 4
    return int(struct.unpack_from("!I", p.data, off)[0])


def _convert(
    src: str | Path,
    dst: str | Path,
    analyzer: CaptureAnalyzer,
    ssrcs: set[int] | None,
    include_rtcp: bool,
    comment: str,
) -> ConvertSummary:
    written = 0
    ident = 0
    with open(dst, "wb") as out:
        writer = PcapngWriter(out, LINKTYPE_RAW, comment=comment)
        for pkt in iter_packets(src):
            for m in analyzer.feed(pkt):
                if m.kind == "rtcp" and not include_rtcp:
                    continue
                if ssrcs and packet_ssrc(m) not in ssrcs:
                    continue
                ident += 1
                writer.write(udp_ip_packet(m.src, m.sport, m.dst, m.dport, m.data, ident),
                             m.timestamp_ns)
                written += 1
    return ConvertSummary(written, analyzer.decrypted, analyzer.result(Path(src).name))


def decrypt_capture(
    src: str | Path,
    dst: str | Path,
    keys: dict[int | None, SrtpKeyingMaterial],
    hints: Hints | None = None,
) -> ConvertSummary:
    """Write the media of ``src`` to ``dst`` with SRTP/SRTCP decrypted where a key matches
    (``keys``: SSRC -> key, ``None`` -> any SSRC). Packets failing authentication are left
    out and counted in the analysis drops."""
    if not keys:
        raise ValueError("decrypt needs at least one SRTP key")
    analyzer = CaptureAnalyzer(hints, srtp_keys=keys)
    return _convert(src, dst, analyzer, None, True, f"decrypted from {Path(src).name}")


def extract_capture(
    src: str | Path,
    dst: str | Path,
    ssrcs: set[int] | None = None,
    *,
    include_rtcp: bool = True,
    hints: Hints | None = None,
) -> ConvertSummary:
    """Write the RTP (and RTCP) packets of the chosen SSRCs (all when empty) to ``dst``."""
    analyzer = CaptureAnalyzer(hints)
    return _convert(src, dst, analyzer, ssrcs, include_rtcp, f"extracted from {Path(src).name}")
