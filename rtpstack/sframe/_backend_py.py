"""The pure-Python SFrame backend, over ``cryptography`` (OpenSSL underneath).

It is the reference twin of the C extension ``_sframe``: the same names, the same bytes out,
the same exceptions with the same messages. One :class:`SFrameKey` holds one derived key and
salt (RFC 9605 section 4.4.2) and performs the whole per-frame operation: header, nonce
(4.4.3), AEAD (AES-GCM, or AES-CTR + HMAC-SHA256 as in section 4.5.1) and the tag check.
"""

from __future__ import annotations

import hmac
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rtpstack.sframe.errors import (
    AuthenticationError,
    MalformedHeaderError,
    UnknownCipherSuiteError,
    UnknownKeyIdError,
)
from rtpstack.sframe.header import decode_header, encode_header

__all__ = ["NAME", "BareAead", "SFrameKey", "parse_header"]

#: The backend's name, as ``rtpstack.sframe.backend`` reports it.
NAME = "python"

# suites 1-5: RFC 9605; 6-8: AES_256_CTR_HMAC_SHA512_80/64/32 (post-RFC, working group)
_TAG_LEN = {1: 10, 2: 8, 3: 4, 4: 16, 5: 16, 6: 10, 7: 8, 8: 4}
_KEY_LEN = {1: 48, 2: 48, 3: 48, 4: 16, 5: 32, 6: 96, 7: 96, 8: 96}
_LENS = struct.Struct(">QQQ")
_ZERO4 = bytes(4)


def parse_header(frame: bytes | bytearray | memoryview) -> tuple[int, int, int]:
    """``(kid, ctr, header_length)`` of an SFrame frame; :class:`MalformedHeaderError` if cut."""
    return decode_header(frame)


def _check(suite: int, key: bytes) -> int:
    if suite not in _TAG_LEN:
        raise UnknownCipherSuiteError(f"unknown SFrame cipher suite: {suite}")
    if len(key) != _KEY_LEN[suite]:
        raise ValueError(f"SFrame suite {suite} needs a {_KEY_LEN[suite]}-byte key, got {len(key)}")
    return _TAG_LEN[suite]


def _ctr_tag(auth_key: bytes, nt: int, nonce: bytes, aad: bytes, ct: bytes) -> bytes:
    lens = _LENS.pack(len(aad), len(ct), nt)
    digest = "sha512" if len(auth_key) == 64 else "sha256"
    return hmac.digest(auth_key, lens + nonce + aad + ct, digest)[:nt]


def _ctr_xor(enc_key: bytes, nonce: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(enc_key), modes.CTR(nonce + _ZERO4)).encryptor()
    return enc.update(data) + enc.finalize()


class BareAead:
    """The suite's AEAD alone (no SFrame header, nonce given): RFC 9605 section 4.5."""

    __slots__ = ("_aesgcm", "_auth_key", "_enc_key", "suite", "tag_len")

    def __init__(self, suite: int, key: bytes) -> None:
        self.tag_len = _check(suite, key)
        self.suite = suite
        self._aesgcm = AESGCM(key) if self.tag_len == 16 else None
        nka = 32 if suite >= 6 else 16
        self._enc_key = bytes(key[:nka])
        self._auth_key = bytes(key[nka:])

    def seal(self, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        """Ciphertext followed by the tag."""
        if len(nonce) != 12:
            raise ValueError(f"SFrame nonce must be 12 bytes, got {len(nonce)}")
        if self._aesgcm is not None:
            return self._aesgcm.encrypt(nonce, plaintext, aad)
        ct = _ctr_xor(self._enc_key, nonce, plaintext)
        return ct + _ctr_tag(self._auth_key, self.tag_len, nonce, aad, ct)

    def open(self, nonce: bytes, aad: bytes, data: bytes) -> bytes:
        """The plaintext of ``ciphertext || tag``; :class:`AuthenticationError` if it fails."""
        if len(nonce) != 12:
            raise ValueError(f"SFrame nonce must be 12 bytes, got {len(nonce)}")
        nt = self.tag_len
        if len(data) < nt:
            raise AuthenticationError("SFrame authentication failed")
        if self._aesgcm is not None:
            try:
                return self._aesgcm.decrypt(nonce, data, aad)
            except InvalidTag:
                raise AuthenticationError("SFrame authentication failed") from None
        ct, tag = data[: len(data) - nt], data[len(data) - nt :]
        if not hmac.compare_digest(_ctr_tag(self._auth_key, nt, nonce, aad, ct), tag):
            raise AuthenticationError("SFrame authentication failed")
        return _ctr_xor(self._enc_key, nonce, ct)


class SFrameKey:
    """One installed SFrame key: ``(suite, kid, sframe_key, sframe_salt)``.

    :meth:`encrypt` builds a whole SFrame frame (header, ciphertext, tag) for a counter;
    :meth:`decrypt` checks and opens one, returning ``(ctr, plaintext)``. Replay and counter
    policy live in :mod:`rtpstack.sframe.context`, not here.
    """

    __slots__ = ("_aesgcm", "_auth_key", "_enc_key", "_salt", "kid", "suite", "tag_len")

    def __init__(self, suite: int, kid: int, key: bytes, salt: bytes) -> None:
        self.tag_len = _check(suite, key)
        if len(salt) != 12:
            raise ValueError(f"SFrame salt must be 12 bytes, got {len(salt)}")
        encode_header(kid, 0)  # range check
        self.suite = suite
        self.kid = kid
        self._salt = int.from_bytes(salt, "big")
        self._aesgcm = AESGCM(key) if self.tag_len == 16 else None
        nka = 32 if suite >= 6 else 16
        self._enc_key = bytes(key[:nka])
        self._auth_key = bytes(key[nka:])

    def encrypt(self, ctr: int, metadata: bytes, plaintext: bytes) -> bytes:
        """The SFrame frame for ``plaintext`` under counter ``ctr``, with ``metadata`` in AAD."""
        header = encode_header(self.kid, ctr)
        nonce = (self._salt ^ ctr).to_bytes(12, "big")
        aad = header + metadata
        if self._aesgcm is not None:
            return header + self._aesgcm.encrypt(nonce, plaintext, aad)
        ct = _ctr_xor(self._enc_key, nonce, plaintext)
        return header + ct + _ctr_tag(self._auth_key, self.tag_len, nonce, aad, ct)

    def decrypt(self, frame: bytes | bytearray | memoryview, metadata: bytes) -> tuple[int, bytes]:
        """``(ctr, plaintext)`` of an SFrame frame made with this key."""
        kid, ctr, hlen = decode_header(frame)
        if kid != self.kid:
            raise UnknownKeyIdError(f"SFrame KID {kid} does not match this key's KID {self.kid}")
        nt = self.tag_len
        if len(frame) - hlen < nt:
            raise MalformedHeaderError(
                f"SFrame frame too short: {len(frame) - hlen} bytes after the header, "
                f"tag needs {nt}"
            )
        nonce = (self._salt ^ ctr).to_bytes(12, "big")
        aad = bytes(frame[:hlen]) + metadata
        if self._aesgcm is not None:
            try:
                return ctr, self._aesgcm.decrypt(nonce, bytes(frame[hlen:]), aad)
            except InvalidTag:
                raise AuthenticationError("SFrame authentication failed") from None
        ct = bytes(frame[hlen : len(frame) - nt])
        tag = frame[len(frame) - nt :]
        if not hmac.compare_digest(_ctr_tag(self._auth_key, nt, nonce, aad, ct), tag):
            raise AuthenticationError("SFrame authentication failed")
        return ctr, _ctr_xor(self._enc_key, nonce, ct)
