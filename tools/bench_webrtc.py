"""Benchmark the WebRTC control path: SDP, STUN/ICE-lite checks, DTLS handshakes.

One process, one run. Each row is timed against a baseline measured in the same run, in
interleaved rounds (the minimum of many short batches is kept; shared cores are noisy):

* SDP: parse / serialize a Chromium-style offer (4 m-lines) with ``rtpstack.sdp`` versus
  aiortc's own SDP module (``aiortc.sdp``);
* STUN: parse + MESSAGE-INTEGRITY + FINGERPRINT of the RFC 5769 sample request with
  ``rtpstack.stun`` versus aioice's codec (``aioice.stun``); the router's whole ICE-lite check
  (verify, answer, encode) against the same aioice baseline;
* DTLS: a full in-memory DTLS-SRTP handshake between two ``DtlsEndpoint`` objects versus the
  same handshake between two plain pyOpenSSL connections (the floor of what OpenSSL costs).

Usage: python tools/bench_webrtc.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from OpenSSL import SSL

from router.webrtc.answer import answer_offer, parse_offer
from router.webrtc.ice import IceCredentials, IceLiteAgent
from rtpstack.io.dtls import DtlsCertificate, DtlsEndpoint
from rtpstack.sdp import SessionDescription
from rtpstack.stun import StunMessage, check_fingerprint, check_integrity
from tests.sdp_samples import CHROMIUM_OFFER

REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74"
    "002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf")
PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"


def per_call_us(fns: list[Callable[[], object]], batch_s: float, rounds: int) -> list[float]:
    """Minimum over interleaved rounds of microseconds per call, for each function."""
    best = [float("inf")] * len(fns)
    counts = []
    for fn in fns:  # calibrate a batch size per function
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < batch_s:
            fn()
            n += 1
        counts.append(max(1, n))
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(counts[i]):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t0) / counts[i] * 1e6)
    return best


def _stun_ours() -> None:
    msg = StunMessage.parse(REQUEST)
    assert msg.username is not None
    assert check_integrity(REQUEST, PASSWORD) and check_fingerprint(REQUEST)


def _stun_aioice() -> None:
    from aioice import stun
    msg = stun.parse_message(REQUEST)
    assert msg.attributes["USERNAME"]
    # aioice checks FINGERPRINT only when asked; integrity is a separate call.
    assert msg.check_message_integrity(PASSWORD)


def _agent_check() -> Callable[[], object]:
    agent = IceLiteAgent(IceCredentials("evtj", PASSWORD.decode()), None)
    msg = StunMessage.parse(REQUEST)

    def run() -> object:
        # ufrag "evtj" matches the vector's USERNAME "evtj:h6vY"
        res = agent.handle(StunMessage.parse(REQUEST), REQUEST, ("192.0.2.1", 32853), 1.0)
        assert res.valid
        return msg

    return run


def _dtls_ours(a: DtlsCertificate, b: DtlsCertificate) -> Callable[[], object]:
    def run() -> object:
        s = DtlsEndpoint(a, server=True, remote_fingerprint=b.fingerprint)
        c = DtlsEndpoint(b, server=False, remote_fingerprint=a.fingerprint)
        out = c.start(0.0)
        for _ in range(8):
            back = [d for x in out for d in s.handle_datagram(x, 0.0)]
            out = [d for x in back for d in c.handle_datagram(x, 0.0)]
            if s.done and c.done:
                return s.srtp_keys()
        raise AssertionError("handshake did not finish")
    return run


def _dtls_plain(a: DtlsCertificate, b: DtlsCertificate) -> Callable[[], object]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    def ctx(cert: DtlsCertificate) -> SSL.Context:
        c = SSL.Context(SSL.DTLS_METHOD)
        c.use_certificate(x509.load_pem_x509_certificate(cert.cert_pem))
        c.use_privatekey(serialization.load_pem_private_key(cert.key_pem, None))  # type: ignore[arg-type]
        c.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *_: True)
        c.set_tlsext_use_srtp(b"SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80")
        return c

    sctx, cctx = ctx(a), ctx(b)

    def pump(conn: SSL.Connection) -> bytes:
        out = b""
        while True:
            try:
                out += conn.bio_read(65536)
            except SSL.WantReadError:
                return out

    def step(conn: SSL.Connection) -> bool:
        try:
            conn.do_handshake()
            return True
        except SSL.WantReadError:
            return False

    def run() -> object:
        s, c = SSL.Connection(sctx, None), SSL.Connection(cctx, None)
        s.set_accept_state()
        c.set_connect_state()
        step(c)
        for _ in range(8):
            data = pump(c)
            if data:
                s.bio_write(data)
            sd = step(s)
            data = pump(s)
            if data:
                c.bio_write(data)
            cd = step(c)
            if sd and cd:
                return s.export_keying_material(b"EXTRACTOR-dtls_srtp", 56)
        raise AssertionError("handshake did not finish")
    return run


def main(argv: list[str] | None = None) -> int:
    """Run every row and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    args = ap.parse_args(argv)
    rounds = 5 if args.quick else 15
    batch = 0.01 if args.quick else 0.03
    from aiortc import sdp as aiortc_sdp

    ours = SessionDescription.parse(CHROMIUM_OFFER)
    theirs = aiortc_sdp.SessionDescription.parse(CHROMIUM_OFFER)
    counter = iter(range(1, 10**9))
    offer = parse_offer(CHROMIUM_OFFER)
    ice = IceCredentials.generate()
    a, b = DtlsCertificate.generate(), DtlsCertificate.generate()
    groups: list[tuple[str, list[tuple[str, Callable[[], object]]]]] = [
        ("SDP parse (Chromium offer)", [
            ("aiortc.sdp (baseline)", lambda: aiortc_sdp.SessionDescription.parse(CHROMIUM_OFFER)),
            ("rtpstack.sdp", lambda: SessionDescription.parse(CHROMIUM_OFFER)),
        ]),
        ("SDP serialize", [
            ("aiortc.sdp (baseline)", lambda: str(theirs)),
            ("rtpstack.sdp", lambda: str(ours)),
        ]),
        ("SDP answer (router)", [
            ("rtpstack.sdp parse (baseline)", lambda: SessionDescription.parse(CHROMIUM_OFFER)),
            ("answer_offer", lambda: answer_offer(offer, ice=ice, fingerprint="AB:CD",
                                                  host="127.0.0.1", port=40000,
                                                  new_ssrc=lambda: next(counter))),
        ]),
        ("STUN check (RFC 5769 request)", [
            ("aioice.stun parse+MI (baseline)", _stun_aioice),
            ("rtpstack.stun parse+MI+FP", _stun_ours),
            ("IceLiteAgent.handle (+response)", _agent_check()),
        ]),
        ("DTLS-SRTP handshake (in memory)", [
            ("plain pyOpenSSL (baseline)", _dtls_plain(a, b)),
            ("DtlsEndpoint x2", _dtls_ours(a, b)),
        ]),
    ]
    print(f"{'group':34} {'row':34} {'us/op':>10} {'x baseline':>11}")
    for title, rows in groups:
        r = rounds if not title.startswith("DTLS") else max(3, rounds // 3)
        times = per_call_us([fn for _, fn in rows], batch, r)
        for (name, _), us in zip(rows, times, strict=True):
            print(f"{title:34} {name:34} {us:10.1f} {us / times[0]:11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
