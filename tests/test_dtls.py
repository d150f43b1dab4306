"""DTLS-SRTP endpoint: handshakes against a plain pyOpenSSL client, key export, fragmentation."""

from __future__ import annotations

import hashlib
import struct
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto

from rtpstack.io.dtls import DtlsCertificate, DtlsEndpoint, split_records
from rtpstack.srtp.dtls import EXPORTER_LABEL, export_length, keying_from_dtls_export
from rtpstack.srtp.profiles import SrtpProfile


def _load_key(pem: bytes) -> object:
    return serialization.load_pem_private_key(pem, password=None)


class PlainClient:
    """A DTLS client written directly on pyOpenSSL (not our endpoint), over memory BIOs."""

    def __init__(self, cert: DtlsCertificate, profiles: bytes) -> None:
        ctx = SSL.Context(SSL.DTLS_METHOD)
        ctx.use_certificate(x509.load_pem_x509_certificate(cert.cert_pem))
        ctx.use_privatekey(_load_key(cert.key_pem))  # type: ignore[arg-type]
        ctx.set_verify(SSL.VERIFY_PEER, lambda *_: True)
        ctx.set_tlsext_use_srtp(profiles)
        self.conn = SSL.Connection(ctx, None)
        self.conn.set_connect_state()
        self.done = False

    def step(self, incoming: list[bytes]) -> list[bytes]:
        for d in incoming:
            self.conn.bio_write(d)
        try:
            self.conn.do_handshake()
            self.done = True
        except SSL.WantReadError:
            pass
        out = b""
        while True:
            try:
                out += self.conn.bio_read(65536)
            except SSL.WantReadError:
                break
        return [out] if out else []


def run(server: DtlsEndpoint, client: PlainClient,
        relay: object = None, rounds: int = 10) -> None:
    to_server = client.step([])
    for _ in range(rounds):
        if relay is not None:
            to_server = relay(to_server)  # type: ignore[operator]
        to_client: list[bytes] = []
        for d in to_server:
            to_client += server.handle_datagram(d, 0.0)
        to_server = client.step(to_client)
        if server.done and client.done and not to_server:
            return
    raise AssertionError(f"handshake did not finish: {server.failed}")


@pytest.mark.parametrize(
    ("offer", "expected"),
    [
        (b"SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80", SrtpProfile.AEAD_AES_128_GCM),
        (b"SRTP_AES128_CM_SHA1_80", SrtpProfile.AES_CM_128_HMAC_SHA1_80),
    ],
)
def test_server_handshake_and_exported_keys_match(offer: bytes, expected: SrtpProfile) -> None:
    scert, ccert = DtlsCertificate.generate(), DtlsCertificate.generate()
    server = DtlsEndpoint(scert, server=True, remote_fingerprint=ccert.sdp_fingerprint)
    client = PlainClient(ccert, offer)
    run(server, client)
    assert server.done and server.failed is None and server.profile is expected
    assert server.peer_fingerprint == ccert.fingerprint
    material = client.conn.export_keying_material(EXPORTER_LABEL, export_length(expected))
    theirs = keying_from_dtls_export(material, expected, is_client=True)
    ours = server.srtp_keys()
    assert ours.inbound == theirs.outbound and ours.outbound == theirs.inbound
    assert ours.inbound != ours.outbound
    # The client saw our certificate: its fingerprint is the one we would put in SDP.
    peer = client.conn.get_peer_certificate()
    assert peer is not None
    der = crypto.dump_certificate(crypto.FILETYPE_ASN1, peer)
    assert hashlib.sha256(der).hexdigest().upper() == scert.fingerprint.replace(":", "")


def test_fingerprint_mismatch_fails() -> None:
    scert, ccert, other = (DtlsCertificate.generate() for _ in range(3))
    server = DtlsEndpoint(scert, server=True, remote_fingerprint=other.sdp_fingerprint)
    client = PlainClient(ccert, b"SRTP_AES128_CM_SHA1_80")
    to_server = client.step([])
    for _ in range(6):
        to_client: list[bytes] = []
        for d in to_server:
            to_client += server.handle_datagram(d, 0.0)
        to_server = client.step(to_client)
    assert not server.done
    assert server.failed is not None and "does not match the signaled" in server.failed
    with pytest.raises(ValueError, match="does not match"):
        server.srtp_keys()


