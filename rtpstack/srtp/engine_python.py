"""Pure-Python SRTP/SRTCP engine on ``cryptography``: byte-identical to libsrtp 2.x.

It exists so that tools run where libsrtp is missing, and so that the packet layout and the
index/replay rules can be read in one page. It mirrors libsrtp's behaviour, not just the RFCs:

* SRTP packet index (RFC 3711 section 3.3.1, libsrtp ``srtp_index_guess``): while the highest
  index seen is at most 2^15 the ROC is taken as 0; after that the ROC is guessed from the
  highest index (a sequence number more than half the space away belongs to the neighbouring
  ROC). The replay window is a bitmask of ``replay_window`` bits (rounded up to a multiple of
  32) ending at the highest index; the sender runs the same check, so protecting the same
  sequence number twice fails unless ``allow_repeat_tx``.
* SRTCP: the sender numbers packets 1, 2, ...; the receiver keeps a fixed 128-index window.
* A context whose keys are bound to "any SSRC" creates a stream per new SSRC; a receiver keeps
  the new stream only once a packet from it authenticates. Failed packets change no state.

Packet layout (RFC 3711 / RFC 7714)::

    SRTP   AES-CM:  header | AES-CM(payload)          | HMAC-SHA1(header|enc|ROC)[:tag]
    SRTP   GCM:     header | AES-GCM(payload, aad=header) incl. 16-byte tag
    SRTCP  AES-CM:  header(8) | AES-CM(rest) | E|index | HMAC-SHA1(all before)[:tag]
    SRTCP  GCM:     header(8) | AES-GCM(rest, aad=header(8)|E|index) incl. tag | E|index

:class:`SrtpTransform` is the cipher layer alone (session keys in, no state), used for the
RFC 7714 vectors, which give session keys.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rtpstack.seqnum import SEQ_MOD, seq_diff
from rtpstack.srtp import _packet as P
from rtpstack.srtp.errors import (
    SrtpAuthError,
    SrtpKeyExpiredError,
    SrtpMalformedError,
    SrtpReplayError,
    SrtpUnknownSsrcError,
)
from rtpstack.srtp.kdf import derive_session_keys
from rtpstack.srtp.profiles import SrtpKeyingMaterial, SrtpProfile

__all__ = ["PythonSrtpEngine", "SrtpTransform", "aes_cm_keystream"]

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_HALF = SEQ_MOD // 2
_E_BIT = 0x80000000
_RTCP_INDEX_MAX = 0x7FFFFFFF
_RTCP_WINDOW = 128


def aes_cm_keystream(
    key: bytes, salt: bytes, ssrc: int, index: int, length: int, *, first_block: int = 0
) -> bytes:
    """AES-CM keystream (RFC 3711 section 4.1.1) for one packet, from block ``first_block``.

    ``index`` is the 48-bit SRTP packet index (ROC * 2^16 + SEQ) or the SRTCP index.
    """
    iv = (int.from_bytes(salt, "big") << 16) ^ (ssrc << 64) ^ (index << 16)
    iv += first_block
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv.to_bytes(16, "big"))).encryptor()
    return encryptor.update(bytes(length)) + encryptor.finalize()


class SrtpTransform:
    """The stateless cipher layer for one direction of RTP *or* RTCP, given session keys.

    ``encrypt=False`` selects authentication-only protection (RFC 7714 section 9.3 style for
    GCM; the SRTCP E flag is 0). The stateful engines always encrypt.
    """

    __slots__ = ("_aead", "_aes", "_hmac", "_salt", "_tag_len", "profile", "rtcp")

    def __init__(
        self,
        profile: SrtpProfile,
        session_key: bytes,
        session_salt: bytes,
        auth_key: bytes = b"",
        *,
        rtcp: bool = False,
    ) -> None:
        self.profile = profile
        self.rtcp = rtcp
        self._salt = int.from_bytes(session_salt, "big")
        if profile.is_aead:
            self._aead: AESGCM | None = AESGCM(session_key)
            self._tag_len = 16
        else:
            self._aead = None
            self._aes = algorithms.AES(session_key)
            self._salt <<= 16
            self._hmac = hmac.new(auth_key, digestmod=hashlib.sha1)
            self._tag_len = profile.rtcp_tag_length if rtcp else profile.rtp_tag_length

    @property
    def tag_length(self) -> int:
        """Authentication tag length in bytes (16 for GCM)."""
        return self._tag_len

    # -- AES-CM + HMAC-SHA1 ------------------------------------------------------------------

    def _ctr(self, ssrc: int, index: int, data: bytes) -> bytes:
        iv = self._salt ^ (ssrc << 64) ^ (index << 16)
        encryptor = Cipher(self._aes, modes.CTR(iv.to_bytes(16, "big"))).encryptor()
        return encryptor.update(data) + encryptor.finalize()

    def _mac(self, data: bytes, trailer: bytes = b"") -> bytes:
        h = self._hmac.copy()
        h.update(data)
        if trailer:
            h.update(trailer)
        return h.digest()[: self._tag_len]

    def _gcm_iv_rtp(self, ssrc: int, index: int) -> bytes:
        # 00 00 | SSRC | ROC | SEQ  XOR salt  (RFC 7714 section 8.1)
        return ((ssrc << 48) ^ index ^ self._salt).to_bytes(12, "big")

    def _gcm_iv_rtcp(self, ssrc: int, index: int) -> bytes:
        # 00 00 | SSRC | 00 00 | 0 | SRTCP index  XOR salt  (RFC 7714 section 9.1)
        return ((ssrc << 48) ^ index ^ self._salt).to_bytes(12, "big")

    # -- RTP ---------------------------------------------------------------------------------

    def protect_rtp(
        self, packet: bytes, header_length: int, ssrc: int, index: int, *, encrypt: bool = True
    ) -> bytes:
        """Protect one RTP packet whose 48-bit packet index is ``index``."""
        if self._aead is not None:
            iv = self._gcm_iv_rtp(ssrc, index)
            if not encrypt:
                return packet + self._aead.encrypt(iv, b"", packet)
            head = packet[:header_length]
            return head + self._aead.encrypt(iv, packet[header_length:], head)
        body = packet[:header_length] + self._ctr(ssrc, index, packet[header_length:])
        return body + self._mac(body, _U32.pack(index >> 16))

    def unprotect_rtp(
        self, packet: bytes, header_length: int, ssrc: int, index: int, *, encrypt: bool = True
    ) -> bytes:
        """Verify and decrypt one SRTP packet; raises :class:`SrtpAuthError` on a bad tag."""
        end = len(packet) - self._tag_len
        if end < header_length:
            raise SrtpMalformedError(
                P.too_short_for_tag("SRTP", len(packet), header_length + self._tag_len)
            )
        if self._aead is not None:
            iv = self._gcm_iv_rtp(ssrc, index)
            try:
                if not encrypt:
                    self._aead.decrypt(iv, packet[end:], packet[:end])
                    return packet[:end]
                head = packet[:header_length]
                return head + self._aead.decrypt(iv, packet[header_length:], head)
            except InvalidTag:
                raise SrtpAuthError(P.auth_failed("SRTP")) from None
        body = packet[:end]
        if not hmac.compare_digest(self._mac(body, _U32.pack(index >> 16)), packet[end:]):
            raise SrtpAuthError(P.auth_failed("SRTP"))
        return packet[:header_length] + self._ctr(ssrc, index, packet[header_length:end])

    # -- RTCP --------------------------------------------------------------------------------

    def protect_rtcp(self, packet: bytes, ssrc: int, index: int, *, encrypt: bool = True) -> bytes:
        """Protect one RTCP packet (at least 8 bytes) with the 31-bit SRTCP ``index``."""
        trailer = _U32.pack(index | _E_BIT if encrypt else index)
        if self._aead is not None:
            iv = self._gcm_iv_rtcp(ssrc, index)
            if not encrypt:
                return packet + self._aead.encrypt(iv, b"", packet + trailer) + trailer
            head = packet[:8]
            return head + self._aead.encrypt(iv, packet[8:], head + trailer) + trailer
        if encrypt:
            body = packet[:8] + self._ctr(ssrc, index, packet[8:]) + trailer
        else:
            body = packet + trailer
        return body + self._mac(body)

    def unprotect_rtcp(self, packet: bytes, ssrc: int) -> bytes:
        """Verify and decrypt one SRTCP packet (length already checked by the caller)."""
        index, encrypted = self.rtcp_index(packet)
        if self._aead is not None:
            iv = self._gcm_iv_rtcp(ssrc, index)
            trailer = packet[-4:]
            try:
                if encrypted:
                    head = packet[:8]
                    return head + self._aead.decrypt(iv, packet[8:-4], head + trailer)
                end = len(packet) - 4 - self._tag_len
                self._aead.decrypt(iv, packet[end:-4], packet[:end] + trailer)
                return packet[:end]
            except InvalidTag:
                raise SrtpAuthError(P.auth_failed("SRTCP")) from None
        end = len(packet) - self._tag_len
        if not hmac.compare_digest(self._mac(packet[:end]), packet[end:]):
            raise SrtpAuthError(P.auth_failed("SRTCP"))
        if not encrypted:
            return packet[: end - 4]
        return packet[:8] + self._ctr(ssrc, index, packet[8 : end - 4])

    def rtcp_index(self, packet: bytes) -> tuple[int, bool]:
        """The (SRTCP index, E flag) of a protected SRTCP packet."""
        at = len(packet) - 4 if self._aead is not None else len(packet) - 4 - self._tag_len
        word = int(_U32.unpack_from(packet, at)[0])
        return word & _RTCP_INDEX_MAX, bool(word & _E_BIT)


class _Stream:
    """Per-SSRC state: RTP index + replay mask, SRTCP send index, SRTCP replay window."""

    __slots__ = ("index", "mask", "rtcp_mask", "rtcp_start")

    def __init__(self) -> None:
        self.index = 0  # highest 48-bit RTP packet index (libsrtp rdbx.index)
        self.mask = 0  # bit j set: index (self.index - j) was seen
        self.rtcp_start = 0  # libsrtp rdb.window_start; also the SRTCP send counter
        self.rtcp_mask = 0  # bit k set: SRTCP index (rtcp_start + k) was seen


def _rtp_delta(highest: int, seq: int) -> int:
    """libsrtp ``srtp_rdbx_estimate_index``: distance from the highest index to ``seq``."""
    if highest > _HALF:
        local_seq = highest % SEQ_MOD
        delta = seq_diff(seq, local_seq)
        if delta == -_HALF and local_seq < _HALF:
            delta = _HALF  # libsrtp resolves the exact half-way tie forwards here
        return delta
    return seq - highest


class PythonSrtpEngine:
    """One SRTP context (one direction) with libsrtp semantics, in pure Python.

    ``ssrc=None`` binds the keys to any SSRC (a stream per SSRC is created on demand).
    """

    __slots__ = (
        "_allow_repeat_tx",
        "_any",
        "_rtcp",
        "_rtp",
        "_streams",
        "_window_bits",
        "_window_full",
        "profile",
    )

    def __init__(
        self,
        keys: SrtpKeyingMaterial,
        *,
        ssrc: int | None = None,
        outbound: bool = True,
        replay_window: int = 128,
        allow_repeat_tx: bool = False,
    ) -> None:
        del outbound  # both directions behave alike here; kept for the engine signature
        self.profile = keys.profile
        sk = derive_session_keys(keys)
        self._rtp = SrtpTransform(keys.profile, sk.rtp_key, sk.rtp_salt, sk.rtp_auth_key)
        self._rtcp = SrtpTransform(
            keys.profile, sk.rtcp_key, sk.rtcp_salt, sk.rtcp_auth_key, rtcp=True
        )
        self._window_bits = (replay_window + 31) // 32 * 32
        self._window_full = (1 << self._window_bits) - 1
        self._allow_repeat_tx = allow_repeat_tx
        self._any = ssrc is None
        self._streams: dict[int, _Stream] = {}
        if ssrc is not None:
            self._streams[ssrc] = _Stream()

    def _stream(self, kind: str, ssrc: int) -> tuple[_Stream, bool]:
        stream = self._streams.get(ssrc)
        if stream is not None:
            return stream, False
        if not self._any:
            raise SrtpUnknownSsrcError(P.unknown_ssrc(kind, ssrc))
        return _Stream(), True

    def _check_rtp(self, stream: _Stream, delta: int, kind: str) -> bool:
        """libsrtp ``srtp_rdbx_check``; returns False for a duplicate, raises if too old."""
        if delta > 0:
            return True
        if self._window_bits - 1 + delta < 0:
            raise SrtpReplayError(P.replay_old(kind))
        return not (stream.mask >> -delta) & 1

    def _add_rtp(self, stream: _Stream, delta: int) -> None:
        if delta > 0:
            stream.index += delta
            stream.mask = ((stream.mask << delta) | 1) & self._window_full
        else:
            stream.mask |= 1 << -delta

    def protect(self, packet: bytes) -> bytes:
        """Protect an RTP packet."""
        hlen = P.rtp_header_length(packet, "RTP")
        ssrc = P.rtp_ssrc(packet)
        stream, new = self._stream("SRTP", ssrc)
        if new:
            self._streams[ssrc] = stream  # libsrtp clones the template before any check
        seq = int(_U16.unpack_from(packet, 2)[0])
        delta = _rtp_delta(stream.index, seq)
        if not self._check_rtp(stream, delta, "SRTP") and not self._allow_repeat_tx:
            raise SrtpReplayError(P.replay_duplicate("SRTP"))
        index = stream.index + delta
        self._add_rtp(stream, delta)
        return self._rtp.protect_rtp(packet, hlen, ssrc, index)

    def unprotect(self, packet: bytes) -> bytes:
        """Verify and decrypt an SRTP packet."""
        hlen = P.rtp_header_length(packet, "SRTP")
        ssrc = P.rtp_ssrc(packet)
        stream, new = self._stream("SRTP", ssrc)
        seq = int(_U16.unpack_from(packet, 2)[0])
        delta = _rtp_delta(stream.index, seq)
        if not self._check_rtp(stream, delta, "SRTP"):
            raise SrtpReplayError(P.replay_duplicate("SRTP"))
        out = self._rtp.unprotect_rtp(packet, hlen, ssrc, stream.index + delta)
        if new:
            self._streams[ssrc] = stream
        self._add_rtp(stream, delta)
        return out

    def protect_rtcp(self, packet: bytes) -> bytes:
        """Protect an RTCP (compound) packet."""
        if len(packet) < 8:
            raise SrtpMalformedError(
                f"RTCP packet shorter than an RTCP header ({len(packet)} < 8 bytes)"
            )
        ssrc = P.rtcp_ssrc(packet)
        stream, new = self._stream("SRTCP", ssrc)
        if new:
            self._streams[ssrc] = stream
        if stream.rtcp_start >= _RTCP_INDEX_MAX:
            raise SrtpKeyExpiredError(P.KEY_EXPIRED)
        stream.rtcp_start += 1
        return self._rtcp.protect_rtcp(packet, ssrc, stream.rtcp_start)

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        """Verify and decrypt an SRTCP packet."""
        n = len(packet)
        if n < 12:
            raise SrtpMalformedError(P.too_short_for_tag("SRTCP", n, 12))
        ssrc = P.rtcp_ssrc(packet)
        stream, new = self._stream("SRTCP", ssrc)
        need = 12 + self._rtcp.tag_length
        if n < need:
            raise SrtpMalformedError(P.too_short_for_tag("SRTCP", n, need))
        index, encrypted = self._rtcp.rtcp_index(packet)
        if not encrypted and not self.profile.is_aead:
            # libsrtp refuses E=0 under an encrypting AES-CM policy (srtp_err_status_cant_check);
            # its AEAD path accepts it as authentication-only (RFC 7714 section 9.3)
            raise SrtpAuthError(P.UNENCRYPTED_SRTCP)
        # libsrtp srtp_rdb_check
        if index < stream.rtcp_start + _RTCP_WINDOW:
            if index < stream.rtcp_start:
                raise SrtpReplayError(P.replay_old("SRTCP"))
            if (stream.rtcp_mask >> (index - stream.rtcp_start)) & 1:
                raise SrtpReplayError(P.replay_duplicate("SRTCP"))
        out = self._rtcp.unprotect_rtcp(packet, ssrc)
        if new:
            self._streams[ssrc] = stream
        # libsrtp srtp_rdb_add_index
        delta = index - stream.rtcp_start
        if delta < _RTCP_WINDOW:
            stream.rtcp_mask |= 1 << delta
        else:
            shift = delta - (_RTCP_WINDOW - 1)
            stream.rtcp_mask = (stream.rtcp_mask >> shift) | (1 << (_RTCP_WINDOW - 1))
            stream.rtcp_start += shift
        return out
