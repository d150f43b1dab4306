"""The forwarding core's fast path gives the same bytes, counters and events as its general
path, and the direct libsrtp calls keep their sessions alive (performance work of issue 8)."""

from __future__ import annotations

import gc
import random
import struct

from router.drops import DropReason
from router.forwarding import ForwardingCore, HopKeys
from router.forwarding.core import Datagram
from router.forwarding.hop import HopCrypto
from router.forwarding.model import Addr, Participant
from rtpstack.errors import RtpParseError
from rtpstack.fastpath import header_length
from tests.test_forwarding_helpers import AUDIO_LEVEL_ID, Endpoint

A, B, C = ("127.0.0.1", 5001), ("127.0.0.1", 5002), ("127.0.0.1", 5003)
A_MOVED = ("127.0.0.1", 6001)
AUDIO, VIDEO = 0x1111, 0x1112


class GeneralPathCore(ForwardingCore):
    """The reference: every RTP datagram through authenticate(), the full header check and
    ``_rewrite()`` per subscription (the core before the fast path)."""

    def handle_datagram(self, data: bytes, addr: Addr, now: float) -> list[Datagram]:
        if len(data) >= 8 and 128 <= data[0] <= 191 and not 192 <= data[1] <= 223:
            out: list[Datagram] = []
            self._on_rtp(data, addr, now, out)
            return out
        return super().handle_datagram(data, addr, now)

    def _forward(self, part: Participant, wire_len: int, plain: bytes, now: float,
                 out: list[Datagram]) -> None:
        b0, _b1, seq, ts, ssrc = struct.unpack_from(">BBHII", plain)
        stream = part.streams.get(ssrc)
        if stream is None:
            owner = self.stream_owner(ssrc)
            self.drops.add(DropReason.SSRC_HIJACK if owner is not None and owner != part.pid
                           else DropReason.UNKNOWN_SSRC)
            return
        try:
            hlen = header_length(plain)
        except RtpParseError:
            self.drops.add(DropReason.MALFORMED_RTP)
            return
        self.packets_in += 1
        self.bytes_in += wire_len
        stream.stats.update(seq, ts, len(plain), now)
        stream.cache.put(seq, plain, now)
        if stream.audio_level_id is not None and b0 & 0x10:
            self._audio_level(stream, plain, b0, hlen)
        if not stream.subs:
            self.drops.add(DropReason.NO_SUBSCRIBERS)
            return
        for sub in stream.subs:
            pkt = self._rewrite(sub, plain, seq, ts, now, True)
            if pkt is None:
                continue
            out.append((pkt, sub.subscriber.addr))  # type: ignore[arg-type]
            sub.packets += 1
            sub.octets += len(plain) - hlen
            self.packets_out += 1
            self.bytes_out += len(pkt)


def _world(cls: type[ForwardingCore], keys: dict[str, HopKeys]) -> ForwardingCore:
    core = cls(rng=random.Random(11))
    for pid in ("a", "b", "c"):
        core.add_participant(pid, keys[pid], rtcp_ssrc=0x100 + ord(pid))
    core.add_stream("a", AUDIO, "audio", 48000, audio_level_id=AUDIO_LEVEL_ID)
    core.add_stream("a", VIDEO, "video", 90000)
    core.add_subscription("b", AUDIO)
    core.add_subscription("b", VIDEO)
    core.add_subscription("c", VIDEO)
    return core


def _plain(ssrc: int, seq: int, ts: int, *, csrcs: int = 0, pad: int = 0, level: int | None = None,
           size: int = 60) -> bytes:
    b0 = 0x80 | csrcs | (0x20 if pad else 0) | (0x10 if level is not None else 0)
    head = struct.pack(">BBHII", b0, 96, seq, ts, ssrc) + bytes(4 * csrcs)
    if level is not None:
        head += struct.pack(">HHBB2x", 0xBEDE, 1, AUDIO_LEVEL_ID << 4, level)
    body = bytes(range(size % 251)) + bytes(size)
    if pad:
        body += bytes(pad - 1) + bytes((pad,))
    return head + body


