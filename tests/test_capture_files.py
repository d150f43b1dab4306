"""pcap/pcapng readers and writers: formats, byte orders, resolutions, errors, streaming."""

from __future__ import annotations

import gzip
import io
import struct
import subprocess
from pathlib import Path

import pytest

from rtpstack.capture.ip import udp_ip_packet
from rtpstack.capture.link import ethernet_frame
from rtpstack.capture.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    PCAP_MAGIC_NS,
    PCAP_MAGIC_US,
    PcapWriter,
)
from rtpstack.capture.pcapng import PcapngWriter
from rtpstack.capture.reader import iter_packets, iter_stream
from rtpstack.errors import CaptureParseError
from tests.conftest import corpus_path, require_program

T0 = 1_700_000_000_123_456_789  # ns


def _classic(magic: int, endian: str, records: list[tuple[int, int, bytes]]) -> bytes:
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, LINKTYPE_RAW)
    for sec, frac, data in records:
        out += struct.pack(endian + "IIII", sec, frac, len(data), len(data)) + data
    return out


@pytest.mark.parametrize(
    ("magic", "endian", "frac", "expect_ns"),
    [
        (PCAP_MAGIC_US, "<", 123456, 123456000),
        (PCAP_MAGIC_US, ">", 123456, 123456000),
        (PCAP_MAGIC_NS, "<", 123456789, 123456789),
        (PCAP_MAGIC_NS, ">", 123456789, 123456789),
    ],
    ids=["us-le", "us-be", "ns-le", "ns-be"],
)
def test_classic_pcap_resolutions_and_byte_orders(
    magic: int, endian: str, frac: int, expect_ns: int
) -> None:
    ip = udp_ip_packet("10.0.0.1", 1000, "10.0.0.2", 2000, b"hello")
    blob = _classic(magic, endian, [(1_700_000_000, frac, ip), (1_700_000_001, 0, ip)])
    pkts = list(iter_stream(io.BytesIO(blob)))
    assert [p.index for p in pkts] == [1, 2]
    assert pkts[0].timestamp_ns == 1_700_000_000 * 10**9 + expect_ns
    assert pkts[1].timestamp_ns == 1_700_000_001 * 10**9
    assert pkts[0].linktype == LINKTYPE_RAW
    assert pkts[0].data == ip


