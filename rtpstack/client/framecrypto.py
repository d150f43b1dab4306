"""The client's use of the end-to-end encryption layer, in one place.

* :class:`FrameCrypto` wraps :class:`rtpstack.e2ee.FrameEncryptor` (this participant's
  frames; one SFrame stream index per published track) and
  :class:`rtpstack.e2ee.FrameDecryptor` (everyone else's), created when the first secret is
  set. Keys come from the versioned key schedule of ``docs/e2ee.md`` (PBKDF2 master key from
  the secret and session id, an HKDF base key per KID); :meth:`FrameCrypto.set_secret` starts
  a new key epoch and the decryptor keeps earlier secrets for frames in flight.
* :func:`packetize` and :class:`Reassembler` are the SFrame RTP payload format
  (:mod:`rtpstack.sframe.rtp`): a descriptor byte with start/end bits, then a fragment.

Deriving a master key is deliberately slow (PBKDF2, 600,000 iterations); the asyncio client
derives it in a worker thread first (:func:`prepare_secret`), which fills the key schedule's
cache so that :meth:`FrameCrypto.set_secret` then returns at once.
"""

from __future__ import annotations

from rtpstack.e2ee import (
    FrameDecryptor,
    FrameEncryptor,
    SecretEvent,
    derive_master_key,
    normalize_secret,
)
from rtpstack.sframe.rtp import FrameReassembler, fragment

__all__ = ["FrameCrypto", "Reassembler", "check_secret", "packetize", "prepare_secret"]

MAX_STREAMS = 16


def check_secret(secret: str) -> None:
    """Raise :class:`rtpstack.e2ee.InvalidSecretError` unless ``secret`` has 8..256 chars."""
    normalize_secret(secret)


def prepare_secret(secret: str, session_id: str) -> None:
    """Derive (and cache) the session master key for ``secret``: slow, thread-safe."""
    derive_master_key(secret, session_id)


class FrameCrypto:
    """SFrame for one participant of an e2ee session."""

    __slots__ = ("_dec", "_enc", "_streams", "sender_index", "session_id")

    def __init__(self, session_id: str, sender_index: int) -> None:
        self.session_id = session_id
        self.sender_index = sender_index
        self._enc: FrameEncryptor | None = None
        self._dec: FrameDecryptor | None = None
        self._streams: dict[int, int] = {}

    @property
    def has_secret(self) -> bool:
        """True once a secret is set."""
        return self._enc is not None

    def set_secret(self, secret: str) -> None:
        """Set the secret, or change it (a new key epoch for what this participant sends)."""
        check_secret(secret)
        if self._enc is None or self._dec is None:
            self._enc = FrameEncryptor(secret, self.session_id, self.sender_index)
            self._dec = FrameDecryptor(secret, self.session_id)
        else:
            self._enc.set_secret(secret)
            self._dec.set_secret(secret)

    def stream_index(self, ssrc: int) -> int:
        """The SFrame stream (0..15) of a published SSRC, assigned in publishing order."""
        index = self._streams.get(ssrc)
        if index is None:
            if len(self._streams) >= MAX_STREAMS:
                raise ValueError(f"at most {MAX_STREAMS} encrypted tracks per participant")
            index = self._streams[ssrc] = len(self._streams)
        return index

    def encrypt(self, ssrc: int, frame: bytes, metadata: bytes = b"") -> bytes:
        """The SFrame ciphertext of one frame of the track ``ssrc`` (``metadata``: the
        authenticated clear bytes of the codec carriage, :mod:`rtpstack.client.carriage`)."""
        if self._enc is None:
            raise ValueError("set the encryption secret before publishing in an e2ee session")
        return self._enc.encrypt(frame, stream=self.stream_index(ssrc), metadata=metadata)

    def decrypt(self, data: bytes, metadata: bytes = b"") -> bytes:
        """The frame inside an SFrame ciphertext (raises an ``SFrameError`` subclass)."""
        if self._dec is None:
            from rtpstack.sframe.errors import AuthenticationError
            raise AuthenticationError("no encryption secret set: cannot decrypt")
        return self._dec.decrypt(data, metadata)

    def drain_events(self) -> list[SecretEvent]:
        """Mismatch/match events since the last call (one per sender and change)."""
        return self._dec.drain_events() if self._dec is not None else []


def packetize(frame: bytes, max_payload: int) -> list[bytes]:
    """RTP payloads (descriptor byte + fragment, each <= ``max_payload``) for one frame."""
    return fragment(frame, max_payload)


Reassembler = FrameReassembler
"""Per-SSRC reassembly (packets in any order, with loss and duplicates) of the payload format."""
