"""The C forwarding path (``router.forwarding._fastfwd``) against libsrtp and the Python path.

* ``RtpContext`` (AEAD_AES_128_GCM, RFC 7714) gives byte-identical output and the same
  failures as libsrtp (through pylibsrtp) for the same keys and packet sequence: sizes, CSRCs,
  header extensions, ROC wraps, reordering, replays, too-old packets, tampering (a table, then
  hypothesis), and each side opens what the other protects.
* A ``ForwardingCore`` whose hops run on the C contexts sends the same bytes and counts the
  same drops as one on libsrtp, for fan-out counts 1 to 10.
* The ``Forwarder`` over real UDP on 127.0.0.1 (``recvmmsg``/``sendmmsg``) sends each
  subscriber exactly what the sans-IO core on libsrtp sends for the same datagrams, and a NACK
  brings back a byte-identical copy.

Skipped (with the reason) when the extension is not built or ``RTPSTACK_FASTFWD=0``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import socket
import struct
import time

import pylibsrtp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.drops import DropReason
from router.forwarding import ForwardingCore, HopCrypto, HopKeys, ReceiveStats, RetransmissionCache
from router.forwarding.fastfwd import fastfwd_backend, native
from router.forwarding.hop import PROFILES, classify_srtp_error
from router.transport import UdpMediaTransport
from rtpstack.rtcp import GenericNack, NackEntry
from tests.test_forwarding_helpers import AUDIO_LEVEL_ID, Endpoint, is_rtcp

pytestmark = pytest.mark.skipif(
    native is None, reason="C forwarding path not built or disabled (RTPSTACK_FASTFWD=0)"
)

GCM = "AEAD_AES_128_GCM"
#: The profiles the C path does.
C_DOES = [GCM, "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"]


def libsrtp(key: bytes, outbound: bool) -> pylibsrtp.Session:
    """A libsrtp session as the router's hops use them (repeat allowed outbound)."""
    ssrc_type = (pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound
                 else pylibsrtp.Policy.SSRC_ANY_INBOUND)
    profile = {28: GCM, 30: "AES_CM_128_HMAC_SHA1_80", 31: "AES_CM_128_HMAC_SHA1_32"}
    pol = pylibsrtp.Policy(key=key[:30], ssrc_type=ssrc_type,
                           srtp_profile=PROFILES[profile[len(key)]][0])
    pol.allow_repeat_tx = outbound
    return pylibsrtp.Session(pol)


def outcome(func: object, data: bytes) -> bytes | str:
    """The bytes out, or the failure as the drop reason the core would count."""
    try:
        return func(data)  # type: ignore[operator, no-any-return]
    except (pylibsrtp.Error, ValueError) as exc:
        return classify_srtp_error(exc).value


def plain(seq: int, size: int, *, ssrc: int = 0x1234, ts: int = 0, cc: int = 0,
          ext_words: int | None = None, rng: random.Random | None = None) -> bytes:
    """A plain RTP packet with ``cc`` CSRCs and an optional extension of ``ext_words`` words."""
    r = rng or random.Random(seq * 31 + size)
    b0 = 0x80 | cc | (0x10 if ext_words is not None else 0)
    head = struct.pack(">BBHII", b0, 96, seq, ts, ssrc) + bytes(4 * cc)
    if ext_words is not None:
        head += struct.pack(">HH", 0xBEDE, ext_words) + r.randbytes(4 * ext_words)
    return head + r.randbytes(size)


def test_backend_name() -> None:
    assert fastfwd_backend == "c"
    crypto = HopCrypto(HopKeys.generate())
    assert crypto.rx_rtp is not None and crypto.tx_rtp is not None
    # Other profiles and fast=False stay on libsrtp.
    assert HopCrypto(HopKeys.generate(), fast=False).rx_rtp is None
    assert HopCrypto(HopKeys.generate("AES_CM_128_HMAC_SHA1_80")).rx_rtp is not None
    assert HopCrypto(HopKeys.generate("AEAD_AES_256_GCM")).rx_rtp is None


