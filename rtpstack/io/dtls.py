"""DTLS 1.2 for DTLS-SRTP (RFC 5764), sans-IO, over OpenSSL memory BIOs (``pyOpenSSL``).

:class:`DtlsEndpoint` is one side of one DTLS association. It never touches a socket: feed it
each received datagram with :meth:`DtlsEndpoint.handle_datagram` and send the datagrams it
returns; call :meth:`DtlsEndpoint.handle_timer` at :meth:`DtlsEndpoint.next_deadline` so lost
flights are retransmitted. When the handshake completes, :attr:`DtlsEndpoint.done` turns true,
:meth:`DtlsEndpoint.srtp_keys` gives the SRTP keys exported from the association (RFC 5764
§4.2, through :func:`rtpstack.srtp.keying_from_dtls_export`), and the peer's certificate
fingerprint has been checked against the one the signaling announced.

:class:`DtlsCertificate` makes the self-signed ECDSA P-256 certificate WebRTC endpoints use
and its SHA-256 fingerprint in SDP form (``sha-256 AB:CD:...``).

What it handles: the server (passive) role against an ``actpass`` offer, and the client role
(used by tests and clients); the ``use_srtp`` profiles ``SRTP_AEAD_AES_128_GCM`` and
``SRTP_AES128_CM_SHA1_80``; ClientHellos fragmented over several records and datagrams
(OpenSSL reassembles them); retransmission timers. Outgoing records are packed whole into
datagrams of at most ``mtu`` bytes (a record is never split across datagrams).

Time: OpenSSL keeps the retransmission timer on its own clock; the endpoint reads the
remaining time after each step and reports ``now + remaining`` as its deadline, so callers
drive it with their clock like every other sans-IO core.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import secrets
import struct
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL, crypto

from rtpstack.srtp.dtls import EXPORTER_LABEL, DtlsSrtpKeys, export_length, keying_from_dtls_export
from rtpstack.srtp.profiles import SrtpProfile

__all__ = [
    "DEFAULT_SRTP_PROFILES",
    "DtlsCertificate",
    "DtlsEndpoint",
    "DtlsError",
    "split_records",
]

#: What the endpoint offers / accepts in ``use_srtp``, most preferred first.
DEFAULT_SRTP_PROFILES: tuple[SrtpProfile, ...] = (
    SrtpProfile.AEAD_AES_128_GCM,
    SrtpProfile.AES_CM_128_HMAC_SHA1_80,
)

_BY_DTLS_NAME = {p.dtls_name: p for p in SrtpProfile}
_RECORD_HEADER = 13
#: OpenSSL's DTLS1_2_VERSION (pyOpenSSL does not name it).
_DTLS1_2_VERSION = 0xFEFD


class DtlsError(ValueError):
    """The DTLS handshake failed (alert, bad fingerprint, no common SRTP profile)."""


def _fingerprint_of(der: bytes) -> str:
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@dataclass(frozen=True, slots=True)
class DtlsCertificate:
    """A certificate and its private key (PEM), and the SDP fingerprint of the certificate."""

    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def generate(cls, common_name: str = "rtpstack", days: int = 30) -> DtlsCertificate:
        """A fresh self-signed ECDSA P-256 certificate (what browsers generate too)."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(secrets.randbits(63) + 1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256())
        )
        return cls(
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
        )

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate as ``AB:CD:...`` (upper case, colon separated)."""
        der = x509.load_pem_x509_certificate(self.cert_pem).public_bytes(
            serialization.Encoding.DER)
        return _fingerprint_of(der)

    @property
    def sdp_fingerprint(self) -> str:
        """The value of an SDP ``a=fingerprint`` line: ``sha-256 AB:CD:...``."""
        return f"sha-256 {self.fingerprint}"


def split_records(data: bytes) -> list[bytes]:
    """Split bytes holding consecutive DTLS records into records (a tail too short is kept)."""
    out = []
    pos = 0
    while pos + _RECORD_HEADER <= len(data):
        length = struct.unpack_from(">H", data, pos + 11)[0]
        end = pos + _RECORD_HEADER + length
        out.append(data[pos:end])
        pos = end
    if pos < len(data):
        out.append(data[pos:])
    return out


def _load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise DtlsError("the DTLS certificate key must be an ECDSA key")
    return key


@functools.lru_cache(maxsize=16)
def _context(certificate: DtlsCertificate, profiles: tuple[SrtpProfile, ...]) -> SSL.Context:
    """One OpenSSL context per certificate and profile list, shared by every association
    (loading the certificate and key is most of an endpoint's set-up cost)."""
    ctx = SSL.Context(SSL.DTLS_METHOD)
    ctx.set_min_proto_version(_DTLS1_2_VERSION)
    ctx.set_max_proto_version(_DTLS1_2_VERSION)
    cert, key = x509.load_pem_x509_certificate(certificate.cert_pem), _load_key(certificate.key_pem)
    try:
        ctx.use_certificate(cert)
        ctx.use_privatekey(key)
    except TypeError:  # pyOpenSSL before 24.3 takes only its own wrappers
        ctx.use_certificate(crypto.X509.from_cryptography(cert))
        ctx.use_privatekey(crypto.PKey.from_cryptography_key(key))
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _accept_any)
    ctx.set_tlsext_use_srtp(b":".join(p.dtls_name.encode() for p in profiles))
    ctx.set_options(SSL.OP_NO_QUERY_MTU)
    return ctx


