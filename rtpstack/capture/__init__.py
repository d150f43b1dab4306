"""Captures: pcap/pcapng reading and writing, link/IP/UDP/TURN decoding, RTP stream analysis,
reports, plots and replay.

The file, link, IP and analysis layers are sans-IO (no asyncio, no clock); only
:mod:`rtpstack.capture.replay`'s :class:`Replayer` touches the network, through
:mod:`rtpstack.io.udp`. Import the sub-modules directly; the most used names are re-exported
here.
"""

from __future__ import annotations

from rtpstack.capture.analysis import (
    CaptureAnalysis,
    CaptureAnalyzer,
    StreamSummary,
    analyze_file,
)
from rtpstack.capture.detect import Hints, hints_from_sdp
from rtpstack.capture.pcap import CapturedPacket, PcapWriter
from rtpstack.capture.pcapng import PcapngWriter
from rtpstack.capture.reader import iter_packets, iter_stream

__all__ = [
    "CaptureAnalysis",
    "CaptureAnalyzer",
    "CapturedPacket",
    "Hints",
    "PcapWriter",
    "PcapngWriter",
    "StreamSummary",
    "analyze_file",
    "hints_from_sdp",
    "iter_packets",
    "iter_stream",
]