# (name, list of (seq, payload size, tamper)) fed to a libsrtp sender; each datagram goes to
# libsrtp and C receivers, and every accepted plain packet to libsrtp and C senders.
CASES = [
    ("sizes", [(i, n, False) for i, n in enumerate([0, 1, 15, 16, 17, 100, 1200, 1340])]),
    ("roc wrap", [(s % 65536, 50, False) for s in range(65530, 65545)]),
    ("wrap reordered", [(65534, 40, False), (1, 40, False), (65535, 40, False), (0, 40, False),
                        (2, 40, False), (65533, 40, False)]),
    ("replays", [(10, 30, False), (11, 30, False), (10, 30, False), (11, 30, False),
                 (12, 30, False)]),
    ("too old", [(1000, 30, False), (1200, 30, False), (1071, 30, False), (1072, 30, False),
                 (1073, 30, False), (1201, 30, False)]),
    ("tampered", [(5, 60, True), (5, 60, False), (6, 60, True), (7, 60, False),
                  (6, 60, False)]),
    ("start at zero", [(0, 20, False), (0, 20, False), (1, 20, False)]),
    ("big jump", [(100, 20, False), (40000, 20, False), (100, 20, False), (39999, 20, False),
                  (7000, 20, False)]),
    ("first past median", [(40000, 20, False), (39990, 20, False), (5, 20, False),
                           (40001, 20, False)]),
    # Rewritten copies far behind (seq + 17k) fail as too old outbound, on both sides.
    ("outbound too old", [(25383, 0, False), (65383, 0, False)]),
]


def rewrite_with(crypto: HopCrypto, args: tuple[int, int, int], plain: bytes) -> bytes:
    """``crypto.protect_rewritten(plain, *args)`` (for :func:`outcome`)."""
    return crypto.protect_rewritten(plain, *args)


def lib_key(master: bytes, profile: str) -> bytes:
    """The key the :func:`libsrtp` helper takes (one extra byte marks the 32-bit tag)."""
    return master + b"\0" if profile == "AES_CM_128_HMAC_SHA1_32" else master


def run_case(steps: list[tuple[int, int, bool]], cc: int = 0, ext: int | None = None,
             fanout: int = 3, profile: str = GCM) -> None:
    keys = HopKeys.generate(profile)
    client_key, router_key = lib_key(keys.client_key, profile), lib_key(keys.router_key, profile)
    crypto = HopCrypto(keys)
    assert crypto.rx_rtp is not None
    sender = libsrtp(client_key, outbound=True)
    rx_lib, tx_lib = libsrtp(client_key, False), libsrtp(router_key, True)
    for i, (seq, size, tamper) in enumerate(steps):
        pkt = plain(seq, size, ts=i * 960, cc=cc, ext_words=ext)
        try:
            wire = sender.protect(pkt)
        except pylibsrtp.Error:  # too old for the sender: protect it with a fresh context
            wire = libsrtp(client_key, outbound=True).protect(pkt)
        if tamper:
            flip = bytearray(wire)
            flip[len(wire) // 2] ^= 0x40
            wire = bytes(flip)
        got_lib = outcome(rx_lib.unprotect, wire)
        got_c = outcome(crypto.unprotect, wire)
        assert got_c == got_lib, (i, seq)
        if isinstance(got_lib, bytes):
            assert got_lib == pkt
            for k in range(fanout):
                args = ((seq + 17 * k) % 65536, (i * 960 + k) % (1 << 32), 0x5000 + k)
                buf = bytearray(got_lib)
                struct.pack_into(">HII", buf, 2, *args)
                out_lib = outcome(tx_lib.protect, bytes(buf))
                out_c = outcome(functools.partial(rewrite_with, crypto, args), got_lib)
                assert out_c == out_lib, (i, seq, k)  # bytes, or the same failure (too old)


@pytest.mark.parametrize("profile", C_DOES)
@pytest.mark.parametrize(("name", "steps"), CASES, ids=[c[0] for c in CASES])
def test_c_matches_libsrtp(name: str, steps: list[tuple[int, int, bool]], profile: str) -> None:
    run_case(steps, profile=profile)


@pytest.mark.parametrize("profile", C_DOES)
@pytest.mark.parametrize(("cc", "ext"), [(1, None), (15, None), (0, 0), (0, 1), (2, 40)])
def test_c_matches_libsrtp_with_csrc_and_extensions(cc: int, ext: int | None,
                                                    profile: str) -> None:
    run_case([(s, 80, False) for s in (65534, 65535, 0, 1, 0)], cc=cc, ext=ext,
             profile=profile)


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, 65535),
    steps=st.lists(
        st.tuples(st.integers(-200, 40000), st.integers(0, 1300), st.booleans()),
        min_size=1, max_size=25,
    ),
    fanout=st.integers(1, 10),
    profile=st.sampled_from(C_DOES),
)
def test_c_matches_libsrtp_property(start: int, steps: list[tuple[int, int, bool]],
                                    fanout: int, profile: str) -> None:
    seq = start
    seqs = []
    for delta, size, tamper in steps:
        seq = (seq + delta) % 65536
        seqs.append((seq, size, tamper))
    run_case(seqs, fanout=fanout, profile=profile)