def test_no_common_srtp_profile_fails() -> None:
    server = DtlsEndpoint(DtlsCertificate.generate(), server=True,
                          profiles=(SrtpProfile.AEAD_AES_128_GCM,))
    client = PlainClient(DtlsCertificate.generate(), b"SRTP_AES128_CM_SHA1_32")
    to_server = client.step([])
    for _ in range(6):
        to_client: list[bytes] = []
        for d in to_server:
            to_client += server.handle_datagram(d, 0.0)
        to_server = client.step(to_client)
    assert not server.done
    assert server.failed == "no SRTP protection profile was negotiated (use_srtp)"


def _fragment_client_hello(datagram: bytes, cut: int) -> list[bytes]:
    """Split a one-record ClientHello into two records, each a datagram (as Chromium does)."""
    (record,) = split_records(datagram)
    hs = record[13:]
    msg_type, length, msg_seq = hs[0], int.from_bytes(hs[1:4], "big"), hs[4:6]
    body = hs[12:]
    assert msg_type == 1 and len(body) == length
    out = []
    for i, (off, part) in enumerate(((0, body[:cut]), (cut, body[cut:]))):
        frag = (bytes([msg_type]) + length.to_bytes(3, "big") + msg_seq
                + off.to_bytes(3, "big") + len(part).to_bytes(3, "big") + part)
        header = record[:3] + b"\x00\x00" + (i).to_bytes(6, "big") + struct.pack(">H", len(frag))
        out.append(header + frag)
    return out


def test_client_hello_split_across_datagrams_is_reassembled() -> None:
    scert, ccert = DtlsCertificate.generate(), DtlsCertificate.generate()
    server = DtlsEndpoint(scert, server=True, remote_fingerprint=ccert.fingerprint)
    client = PlainClient(ccert, b"SRTP_AEAD_AES_128_GCM")
    first = True

    def relay(datagrams: list[bytes]) -> list[bytes]:
        nonlocal first
        if first:
            first = False
            (hello,) = datagrams
            parts = _fragment_client_hello(hello, 60)
            assert len(parts) == 2 and all(len(p) < len(hello) for p in parts)
            return parts
        # The two fragments used epoch-0 record numbers 0 and 1: shift the client's later
        # epoch-0 records by one so they are not taken for replays (epoch 0 is unprotected).
        out = []
        for d in datagrams:
            recs = []
            for rec in split_records(d):
                if rec[3:5] == b"\x00\x00":
                    seq = int.from_bytes(rec[5:11], "big") + 1
                    rec = rec[:5] + seq.to_bytes(6, "big") + rec[11:]
                recs.append(rec)
            out.append(b"".join(recs))
        return out

    # Feeding only the first fragment yields nothing: the server waits for the rest.
    probe = DtlsEndpoint(scert, server=True)
    hello = PlainClient(ccert, b"SRTP_AEAD_AES_128_GCM").step([])[0]
    assert probe.handle_datagram(_fragment_client_hello(hello, 60)[0], 0.0) == []
    run(server, client, relay)
    assert server.done and server.profile is SrtpProfile.AEAD_AES_128_GCM


def test_our_endpoint_both_sides_and_mtu() -> None:
    scert, ccert = DtlsCertificate.generate(), DtlsCertificate.generate()
    server = DtlsEndpoint(scert, server=True, remote_fingerprint=ccert.fingerprint, mtu=300)
    client = DtlsEndpoint(ccert, server=False, remote_fingerprint=scert.fingerprint)
    out = client.start(0.0)
    for _ in range(10):
        back: list[bytes] = []
        for d in out:
            back += server.handle_datagram(d, 0.0)
        assert all(len(d) <= 300 for d in back)
        out = []
        for d in back:
            out += client.handle_datagram(d, 0.0)
        if server.done and client.done:
            break
    assert server.done and client.done
    assert server.srtp_keys().inbound == client.srtp_keys().outbound
    assert server.next_deadline() is None


def test_lost_flight_is_retransmitted_on_timer() -> None:
    scert, ccert = DtlsCertificate.generate(), DtlsCertificate.generate()
    client = DtlsEndpoint(ccert, server=False)
    hello = client.start(10.0)
    deadline = client.next_deadline()
    assert hello and deadline is not None and deadline > 10.0
    assert client.handle_timer(10.0) == []  # not yet
    # OpenSSL keeps its own clock: wait until its timer really expired (about 1 s).
    time.sleep(max(0.0, deadline - 10.0) + 0.05)
    again = client.handle_timer(deadline)
    assert again and split_records(again[0])[0][13] == 1  # a ClientHello again
    server = DtlsEndpoint(scert, server=True)
    assert server.handle_datagram(again[0], deadline)  # the server answers the retransmission
