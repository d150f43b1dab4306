"""SFrame sender and receiver contexts (RFC 9605 sections 4.4 and 5.1).

:class:`SFrameSender` owns one counter per key, never reused, and stops hard before the counter
space ends. :class:`SFrameReceiver` keeps a key store by KID, a :class:`ReplayWindow` per KID,
and follows ratcheted keys (section 5.1) when built with ``ratchet_bits``. Both are sans-IO:
bytes in, bytes out; the per-frame cryptography runs in the active backend (C or Python).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from rtpstack.sframe._backend import select_backend
from rtpstack.sframe.errors import (
    CounterExhaustedError,
    ReplayError,
    UnknownKeyIdError,
)
from rtpstack.sframe.header import MAX_VALUE
from rtpstack.sframe.suites import derive_key_salt, get_suite, ratchet_base_key

__all__ = [
    "DEFAULT_SUITE",
    "MAX_COUNTER",
    "OpenedFrame",
    "ReplayWindow",
    "SFrameReceiver",
    "SFrameSender",
    "make_key",
]

#: AES_128_GCM_SHA256_128, the project's default suite.
DEFAULT_SUITE = 4
#: The last counter a sender may use by default: the end of the 64-bit counter space.
MAX_COUNTER = MAX_VALUE


def make_key(suite: int, kid: int, base_key: bytes, backend: ModuleType | None = None) -> Any:
    """A backend key object for ``kid``, derived from ``base_key`` (RFC 9605 4.4.2)."""
    be = backend if backend is not None else select_backend()
    key, salt = derive_key_salt(suite, kid, base_key)
    return be.SFrameKey(suite, kid, key, salt)


class ReplayWindow:
    """A sliding window over counters, like SRTP's: refuses repeats and too-old counters."""

    __slots__ = ("_bits", "_highest", "_mask", "size")

    def __init__(self, size: int = 128) -> None:
        if size < 1:
            raise ValueError("replay window size must be at least 1")
        self.size = size
        self._mask = (1 << size) - 1
        self._highest = -1
        self._bits = 0  # bit i set: counter (highest - i) was accepted

    def check(self, ctr: int) -> None:
        """Raise :class:`ReplayError` if ``ctr`` was seen or is below the window."""
        if ctr > self._highest:
            return
        age = self._highest - ctr
        if age >= self.size:
            raise ReplayError(f"SFrame counter {ctr} is older than the replay window")
        if (self._bits >> age) & 1:
            raise ReplayError(f"SFrame counter {ctr} was already received")

    def update(self, ctr: int) -> None:
        """Record ``ctr`` as accepted (call only after the frame authenticated)."""
        if ctr > self._highest:
            shift = ctr - self._highest
            self._bits = ((self._bits << shift) | 1) & self._mask
            self._highest = ctr
        else:
            self._bits |= 1 << (self._highest - ctr)


class SFrameSender:
    """Encrypts frames under one current key, with one never-reused counter per key.

    ``ratchet_bits`` (R) reserves the low R bits of the KID for the ratchet step of section 5.1;
    :meth:`ratchet` moves to the next step. ``max_counter`` is the last counter this sender
    will use for any key; past it :meth:`encrypt` raises :class:`CounterExhaustedError` until a
    new key is set.
    """

    def __init__(
        self,
        suite: int = DEFAULT_SUITE,
        *,
        ratchet_bits: int = 0,
        max_counter: int = MAX_COUNTER,
        backend: ModuleType | None = None,
    ) -> None:
        self.suite = get_suite(suite).value
        if not 0 <= ratchet_bits < 64:
            raise ValueError("ratchet_bits must be 0..63")
        if not 0 <= max_counter <= MAX_COUNTER:
            raise ValueError("max_counter must be 0 .. 2**64-1")
        self.ratchet_bits = ratchet_bits
        self.max_counter = max_counter
        self._backend = backend if backend is not None else select_backend()
        self._key: Any = None
        self._kid = -1
        self._base_key = b""
        self._ctr = 0
        # next counter per (kid, base_key) ever used, so re-setting a key never restarts it
        self._next: dict[tuple[int, bytes], int] = {}

    @property
    def kid(self) -> int:
        """The current key id (-1 before :meth:`set_key`)."""
        return self._kid

    @property
    def counter(self) -> int:
        """The counter the next frame will carry."""
        return self._ctr

    def set_key(self, kid: int, base_key: bytes) -> None:
        """Encrypt from now on with ``base_key`` under ``kid``.

        Setting a (kid, base_key) pair used before continues its counter where it stopped.
        """
        self._save()
        self._key = make_key(self.suite, kid, base_key, self._backend)
        self._kid = kid
        self._base_key = bytes(base_key)
        self._ctr = self._next.get((kid, self._base_key), 0)

    def _save(self) -> None:
        if self._key is not None:
            self._next[(self._kid, self._base_key)] = self._ctr

    def ratchet(self) -> int:
        """Move to the next ratchet step (RFC 9605 5.1); returns the new KID."""
        if self.ratchet_bits == 0:
            raise ValueError("this sender was built without ratchet_bits")
        if self._key is None:
            raise ValueError("no SFrame key set")
        mask = (1 << self.ratchet_bits) - 1
        kid = (self._kid & ~mask) | ((self._kid + 1) & mask)
        self.set_key(kid, ratchet_base_key(self.suite, self._base_key))
        return kid

    def encrypt(self, plaintext: bytes, metadata: bytes = b"") -> bytes:
        """The SFrame frame for ``plaintext``; ``metadata`` is authenticated, not sent."""
        if self._key is None:
            raise ValueError("no SFrame key set")
        ctr = self._ctr
        if ctr > self.max_counter:
            raise CounterExhaustedError(
                f"SFrame counter exhausted for KID {self._kid}: set a new key"
            )
        frame: bytes = self._key.encrypt(ctr, metadata, plaintext)
        self._ctr = ctr + 1
        return frame