@pytest.mark.parametrize("profile", C_DOES)
def test_each_side_opens_what_the_other_protects(profile: str) -> None:
    key = HopKeys.generate(profile).client_key
    other = HopKeys.generate(profile).client_key
    c_tx = HopCrypto(HopKeys(other, key, profile)).tx_rtp
    c_rx = HopCrypto(HopKeys(key, other, profile)).rx_rtp
    lib_rx, lib_tx = libsrtp(lib_key(key, profile), False), libsrtp(lib_key(key, profile), True)
    for i in range(200):
        seq = (65400 + i) % 65536
        pkt = plain(seq, i * 6, ssrc=99)
        assert lib_rx.unprotect(c_tx.protect(pkt)) == pkt
        assert c_rx.unprotect(lib_tx.protect(pkt)) == pkt
    assert c_rx.highest_index(99) == (1 << 16) | ((65400 + 199) % 65536)


def test_errors_carry_libsrtp_messages_and_limits() -> None:
    crypto = HopCrypto(HopKeys.generate())
    with pytest.raises(pylibsrtp.Error, match="authentication failure"):
        crypto.unprotect(Endpoint(HopKeys.generate(), 1, ("h", 1)).rtp(1, 1, 1, b"x" * 20))
    with pytest.raises(ValueError, match="too long"):
        crypto.unprotect(b"\x80" * 1600)
    with pytest.raises(ValueError, match="too long"):
        crypto.protect_rewritten(b"\x80" * 1499, 1, 1, 1)
    with pytest.raises(pylibsrtp.Error, match="unsupported parameter"):
        crypto.unprotect(b"\x80" * 11)
    with pytest.raises(ValueError, match="16-byte key"):
        native.RtpContext(b"k", b"s")  # type: ignore[union-attr]


# ---------------------------------------------------------------- the core on both backends


def make_core(keys: dict[str, HopKeys], subs: int, c_path: bool, audio: bool = False
              ) -> ForwardingCore:
    core = ForwardingCore(rng=random.Random(5))
    for i, (pid, k) in enumerate(keys.items()):
        part = core.add_participant(pid, k, rtcp_ssrc=0x100 + i)
        if not c_path:
            part.crypto = HopCrypto(k, fast=False)
            assert part.crypto.rx_rtp is None
    core.add_stream("pub", 0xAAAA, "video", 90000)
    if audio:
        core.add_stream("pub", 0xCCCC, "audio", 48000, audio_level_id=AUDIO_LEVEL_ID)
    for i in range(subs):
        core.add_subscription(f"s{i}", 0xAAAA)
        if audio:
            core.add_subscription(f"s{i}", 0xCCCC)
    return core