def _block(btype: int, body: bytes, endian: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack(endian + "II", btype, len(body) + 12) + body + struct.pack(
        endian + "I", len(body) + 12
    )


def _opt(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _pcapng_two_interfaces(endian: str) -> bytes:
    shb = _block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)
    # interface 0: Ethernet, microseconds (default); interface 1: raw IP, 2^-10 s ticks
    idb0 = _block(1, struct.pack(endian + "HHI", LINKTYPE_ETHERNET, 0, 0), endian)
    idb1 = _block(
        1,
        struct.pack(endian + "HHI", LINKTYPE_RAW, 0, 0)
        + _opt(9, bytes([0x80 | 10]), endian) + _opt(0, b"", endian),
        endian,
    )
    ip = udp_ip_packet("10.0.0.1", 1000, "10.0.0.2", 2000, b"x" * 5)
    eth = ethernet_frame(ip)
    ts0 = 1_700_000_000_000_001  # us
    epb0 = _block(
        6,
        struct.pack(endian + "5I", 0, ts0 >> 32, ts0 % (1 << 32), len(eth), len(eth))
        + eth + b"\0" * (-len(eth) % 4)
        + _opt(1, b"first comment", endian) + _opt(1, b"second", endian) + _opt(0, b"", endian),
        endian,
    )
    unknown = _block(0x0BAD, b"ignore me", endian)  # unknown block type: skipped
    ts1 = 3 * 1024 + 512  # 3.5 s in 1/1024 s ticks
    epb1 = _block(6, struct.pack(endian + "5I", 1, 0, ts1, len(ip), len(ip)) + ip, endian)
    spb = _block(3, struct.pack(endian + "I", len(eth)) + eth, endian)
    return shb + idb0 + idb1 + epb0 + unknown + epb1 + spb


@pytest.mark.parametrize("endian", ["<", ">"], ids=["le", "be"])
def test_pcapng_interfaces_tsresol_comments_unknown_and_simple_blocks(endian: str) -> None:
    pkts = list(iter_stream(io.BytesIO(_pcapng_two_interfaces(endian))))
    assert len(pkts) == 3
    first, second, simple = pkts
    assert first.interface == 0 and first.linktype == LINKTYPE_ETHERNET
    assert first.timestamp_ns == 1_700_000_000_000_001_000
    assert first.comments == ("first comment", "second")
    assert second.interface == 1 and second.linktype == LINKTYPE_RAW
    assert second.timestamp_ns == 3_500_000_000
    assert second.comments == ()
    assert simple.linktype == LINKTYPE_ETHERNET and simple.data == first.data
    assert [p.index for p in pkts] == [1, 2, 3]


def test_pcapng_writer_round_trip_with_comment_and_two_interfaces() -> None:
    buf = io.BytesIO()
    w = PcapngWriter(buf, LINKTYPE_RAW, comment="made by a test")
    eth_if = w.add_interface(LINKTYPE_ETHERNET, name="eth0")
    ip = udp_ip_packet("192.0.2.1", 5004, "192.0.2.2", 5006, b"\x80" + b"\0" * 15)
    w.write(ip, T0, comment="hello")
    w.write(ethernet_frame(ip), T0 + 1, interface=eth_if)
    with pytest.raises(ValueError, match="unknown interface 7"):
        w.write(ip, T0, interface=7)
    pkts = list(iter_stream(io.BytesIO(buf.getvalue())))
    assert [(p.timestamp_ns, p.linktype, p.comments) for p in pkts] == [
        (T0, LINKTYPE_RAW, ("hello",)),
        (T0 + 1, LINKTYPE_ETHERNET, ()),
    ]
    assert pkts[0].data == ip


def test_pcap_writer_round_trip_ns() -> None:
    buf = io.BytesIO()
    w = PcapWriter(buf, LINKTYPE_RAW)
    ip = udp_ip_packet("::1", 1, "::1", 2, b"v6")
    w.write(ip, T0)
    (pkt,) = iter_stream(io.BytesIO(buf.getvalue()))
    assert pkt.timestamp_ns == T0 and pkt.data == ip


def test_gzip_is_transparent(tmp_path: Path) -> None:
    buf = io.BytesIO()
    PcapngWriter(buf, LINKTYPE_RAW).write(udp_ip_packet("10.0.0.1", 1, "10.0.0.2", 2, b"z"), T0)
    path = tmp_path / "x.pcapng.gz"
    path.write_bytes(gzip.compress(buf.getvalue()))
    (pkt,) = iter_packets(path)
    assert pkt.timestamp_ns == T0


def test_corpus_gzip_equals_plain(tmp_path: Path) -> None:
    src = corpus_path("pcaps/ndpi__rtp.pcapng")
    gz = tmp_path / "rtp.pcapng.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    plain = [(p.timestamp_ns, p.data, p.comments) for p in iter_packets(src)]
    assert plain == [(p.timestamp_ns, p.data, p.comments) for p in iter_packets(gz)]
    assert any(p[2] for p in plain), "the corpus pcapng carries packet comments"


def test_corpus_pcapng_honours_if_tsresol_per_interface() -> None:
    # stun_google_meet merges two captures: interface 0 ticks in ns, interface 1 in us.
    # Read with the wrong resolution, one of them would land in 1970 or far in the future.
    pkts = list(iter_packets(corpus_path("pcaps/ndpi__stun_google_meet.pcapng")))
    for iface in (0, 1):
        times = [p.timestamp_ns for p in pkts if p.interface == iface]
        assert times, f"interface {iface} has packets"
        assert all(1_600_000_000 * 10**9 < t < 1_800_000_000 * 10**9 for t in times)
        assert max(times) - min(times) < 3600 * 10**9


BAD_FILES = [
    (b"", "capture file is empty"),
    (b"\xd4\xc3", "truncated capture file header"),
    (b"GARBAGE GARBAGE GARBAGE", "not a pcap, pcapng or rtpdump file (magic 0x47415242)"),
    (struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, 65535, 1)[:20],
     "truncated pcap file header"),
    (struct.pack("<IHHiIII", PCAP_MAGIC_US, 3, 0, 0, 0, 65535, 1), "unsupported pcap version 3"),
    (struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, 65535, 1) + b"\0" * 10,
     "truncated pcap record header at offset 24"),
    (struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, 65535, 1)
     + struct.pack("<IIII", 0, 0, 100, 100) + b"\0" * 40,
     "truncated pcap packet at offset 24: need 100 bytes, have 40"),
    (struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, 65535, 1)
     + struct.pack("<IIII", 0, 0, 1 << 30, 1 << 30),
     "pcap record at offset 24 claims 1073741824 bytes (limit 262144)"),
    (struct.pack("<IIII", 0x0A0D0D0A, 28, 0x11111111, 0),
     "bad pcapng byte-order magic at offset 8"),
    (_pcapng_two_interfaces("<")[:-6], "truncated pcapng block at offset"),
    (b"\x1f\x8b\x08\x00garbage", "corrupt gzip data"),
]


@pytest.mark.parametrize(("blob", "message"), BAD_FILES)
def test_bad_files_raise_one_capture_parse_error(blob: bytes, message: str) -> None:
    with pytest.raises(CaptureParseError) as info:
        list(iter_stream(io.BytesIO(blob)))
    assert str(info.value).startswith(message)


def test_pcapng_first_block_must_be_section_header() -> None:
    blob = _block(1, struct.pack("<HHI", 1, 0, 0))
    # not starting with an SHB: the magic does not match any format
    with pytest.raises(CaptureParseError, match="not a pcap, pcapng or rtpdump file"):
        list(iter_stream(io.BytesIO(blob)))