@dataclass(frozen=True, slots=True)
class OpenedFrame:
    """A frame that authenticated: its KID, its counter and the plaintext."""

    kid: int
    ctr: int
    plaintext: bytes


class _Entry:
    __slots__ = ("base_key", "key", "window")

    def __init__(self, key: Any, base_key: bytes, window: ReplayWindow) -> None:
        self.key = key
        self.base_key = base_key
        self.window = window


class SFrameReceiver:
    """Decrypts frames from any KID it holds a key for, refusing replays per KID.

    With ``ratchet_bits`` = R > 0, a frame whose KID has the same key generation (KID >> R) as
    a stored key but a later ratchet step (at most ``max_ratchet`` steps, and at most half the
    step space, ahead) is tried with the
    ratcheted key; when it authenticates the new key is kept, as is the previous one so that
    late frames still open.
    """

    def __init__(
        self,
        suite: int = DEFAULT_SUITE,
        *,
        ratchet_bits: int = 0,
        max_ratchet: int = 16,
        replay_window: int = 128,
        backend: ModuleType | None = None,
    ) -> None:
        self.suite = get_suite(suite).value
        if not 0 <= ratchet_bits < 64:
            raise ValueError("ratchet_bits must be 0..63")
        self.ratchet_bits = ratchet_bits
        self.max_ratchet = max_ratchet
        self.replay_window = replay_window
        self._backend = backend if backend is not None else select_backend()
        self._parse = self._backend.parse_header
        self._keys: dict[int, _Entry] = {}
        self._latest: dict[int, int] = {}  # generation -> latest KID of that generation

    def add_key(self, kid: int, base_key: bytes) -> None:
        """Accept frames under ``kid``, keyed from ``base_key``."""
        key = make_key(self.suite, kid, base_key, self._backend)
        self._keys[kid] = _Entry(key, bytes(base_key), ReplayWindow(self.replay_window))
        if self.ratchet_bits:
            self._latest[kid >> self.ratchet_bits] = kid

    def remove_key(self, kid: int) -> None:
        """Forget ``kid`` (frames under it then fail with :class:`UnknownKeyIdError`)."""
        self._keys.pop(kid, None)
        if self.ratchet_bits and self._latest.get(kid >> self.ratchet_bits) == kid:
            del self._latest[kid >> self.ratchet_bits]

    def has_key(self, kid: int) -> bool:
        """True when a key for ``kid`` is installed."""
        return kid in self._keys

    def open(self, frame: bytes, metadata: bytes = b"") -> OpenedFrame:
        """Check and decrypt one SFrame frame.

        Raises :class:`~rtpstack.sframe.errors.MalformedHeaderError`,
        :class:`UnknownKeyIdError`, :class:`AuthenticationError` or :class:`ReplayError`.
        """
        return OpenedFrame(*self._open(frame, metadata))

    def decrypt(self, frame: bytes, metadata: bytes = b"") -> bytes:
        """The plaintext of one SFrame frame (see :meth:`open` for the errors)."""
        return self._open(frame, metadata)[2]

    def _open(self, frame: bytes, metadata: bytes) -> tuple[int, int, bytes]:
        kid, ctr, _ = self._parse(frame)
        entry = self._keys.get(kid)
        if entry is None:
            entry = self._ratchet_to(kid)
        window = entry.window
        window.check(ctr)
        ctr, plaintext = entry.key.decrypt(frame, metadata)
        window.update(ctr)
        if kid not in self._keys:
            self._install_ratcheted(kid, entry)
        return kid, ctr, plaintext

    def _ratchet_to(self, kid: int) -> _Entry:
        r = self.ratchet_bits
        if r:
            latest = self._latest.get(kid >> r)
            if latest is not None:
                mask = (1 << r) - 1
                steps = ((kid & mask) - (latest & mask)) & mask
                # more than half the step space ahead reads as behind: an old, dropped key
                if 0 < steps <= min(self.max_ratchet, 1 << (r - 1)):
                    base = self._keys[latest].base_key
                    for _ in range(steps):
                        base = ratchet_base_key(self.suite, base)
                    key = make_key(self.suite, kid, base, self._backend)
                    return _Entry(key, base, ReplayWindow(self.replay_window))
        raise UnknownKeyIdError(f"SFrame KID {kid} is unknown")

    def _install_ratcheted(self, kid: int, entry: _Entry) -> None:
        r = self.ratchet_bits
        generation = kid >> r
        previous = self._latest.get(generation)
        # keep the key just before this one for late frames; drop older ones
        for old in [k for k in self._keys if k >> r == generation and k != previous]:
            del self._keys[old]
        self._keys[kid] = entry
        self._latest[generation] = kid

