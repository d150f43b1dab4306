"""Frame encryption for an e2ee session: the client-facing API.

:class:`FrameEncryptor` encrypts a participant's media frames with SFrame under keys from the
session's encryption secret (see :mod:`rtpstack.e2ee.keys`); :class:`FrameDecryptor` decrypts
everyone else's, follows secret changes (key epochs) without a gap, and reports
``encryption_secret_mismatch`` / ``encryption_secret_match`` per sender. Both are sans-IO.

Typical use::

    enc = FrameEncryptor(secret, session_id, sender_index)   # sender_index: one per join
    frame = enc.encrypt(encoded_video_frame, stream=1)
    dec = FrameDecryptor(secret, session_id)
    media = dec.decrypt(frame)                   # raises SFrameError subclasses
    for event in dec.drain_events(): ...
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from rtpstack.e2ee.events import ENCRYPTION_SECRET_MATCH, ENCRYPTION_SECRET_MISMATCH, SecretEvent
from rtpstack.e2ee.keys import (
    EPOCH_BITS,
    STREAM_BITS,
    base_key_for_kid,
    derive_master_key,
    make_kid,
    split_kid,
)
from rtpstack.sframe._backend import select_backend
from rtpstack.sframe.context import DEFAULT_SUITE, ReplayWindow, SFrameSender, make_key
from rtpstack.sframe.errors import AuthenticationError
from rtpstack.sframe.suites import get_suite

__all__ = ["DecryptedFrame", "FrameDecryptor", "FrameEncryptor"]

_SENDER_SHIFT = STREAM_BITS + EPOCH_BITS


class FrameEncryptor:
    """Encrypts one participant's frames (all its streams) for an e2ee session.

    ``sender_index`` must be unique per join within the session (a rejoin gets a new one,
    e.g. from :class:`~rtpstack.e2ee.keys.KidAllocator`); with that, no two frames of the
    session ever share an SFrame (key, counter) pair. ``stream`` (0..15) separates the
    participant's media streams; each has its own KID and counter. :meth:`set_secret` starts a
    new key epoch.
    """

    def __init__(
        self,
        secret: str,
        session_id: str,
        sender_index: int,
        *,
        suite: int = DEFAULT_SUITE,
        backend: ModuleType | None = None,
    ) -> None:
        self.suite = get_suite(suite).value
        self.session_id = session_id
        self.sender_index = sender_index
        make_kid(sender_index, 0, 0)  # range check
        self._backend = backend if backend is not None else select_backend()
        self._master = derive_master_key(secret, session_id)
        self._epoch = 0
        self._streams: dict[int, SFrameSender] = {}

    @property
    def epoch(self) -> int:
        """The current key epoch (0..15; wraps)."""
        return self._epoch

    def kid(self, stream: int = 0) -> int:
        """The KID frames of ``stream`` carry in the current epoch."""
        return make_kid(self.sender_index, stream, self._epoch)

    def set_secret(self, secret: str) -> None:
        """Switch to a new encryption secret: the next frames use a new key epoch."""
        master = derive_master_key(secret, self.session_id)
        self._master = master
        self._epoch = (self._epoch + 1) % 16
        for stream, sender in self._streams.items():
            kid = self.kid(stream)
            sender.set_key(kid, base_key_for_kid(master, kid))

    def encrypt(self, frame: bytes, stream: int = 0, metadata: bytes = b"") -> bytes:
        """The SFrame ciphertext of one media frame of ``stream``."""
        sender = self._streams.get(stream)
        if sender is None:
            kid = self.kid(stream)
            sender = SFrameSender(self.suite, backend=self._backend)
            sender.set_key(kid, base_key_for_kid(self._master, kid))
            self._streams[stream] = sender
        return sender.encrypt(frame, metadata)


@dataclass(frozen=True, slots=True)
class DecryptedFrame:
    """A frame that authenticated, with who sent it under which epoch."""

    sender_index: int
    stream: int
    epoch: int
    ctr: int
    payload: bytes


class _Bound:
    __slots__ = ("key", "master", "window")

    def __init__(self, key: Any, master: bytes, window: ReplayWindow) -> None:
        self.key = key
        self.master = master
        self.window = window


class FrameDecryptor:
    """Decrypts the frames of every sender in an e2ee session.

    It holds the current secret and up to ``keep_previous`` earlier ones, so frames still in
    flight under an old epoch, and senders that switch secrets a little later, keep
    decrypting. Each KID is bound to the secret that first authenticated it (trying the newest
    secret first); a replay window is kept per KID. When a sender's frames stop authenticating
    the decryptor records an ``encryption_secret_mismatch`` event; when they authenticate again
    an ``encryption_secret_match`` event. Read them with :meth:`drain_events`.
    """

    def __init__(
        self,
        secret: str,
        session_id: str,
        *,
        suite: int = DEFAULT_SUITE,
        keep_previous: int = 2,
        replay_window: int = 128,
        backend: ModuleType | None = None,
    ) -> None:
        self.suite = get_suite(suite).value
        self.session_id = session_id
        self.keep_previous = keep_previous
        self.replay_window = replay_window
        self._backend = backend if backend is not None else select_backend()
        self._parse = self._backend.parse_header
        self._masters: list[bytes] = [derive_master_key(secret, session_id)]
        self._bound: dict[int, _Bound] = {}
        self._mismatched: set[int] = set()
        self._events: list[SecretEvent] = []

    def set_secret(self, secret: str) -> None:
        """Use ``secret`` from now on, keeping the previous ones for late frames."""
        master = derive_master_key(secret, self.session_id)
        masters = [master] + [m for m in self._masters if m != master]
        self._masters = masters[: 1 + self.keep_previous]
        kept = set(self._masters)
        self._bound = {k: b for k, b in self._bound.items() if b.master in kept}

    def drain_events(self) -> list[SecretEvent]:
        """The events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def decrypt(self, frame: bytes, metadata: bytes = b"") -> bytes:
        """The media frame inside one SFrame frame (see :meth:`open`)."""
        return self._open(frame, metadata)[2]

    def open(self, frame: bytes, metadata: bytes = b"") -> DecryptedFrame:
        """Check and decrypt one SFrame frame.

        Raises :class:`~rtpstack.sframe.errors.MalformedHeaderError`,
        :class:`~rtpstack.sframe.errors.AuthenticationError` (no secret held opens it) or
        :class:`~rtpstack.sframe.errors.ReplayError`.
        """
        kid, ctr, payload = self._open(frame, metadata)
        f = split_kid(kid)
        return DecryptedFrame(f.sender_index, f.stream, f.epoch, ctr, payload)

    def _open(self, frame: bytes, metadata: bytes) -> tuple[int, int, bytes]:
        kid, ctr, _ = self._parse(frame)
        sender = kid >> _SENDER_SHIFT
        bound = self._bound.get(kid)
        if bound is not None:
            bound.window.check(ctr)
            try:
                _, payload = bound.key.decrypt(frame, metadata)
            except AuthenticationError:
                bound = None  # the sender may have re-used this epoch slot with another secret
            else:
                bound.window.update(ctr)
        if bound is None:
            payload = self._bind(kid, frame, metadata, sender)
        if self._mismatched:
            self._matched(sender, kid)
        return kid, ctr, payload

    def _bind(self, kid: int, frame: bytes, metadata: bytes, sender: int) -> bytes:
        current = self._bound.get(kid)
        for master in self._masters:
            if current is not None and master == current.master:
                continue
            key = make_key(self.suite, kid, base_key_for_kid(master, kid), self._backend)
            try:
                ctr, payload = key.decrypt(frame, metadata)
            except AuthenticationError:
                continue
            window = ReplayWindow(self.replay_window)
            window.update(ctr)
            self._bound[kid] = _Bound(key, master, window)
            return bytes(payload)
        if sender not in self._mismatched:
            self._mismatched.add(sender)
            self._events.append(SecretEvent(ENCRYPTION_SECRET_MISMATCH, sender, kid))
        raise AuthenticationError("SFrame authentication failed")

    def _matched(self, sender: int, kid: int) -> None:
        if sender in self._mismatched:
            self._mismatched.discard(sender)
            self._events.append(SecretEvent(ENCRYPTION_SECRET_MATCH, sender, kid))