def test_pcapng_packet_naming_unknown_interface() -> None:
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    epb = _block(6, struct.pack("<5I", 3, 0, 0, 0, 0))
    with pytest.raises(CaptureParseError, match="names unknown interface 3"):
        list(iter_stream(io.BytesIO(shb + epb)))


class _CountingReader(io.RawIOBase):
    """A stream of many identical records that never exists in memory as a whole."""

    def __init__(self, records: int) -> None:
        self.header = struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, 65535, LINKTYPE_RAW)
        data = udp_ip_packet("10.0.0.1", 1, "10.0.0.2", 2, b"p" * 1000)
        self.record = struct.pack("<IIII", 1, 0, len(data), len(data)) + data
        self.size = len(self.header) + records * len(self.record)
        self.pos = 0
        self.max_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self.size - self.pos)
        self.max_read = max(self.max_read, n)
        out = bytearray()
        p = self.pos
        while len(out) < n:
            if p < len(self.header):
                chunk = self.header[p:]
            else:
                off = (p - len(self.header)) % len(self.record)
                chunk = self.record[off:]
            chunk = chunk[: n - len(out)]
            out += chunk
            p += len(chunk)
        b[:n] = out
        self.pos += n
        return n


def test_streaming_reads_one_record_at_a_time() -> None:
    src = _CountingReader(records=20_000)  # ~21 MB of capture, generated on the fly
    count = 0
    for pkt in iter_stream(io.BufferedReader(src, buffer_size=8192)):
        count += 1
        assert len(pkt.data) == 1028
    assert count == 20_000
    assert src.max_read <= 8192  # never more than a buffer's worth requested at once


def test_tshark_reads_our_pcapng_and_pcap(tmp_path: Path) -> None:
    tshark = require_program("tshark")
    for name, writer_cls in (("w.pcapng", PcapngWriter), ("w.pcap", PcapWriter)):
        path = tmp_path / name
        with open(path, "wb") as f:
            w = writer_cls(f, LINKTYPE_ETHERNET)
            for i in range(5):
                rtp = bytes([0x80, 0, 0, i]) + struct.pack("!II", 160 * i, 0x1234) + b"\xd5" * 160
                ip = udp_ip_packet("192.0.2.1", 40000, "192.0.2.2", 40002, rtp, ident=i)
                w.write(ethernet_frame(ip), T0 + i * 20_000_000)
        res = subprocess.run(
            ["timeout", "-k", "2", "30", tshark, "-r", str(path), "-d", "udp.port==40002,rtp",
             "-T", "fields", "-e", "frame.time_epoch", "-e", "rtp.seq", "-e", "udp.checksum.status",
             "-o", "udp.check_checksum:TRUE"],
            capture_output=True, text=True, check=False,
        )
        assert res.returncode == 0, res.stderr
        assert "appears to be damaged" not in res.stderr and "cut short" not in res.stderr
        rows = [line.split("\t") for line in res.stdout.strip().splitlines()]
        assert [r[1] for r in rows] == ["0", "1", "2", "3", "4"]
        assert all(r[2] == "1" for r in rows), rows  # 1 = checksum verified good
        assert rows[0][0].startswith("1700000000.123456")


def test_rtpdump_file_reads_as_a_capture() -> None:
    from rtpstack.capture.analysis import analyze_file

    path = corpus_path("vectors/rtptools__bark.rtp")
    pkts = list(iter_packets(path))
    assert len(pkts) == 16 and all(p.linktype == LINKTYPE_RAW for p in pkts)
    analysis = analyze_file(path)
    (stream,) = analysis.streams
    assert (stream.ssrc, stream.packets, stream.lost, stream.encoding) == (
        0x00059C72, 15, 0, "PCMU")
    assert stream.max_delta_ms == 20.0  # record offsets are milliseconds
    assert [r.counts["sr"] for r in analysis.rtcp] == [1]  # plen 0: an RTCP record


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"#!rtpplay1.0 1.2.3.4/5000", "truncated rtpdump header line"),
        (b"#!rtpplay1.0 nowhere/x\n" + b"\0" * 16, "bad rtpdump address nowhere/x"),
        (b"#!rtpplay1.0 1.2.3.4/5000\n" + b"\0" * 10, "truncated rtpdump file header"),
        (b"#!rtpplay1.0 1.2.3.4/5000\n" + b"\0" * 16 + struct.pack("!HHI", 30, 22, 0) + b"x",
         "truncated rtpdump record at offset 42: need 22 bytes, have 1"),
        (b"#!rtpplay1.0 1.2.3.4/5000\n" + b"\0" * 16 + struct.pack("!HHI", 4, 0, 0),
         "bad rtpdump record length 4 at offset 42"),
    ],
)
def test_rtpdump_errors(blob: bytes, message: str) -> None:
    with pytest.raises(CaptureParseError) as info:
        list(iter_stream(io.BytesIO(blob)))
    assert str(info.value) == message