def test_fast_and_general_paths_agree_byte_for_byte() -> None:
    keys = {pid: HopKeys.generate() for pid in ("a", "b", "c")}
    fast = _world(ForwardingCore, keys)
    ref = _world(GeneralPathCore, keys)
    ep = {pid: Endpoint(keys[pid], 0x100 + ord(pid), addr)
          for pid, addr in (("a", A), ("b", B), ("c", C))}
    now = 50.0
    script: list[tuple[bytes, Addr]] = [(ep["a"].rr(), A), (ep["b"].rr(), B)]
    seqs = [1, 2, 3, 5, 4, 4, 6, 65535, 0, 7]  # loss, reordering, a duplicate index, wrap
    for i, seq in enumerate(seqs):
        script.append((ep["a"].rtp(VIDEO, seq, 3000 * i, bytes(range(200))), A))
        script.append((ep["a"].session.protect(_plain(AUDIO, seq, 960 * i, level=30 + i)), A))
    c_joins = (ep["c"].rr(), C)
    protected = ep["a"].session.protect(_plain(VIDEO, 8, 99000))
    script += [
        c_joins,  # c bound from now on (before: subscriber_unbound)
        (protected, A), (protected, A),  # replay
        (ep["a"].session.protect(_plain(VIDEO, 9, 99100, csrcs=2)), A),
        (ep["a"].session.protect(_plain(VIDEO, 10, 99200, pad=7)), A),
        (ep["a"].session.protect(_plain(VIDEO, 11, 99300, level=5)), A),
        (ep["a"].session.protect(_plain(0x9999, 1, 1)), A),  # nobody's SSRC
        (ep["b"].session.protect(_plain(VIDEO, 12, 1)), B),  # a's SSRC from b: hijack
        (ep["a"].session.protect(_plain(VIDEO, 13, 99400))[:-1] + b"\x00", A),  # tampered
        (ep["a"].session.protect(_plain(VIDEO, 14, 99500)), A_MOVED),  # a moved
        (ep["a"].session.protect(_plain(VIDEO, 15, 99600)), A_MOVED),
        (ep["a"].session.protect(_plain(VIDEO, 16, 99700, csrcs=15, size=0))[:20], A_MOVED),
        (b"\x80\x60" + bytes(8), A_MOVED),  # too short for RTP
    ]
    for data, addr in script:
        now += 0.01
        assert fast.handle_datagram(data, addr, now) == ref.handle_datagram(data, addr, now)
    assert fast.stats() == ref.stats()
    assert fast.pop_events() == ref.pop_events()
    for core in (fast, ref):
        core.set_last_n(0, now)
    for seq in (20, 21):
        now += 0.01
        data = ep["a"].session.protect(_plain(VIDEO, seq, 3000 * seq))
        assert fast.handle_datagram(data, A_MOVED, now) == ref.handle_datagram(data, A_MOVED, now)
    assert fast.stats() == ref.stats()
    stats = fast.stats()
    assert stats["packets_out"] > 20
    for reason in ("srtp_replay", "ssrc_hijack", "unknown_ssrc", "srtp_auth_failed",
                   "subscriber_unbound", "last_n"):
        assert stats["drops"][reason] >= 1, reason


def test_direct_libsrtp_calls_keep_their_session_alive() -> None:
    keys = HopKeys.generate()
    protect = HopCrypto(keys).protect_rewritten  # the HopCrypto itself is dropped at once
    unprotect = HopCrypto(HopKeys(keys.router_key, keys.client_key)).unprotect
    gc.collect()
    plain = _plain(VIDEO, 1, 1000)
    for seq in range(1, 50):
        pkt = protect(plain, seq, 77, 0xABCD)
        gc.collect()
        opened = unprotect(pkt)
        assert struct.unpack_from(">HII", opened, 2) == (seq, 77, 0xABCD)
        assert opened[12:] == plain[12:]
