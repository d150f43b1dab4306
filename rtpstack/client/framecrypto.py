"""The client's seam to the end-to-end encryption layer (SFrame + key schedule + carriage).

PROVISIONAL: until ``rtpstack.e2ee`` lands this module holds a stand-in with the same shape;
the core only calls the names below.
"""

from __future__ import annotations

import hashlib
import os

from rtpstack.seqnum import seq_add, seq_diff
from rtpstack.sframe._backend_py import SFrameKey
from rtpstack.sframe.errors import UnknownKeyIdError

__all__ = ["FrameCrypto", "Reassembler", "packetize"]

_S = 0x80
_E = 0x40


class FrameCrypto:
    """Encrypt this participant's frames; decrypt anyone's with the same secret."""

    def __init__(self, session_id: str, participant_id: str) -> None:
        self.session_id = session_id
        self.participant_id = participant_id
        self._secret: str | None = None
        self._base = b""
        self._kid = int.from_bytes(os.urandom(3), "big")
        self._ctr = 0
        self._send: SFrameKey | None = None
        self._recv: dict[int, SFrameKey] = {}

    @property
    def has_secret(self) -> bool:
        return self._secret is not None

    def set_secret(self, secret: str) -> None:
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            raise ValueError("encryption secret must be 8 to 256 characters")
        self._secret = secret
        self._base = hashlib.pbkdf2_hmac("sha256", secret.encode(), self.session_id.encode(), 1000)
        self._kid += 1
        self._send = self._key(self._kid)
        self._recv.clear()

    def _key(self, kid: int) -> SFrameKey:
        from rtpstack.sframe.suites import derive_key_salt
        key, salt = derive_key_salt(4, kid, hashlib.sha256(self._base + kid.to_bytes(8, "big")).digest()[:16])
        return SFrameKey(4, kid, key, salt)

    def encrypt(self, ssrc: int, frame: bytes) -> bytes:
        assert self._send is not None
        self._ctr += 1
        return self._send.encrypt(self._ctr, b"", frame)

    def decrypt(self, data: bytes) -> bytes:
        from rtpstack.sframe.header import decode_header
        kid, _ctr, _n = decode_header(data)
        key = self._recv.get(kid)
        if key is None:
            if self._secret is None:
                raise UnknownKeyIdError("no secret")
            key = self._recv[kid] = self._key(kid)
        return key.decrypt(data, b"")[1]


def packetize(frame: bytes, max_payload: int, *, keyframe: bool = False) -> list[bytes]:
    size = max_payload - 1
    chunks = [frame[i:i + size] for i in range(0, len(frame), size)] or [b""]
    out = []
    for i, c in enumerate(chunks):
        d = (_S if i == 0 else 0) | (_E if i == len(chunks) - 1 else 0)
        out.append(bytes([d]) + c)
    return out


class Reassembler:
    def __init__(self) -> None:
        self._frames: dict[int, dict[int, bytes]] = {}
        self.incomplete = 0
        self._lost_since_key = False

    def push(self, seq: int, ts: int, marker: bool, payload: bytes) -> list[bytes]:
        parts = self._frames.setdefault(ts, {})
        parts[seq] = payload
        first = [s for s, p in parts.items() if p and p[0] & _S]
        last = [s for s, p in parts.items() if p and p[0] & _E]
        if not first or not last:
            return []
        n = seq_diff(last[0], first[0]) + 1
        if len(parts) != n:
            return []
        del self._frames[ts]
        while len(self._frames) > 8:
            self._frames.pop(next(iter(self._frames)))
            self.incomplete += 1
        return [b"".join(parts[seq_add(first[0], i)][1:] for i in range(n))]

    def needs_keyframe(self, failed: bool) -> bool:
        return False