@pytest.mark.parametrize("fanout", [1, 2, 5, 10])
def test_core_on_c_contexts_equals_core_on_libsrtp(fanout: int) -> None:
    keys = {"pub": HopKeys.generate()} | {f"s{i}": HopKeys.generate() for i in range(fanout)}
    cores = [make_core(keys, fanout, True), make_core(keys, fanout, False)]
    eps = {pid: Endpoint(k, 0x100 + i, ("10.0.0.1", 1000 + i))
           for i, (pid, k) in enumerate(keys.items())}
    rng = random.Random(fanout)
    datagrams = [(ep.rr(), ep.addr) for ep in eps.values()]
    pub = eps["pub"]
    seq = 65500
    for i in range(120):
        seq = (seq + rng.choice([1, 1, 1, 2, -1])) % 65536
        wire = pub.rtp(0xAAAA, seq, 3000 * i, rng.randbytes(rng.randrange(0, 1200)))
        datagrams.append((wire, pub.addr))
        if i % 17 == 3:
            datagrams.append((wire, pub.addr))  # replay
        if i % 23 == 5:
            datagrams.append((wire[:-1] + bytes([wire[-1] ^ 1]), pub.addr))  # tampered
    outs: list[list[list[tuple[bytes, tuple[str, int]]]]] = [[], []]
    for n, (data, addr) in enumerate(datagrams):
        for core, out in zip(cores, outs, strict=True):
            out.append(core.handle_datagram(data, addr, n * 0.001))
    assert outs[0] == outs[1]
    assert sum(len(o) for o in outs[0]) >= 80 * fanout
    assert cores[0].stats() == cores[1].stats()
    for a, b in zip(cores[0].participants["pub"].streams.values(),
                    cores[1].participants["pub"].streams.values(), strict=True):
        assert (a.stats.received, a.stats.max_ext_seq) == (b.stats.received, b.stats.max_ext_seq)


# ---------------------------------------------------------------- the Forwarder over UDP


def client_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # all of a burst fits
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def collect(socks: list[socket.socket], want: int, seconds: float
                  ) -> list[list[bytes]]:
    got: list[list[bytes]] = [[] for _ in socks]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and sum(len(g) for g in got) < want:
        for sock, g in zip(socks, got, strict=True):
            while True:
                try:
                    data = sock.recv(2048)
                except BlockingIOError:
                    break
                if not is_rtcp(data):
                    g.append(data)
        await asyncio.sleep(0.005)
    return got


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fanout", [1, 4])
async def test_forwarder_over_udp_equals_sans_io_core(fanout: int) -> None:
    keys = {"pub": HopKeys.generate()} | {f"s{i}": HopKeys.generate() for i in range(fanout)}
    core = make_core(keys, fanout, True)
    ref = make_core(keys, fanout, False)
    transport = UdpMediaTransport(core)
    (port,) = await transport.start("127.0.0.1", 0)
    assert transport.backend == "c"
    socks = {pid: client_socket() for pid in keys}
    eps = {pid: Endpoint(k, 0x100 + i, socks[pid].getsockname())
           for i, (pid, k) in enumerate(keys.items())}
    try:
        router = ("127.0.0.1", port)
        sent: list[tuple[bytes, tuple[str, int]]] = []
        for pid, ep in eps.items():
            sent.append((ep.rr(), ep.addr))
            socks[pid].sendto(sent[-1][0], router)
        await asyncio.sleep(0.05)
        assert all(p.addr is not None for p in core.participants.values())
        pub = eps["pub"]
        count = 200
        for i in range(count):
            wire = pub.rtp(0xAAAA, (65450 + i) % 65536, 3000 * i, os.urandom(i % 7 * 150))
            sent.append((wire, pub.addr))
            socks["pub"].sendto(wire, router)
            if i % 50 == 49:
                await asyncio.sleep(0.01)  # bounded bursts: no socket buffer overflow
        subs = [socks[f"s{i}"] for i in range(fanout)]
        got = await collect(subs, count * fanout, 5.0)
        expected: dict[tuple[str, int], list[bytes]] = {}
        for n, (data, addr) in enumerate(sent):
            for pkt, dest in ref.handle_datagram(data, addr, n * 0.001):
                if not is_rtcp(pkt):
                    expected.setdefault(dest, []).append(pkt)
        for i, g in enumerate(got):
            assert g == expected[eps[f"s{i}"].addr]
        stats = transport.fast_stats()
        assert stats["fast_in"] == count and stats["sent"] == count * fanout
        assert core.packets_in == count and core.packets_out == count * fanout
        assert core.stats()["drops"] == ref.stats()["drops"]
        # A NACK from the first subscriber brings back byte-identical copies.
        sub = next(iter(core.participants["s0"].subs.values()))
        lost = [sub.last_seq, (sub.last_seq - 3) % 65536]
        nack = eps["s0"].rtcp(GenericNack(0x101, sub.out_ssrc,
                                          tuple(NackEntry(s, 0) for s in lost)))
        socks["s0"].sendto(nack, router)
        (again,) = await collect([socks["s0"]], 2, 3.0)
        assert sorted(again) == sorted(p for p in got[0] if
                                       int.from_bytes(eps["s0"].open_rtp_raw(p)[2:4], "big")
                                       in lost)
        assert core.retransmits == 2
    finally:
        transport.close()
        for s in socks.values():
            s.close()