def _accept_any(*_: Any) -> bool:
    # The certificate is self-signed; what authenticates it is the fingerprint from signaling,
    # checked once the handshake is done.
    return True


class DtlsEndpoint:
    """One DTLS-SRTP association, sans-IO (see the module docstring).

    ``server=True`` is the passive role (``a=setup:passive``, what the router answers to
    ``actpass``). ``remote_fingerprint`` (``AB:CD:...`` or ``sha-256 AB:CD:...``) is checked
    against the peer's certificate when the handshake completes; None skips the check.
    """

    def __init__(
        self,
        certificate: DtlsCertificate,
        *,
        server: bool,
        remote_fingerprint: str | None = None,
        profiles: tuple[SrtpProfile, ...] = DEFAULT_SRTP_PROFILES,
        mtu: int = 1200,
    ) -> None:
        self.server = server
        self.mtu = mtu
        self.remote_fingerprint = (
            None if remote_fingerprint is None
            else remote_fingerprint.split()[-1].upper()
        )
        ctx = _context(certificate, profiles)
        conn = SSL.Connection(ctx, None)
        if server:
            conn.set_accept_state()
        else:
            conn.set_connect_state()
        conn.set_ciphertext_mtu(mtu)
        self._conn = conn
        self.done = False
        self.failed: str | None = None
        self.profile: SrtpProfile | None = None
        self.peer_fingerprint: str | None = None
        self._deadline: float | None = None
        self._started = False
        self._keys: DtlsSrtpKeys | None = None

    # ------------------------------------------------------------------ driving

    def start(self, now: float) -> list[bytes]:
        """Begin the handshake; a client returns its ClientHello, a server nothing."""
        self._started = True
        return self._step(now)

    def handle_datagram(self, data: bytes, now: float) -> list[bytes]:
        """Process one received datagram; return the datagrams to send.

        After the handshake, application data is read and discarded (DTLS-SRTP carries none
        that the router needs). A fatal alert sets :attr:`failed` and returns what OpenSSL
        wants to send (the alert).
        """
        if self.failed is not None:
            return []
        self._started = True
        self._conn.bio_write(bytes(data))
        return self._step(now)

    def handle_timer(self, now: float) -> list[bytes]:
        """Retransmit the last flight if its timer expired."""
        if self._deadline is None or now < self._deadline or self.done or self.failed:
            return []
        try:
            self._conn.DTLSv1_handle_timeout()
        except SSL.Error as exc:
            self.failed = f"DTLS timeout handling failed: {exc}"
            return []
        out = self._drain()
        self._update_deadline(now)
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` should be called next (None: no timer running)."""
        return self._deadline

    def _step(self, now: float) -> list[bytes]:
        if not self.done:
            try:
                self._conn.do_handshake()
            except SSL.WantReadError:
                pass
            except SSL.Error as exc:
                self.failed = f"DTLS handshake failed: {exc}"
                return self._drain()
            else:
                self._finish()
        else:
            self._read_application_data()
        out = self._drain()
        self._update_deadline(now)
        return out

    def _finish(self) -> None:
        cert = self._conn.get_peer_certificate()
        if cert is None:
            self.failed = "the peer sent no certificate"
            return
        der = crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)
        self.peer_fingerprint = _fingerprint_of(der)
        if self.remote_fingerprint is not None and self.peer_fingerprint != self.remote_fingerprint:
            self.failed = (
                f"the peer's certificate fingerprint {self.peer_fingerprint} does not match "
                f"the signaled {self.remote_fingerprint}"
            )
            return
        name = self._conn.get_selected_srtp_profile()
        profile = _BY_DTLS_NAME.get(name.decode("ascii", "replace")) if name else None
        if profile is None:
            self.failed = "no SRTP protection profile was negotiated (use_srtp)"
            return
        material = self._conn.export_keying_material(EXPORTER_LABEL, export_length(profile))
        self._keys = keying_from_dtls_export(material, profile, is_client=not self.server)
        self.profile = profile
        self.done = True

    def _read_application_data(self) -> None:
        for _ in range(16):
            try:
                self._conn.recv(4096)
            except (SSL.WantReadError, SSL.ZeroReturnError):
                return
            except SSL.Error:
                return

    def _drain(self) -> list[bytes]:
        """Everything OpenSSL wrote, as datagrams of whole records of at most ``mtu`` bytes."""
        chunks = []
        while True:
            try:
                chunk = self._conn.bio_read(65536)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        if not chunks:
            return []
        out: list[bytes] = []
        current = b""
        for record in split_records(b"".join(chunks)):
            if current and len(current) + len(record) > self.mtu:
                out.append(current)
                current = b""
            current += record
        if current:
            out.append(current)
        return out

    def _update_deadline(self, now: float) -> None:
        if self.done or self.failed is not None:
            self._deadline = None
            return
        remaining = self._conn.DTLSv1_get_timeout()
        self._deadline = None if remaining is None else now + float(remaining)

    # ------------------------------------------------------------------ results

    def srtp_keys(self) -> DtlsSrtpKeys:
        """This endpoint's outbound/inbound SRTP keys (after :attr:`done`)."""
        if self._keys is None:
            raise DtlsError(self.failed or "the DTLS handshake is not done")
        return self._keys