@pytest.mark.timeout(30)
async def test_forwarder_drops_like_the_python_path() -> None:
    keys = {"pub": HopKeys.generate(), "s0": HopKeys.generate()}
    core = make_core(keys, 1, True)
    transport = UdpMediaTransport(core)
    (port,) = await transport.start("127.0.0.1", 0)
    socks = {pid: client_socket() for pid in keys}
    eps = {pid: Endpoint(k, 0x100 + i, socks[pid].getsockname())
           for i, (pid, k) in enumerate(keys.items())}
    router = ("127.0.0.1", port)
    try:
        for pid, ep in eps.items():
            socks[pid].sendto(ep.rr(), router)
        await asyncio.sleep(0.05)
        pub = eps["pub"]
        good = pub.rtp(0xAAAA, 7, 0, b"p" * 100)
        bad = pub.rtp(0xAAAA, 10, 0, b"t" * 40)
        for data in (good, good, bad[:-1] + bytes([bad[-1] ^ 1]), pub.rtp(0x100 + 1, 8, 0, b"h"),
                     pub.rtp(0xBBBB, 9, 0, b"u"), b"\x05junk"):
            socks["pub"].sendto(data, router)
        got = await collect([socks["s0"]], 1, 2.0)
        await asyncio.sleep(0.05)
        assert len(got[0]) == 1
        drops = core.stats()["drops"]
        assert drops[DropReason.SRTP_REPLAY.value] == 1
        assert drops[DropReason.SSRC_HIJACK.value] == 1
        assert drops[DropReason.UNKNOWN_SSRC.value] == 1
        assert drops[DropReason.NOT_RTP.value] == 1
        assert drops[DropReason.SRTP_AUTH_FAILED.value] == 1
        assert transport.fast_stats()["fast_in"] == 3  # good, hijack, unknown SSRC
    finally:
        transport.close()
        for s in socks.values():
            s.close()


def receive_all(sock: socket.socket) -> list[bytes]:
    """Everything queued on a non-blocking socket (loopback delivery is synchronous)."""
    out = []
    while True:
        try:
            out.append(sock.recv(2048))
        except BlockingIOError:
            return out


def stream_state(core: ForwardingCore) -> list[object]:
    """Receive statistics, cache slots and subscription state of every stream."""
    state: list[object] = []
    for part in core.participants.values():
        for s in part.streams.values():
            st = s.stats
            state.append((s.ssrc, st.received, st.bytes, st.base_ext_seq, st.max_ext_seq,
                          st.jitter, st._transit, st._unwrapper.highest,
                          st.report_block(s.ssrc, 9.0)))
            state.append((s.cache._seqs, s.cache._times, s.cache._pkts))
        for sub in part.subs.values():
            state.append((sub.out_ssrc, sub.seq_off, sub.ts_off, sub.last_seq, sub.last_ts,
                          sub.last_time, sub.packets, sub.octets, sub.started, sub.rebase))
    return state


MIXED = ["AES_CM_128_HMAC_SHA1_80", GCM, "AEAD_AES_256_GCM", "AES_CM_128_HMAC_SHA1_32"]


@pytest.mark.parametrize(("fanout", "pub_profile", "sub_profiles"), [
    (1, GCM, [GCM]),
    (3, GCM, [GCM]),
    (10, GCM, [GCM]),
    (4, "AES_CM_128_HMAC_SHA1_80", MIXED),  # C and libsrtp hops in one fan-out
    (2, "AEAD_AES_256_GCM", [GCM]),  # a publisher the C path cannot open: all via Python
])
def test_forwarder_drain_equals_core_state(fanout: int, pub_profile: str,
                                           sub_profiles: list[str]) -> None:
    """drain() with a given ``now``: same bytes, statistics, cache, subscriptions, speaker."""
    keys = {"pub": HopKeys.generate(pub_profile)} | {
        f"s{i}": HopKeys.generate(sub_profiles[i % len(sub_profiles)]) for i in range(fanout)}
    core = make_core(keys, fanout, True, audio=True)
    ref = make_core(keys, fanout, False, audio=True)
    rsock = client_socket()
    socks = {pid: client_socket() for pid in keys}
    eps = {pid: Endpoint(k, 0x100 + i, socks[pid].getsockname())
           for i, (pid, k) in enumerate(keys.items())}
    for c in (core, ref):
        for pid, sock in socks.items():
            c.bind_address(pid, sock.getsockname())
        c.pop_events()
    clock = [0.0]

    def slow(data: bytes, addr: tuple[str, int]) -> None:
        for pkt, dest in core.handle_datagram(data, addr, clock[0]):
            rsock.sendto(pkt, dest)

    def send_py(out: list[tuple[bytes, tuple[str, int]]]) -> None:
        for pkt, dest in out:
            rsock.sendto(pkt, dest)

    assert native is not None
    fwd = native.Forwarder(
        core, rsock.fileno(), slow, send_py, {},
        (DropReason.NO_SUBSCRIBERS, DropReason.PROTECT_FAILED, DropReason.SEND_FAILED),
        (ReceiveStats, RetransmissionCache))
    pub = eps["pub"]
    rng = random.Random(fanout)
    router = rsock.getsockname()
    expected: dict[tuple[str, int], list[bytes]] = {}
    try:
        seq, aseq = 65400, 100
        for step in range(40):
            clock[0] = 0.5 + step * 0.0213
            burst = []
            for _ in range(rng.randrange(1, 12)):
                seq = (seq + rng.choice([1, 1, 1, 1, 2, 3, -2])) % 65536
                ts = (seq * 3000 + rng.randrange(0, 200)) % (1 << 32)
                burst.append(pub.rtp(0xAAAA, seq, ts, rng.randbytes(rng.randrange(0, 1100))))
            aseq += 1
            burst.append(pub.rtp(0xCCCC, aseq, aseq * 960, b"o" * 60,
                                 level=rng.randrange(0, 127)))
            if step % 9 == 4:
                burst.append(burst[0])  # replay
                padded = bytearray(rtp_plain := bytes([0xA0, 96]) + (seq + 1).to_bytes(2, "big")
                                   + bytes(4) + (0xAAAA).to_bytes(4, "big") + b"x" * 20 + b"\0\3")
                assert rtp_plain[0] & 0x20
                burst.append(pub.session.protect(bytes(padded)))
            for data in burst:
                socks["pub"].sendto(data, router)
                for pkt, dest in ref.handle_datagram(data, pub.addr, clock[0]):
                    expected.setdefault(dest, []).append(pkt)
            assert fwd.drain(clock[0], 8) == len(burst)
        got = {socks[pid].getsockname(): receive_all(socks[pid]) for pid in keys}
        for pid in keys:
            addr = socks[pid].getsockname()
            assert got[addr] == expected.get(addr, []), pid
        assert stream_state(core) == stream_state(ref)
        assert core.stats() == ref.stats()
        assert core.handle_timer(1.5) == ref.handle_timer(1.5)
        assert core.pop_events() == ref.pop_events()
        stats = fwd.stats()
        if pub_profile in C_DOES:
            assert stats["fast_in"] > 150 and stats["slow_in"] >= 4  # replays: Python path
        else:
            assert stats["fast_in"] == 0 and stats["slow_in"] > 200
    finally:
        rsock.close()
        for s in socks.values():
            s.close()
