"""The SRTP facade: :class:`SrtpSession`, one object per transport and pair of keys.

A session holds two engine contexts, one per direction: ``protect``/``protect_rtcp`` use the
outbound context keyed by ``keys``; ``unprotect``/``unprotect_rtcp`` use the inbound context
keyed by ``inbound_keys`` (the same keys unless given: SDES offers one key per direction, DTLS
exports a client and a server key). Failures raise :class:`~rtpstack.srtp.errors` classes,
all ``SrtpError`` (``ValueError``); callers drop the packet and count it.

Rekeying (:meth:`SrtpSession.rekey`) starts fresh contexts on both directions, as libsrtp does
for new keys (index estimation restarts; the peer does the same with its new keys). Outbound
switches at once. Inbound keeps the previous context for a grace window: a packet that fails
(authentication, replay or unknown SSRC) under the new keys is retried under the old ones,
until ``grace_packets`` packets have been accepted under the new keys or
:meth:`SrtpSession.drop_previous` is called. So packets in flight during a rekey are not lost.
"""

from __future__ import annotations

from typing import Literal, Protocol

from rtpstack.srtp.engine_python import PythonSrtpEngine
from rtpstack.srtp.errors import SrtpError, SrtpMalformedError
from rtpstack.srtp.profiles import SrtpKeyingMaterial, SrtpProfile

__all__ = [
    "DEFAULT_GRACE_PACKETS",
    "DEFAULT_REPLAY_WINDOW",
    "EngineName",
    "SrtpEngine",
    "SrtpSession",
    "libsrtp_available",
]

EngineName = Literal["libsrtp", "python", "auto"]
DEFAULT_REPLAY_WINDOW = 128
DEFAULT_GRACE_PACKETS = 1024


class SrtpEngine(Protocol):
    """What an engine context provides (one direction, one key)."""

    profile: SrtpProfile

    def protect(self, packet: bytes) -> bytes: ...

    def unprotect(self, packet: bytes) -> bytes: ...

    def protect_rtcp(self, packet: bytes) -> bytes: ...

    def unprotect_rtcp(self, packet: bytes) -> bytes: ...


def libsrtp_available() -> bool:
    """True when ``pylibsrtp`` can be imported (the ``"libsrtp"`` engine works)."""
    try:
        import pylibsrtp  # noqa: F401
    except ImportError:
        return False
    return True


def _resolve(engine: str) -> Literal["libsrtp", "python"]:
    if engine == "auto":
        return "libsrtp" if libsrtp_available() else "python"
    if engine in ("libsrtp", "python"):
        return engine  # type: ignore[return-value]
    raise ValueError(f"unknown SRTP engine {engine!r} (libsrtp, python or auto)")


def _make(
    engine: Literal["libsrtp", "python"],
    keys: SrtpKeyingMaterial,
    *,
    ssrc: int | None,
    outbound: bool,
    replay_window: int,
    allow_repeat_tx: bool,
) -> SrtpEngine:
    if engine == "libsrtp":
        # imported here so that the package (and the Python engine) work without pylibsrtp
        from rtpstack.srtp.engine_libsrtp import LibsrtpEngine

        return LibsrtpEngine(
            keys,
            ssrc=ssrc,
            outbound=outbound,
            replay_window=replay_window,
            allow_repeat_tx=allow_repeat_tx,
        )
    return PythonSrtpEngine(
        keys,
        ssrc=ssrc,
        outbound=outbound,
        replay_window=replay_window,
        allow_repeat_tx=allow_repeat_tx,
    )


class SrtpSession:
    """Protect outbound and unprotect inbound RTP/RTCP with one pair of SRTP keys.

    :param keys: keys for ``protect``/``protect_rtcp`` (and for unprotecting unless
        ``inbound_keys`` is given).
    :param inbound_keys: keys for ``unprotect``/``unprotect_rtcp`` when they differ.
    :param engine: ``"libsrtp"`` (default), ``"python"`` (the byte-identical twin), or
        ``"auto"`` (libsrtp when ``pylibsrtp`` is installed, else Python).
    :param ssrc: bind the keys to this SSRC only; ``None`` (default) accepts any SSRC.
    :param replay_window: SRTP replay window in packets, 64..32767 (SRTCP uses 128).
    :param allow_repeat_tx: allow protecting the same sequence number twice (retransmission).
    :param grace_packets: see :meth:`rekey`.
    """

    __slots__ = (
        "_allow_repeat_tx",
        "_engine",
        "_grace_left",
        "_grace_packets",
        "_in",
        "_out",
        "_prev",
        "_replay_window",
        "_ssrc",
        "inbound_keys",
        "keys",
    )

    def __init__(
        self,
        keys: SrtpKeyingMaterial,
        *,
        inbound_keys: SrtpKeyingMaterial | None = None,
        engine: EngineName = "libsrtp",
        ssrc: int | None = None,
        replay_window: int = DEFAULT_REPLAY_WINDOW,
        allow_repeat_tx: bool = False,
        grace_packets: int = DEFAULT_GRACE_PACKETS,
    ) -> None:
        if not 64 <= replay_window <= 0x7FFF:
            raise ValueError(f"replay_window must be within 64..32767, got {replay_window}")
        if ssrc is not None and not 0 <= ssrc <= 0xFFFFFFFF:
            raise ValueError(f"ssrc must be a 32-bit value, got {ssrc}")
        if grace_packets < 0:
            raise ValueError(f"grace_packets must not be negative, got {grace_packets}")
        self._engine = _resolve(engine)
        self._ssrc = ssrc
        self._replay_window = replay_window
        self._allow_repeat_tx = allow_repeat_tx
        self._grace_packets = grace_packets
        self._grace_left = 0
        self._prev: SrtpEngine | None = None
        self.keys = keys
        self.inbound_keys = keys if inbound_keys is None else inbound_keys
        self._out = self._context(self.keys, outbound=True)
        self._in = self._context(self.inbound_keys, outbound=False)

    def _context(self, keys: SrtpKeyingMaterial, *, outbound: bool) -> SrtpEngine:
        return _make(
            self._engine,
            keys,
            ssrc=self._ssrc,
            outbound=outbound,
            replay_window=self._replay_window,
            allow_repeat_tx=self._allow_repeat_tx,
        )

    @property
    def engine(self) -> Literal["libsrtp", "python"]:
        """The engine in use, ``"libsrtp"`` or ``"python"`` (``"auto"`` resolved)."""
        return self._engine

    @property
    def profile(self) -> SrtpProfile:
        """The outbound profile."""
        return self.keys.profile

    @property
    def in_grace(self) -> bool:
        """True while the previous inbound keys are still accepted after a rekey."""
        return self._prev is not None

    def protect(self, rtp: bytes) -> bytes:
        """Protect an RTP packet into SRTP."""
        return self._out.protect(rtp)

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """Protect an RTCP (compound) packet into SRTCP."""
        return self._out.protect_rtcp(rtcp)

    def unprotect(self, srtp: bytes) -> bytes:
        """Verify and decrypt an SRTP packet into RTP."""
        return self._unprotect(srtp, rtcp=False)

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Verify and decrypt an SRTCP packet into RTCP."""
        return self._unprotect(srtcp, rtcp=True)

    def _unprotect(self, packet: bytes, *, rtcp: bool) -> bytes:
        """Unprotect with the current inbound keys, falling back to the previous ones while a
        rekey's grace window lasts; errors report what the current keys said."""
        current = self._in.unprotect_rtcp if rtcp else self._in.unprotect
        try:
            out = current(packet)
        except SrtpMalformedError:
            raise
        except SrtpError as exc:
            if self._prev is None:
                raise
            previous = self._prev.unprotect_rtcp if rtcp else self._prev.unprotect
            try:
                return previous(packet)
            except SrtpError:
                raise exc from None
        if self._prev is not None:
            self._count_grace()
        return out

    def _count_grace(self) -> None:
        self._grace_left -= 1
        if self._grace_left <= 0:
            self._prev = None

    def rekey(
        self,
        keys: SrtpKeyingMaterial,
        *,
        inbound_keys: SrtpKeyingMaterial | None = None,
        grace_packets: int | None = None,
    ) -> None:
        """Switch to new keys without dropping packets in flight.

        Outbound uses ``keys`` from the next packet on. Inbound uses ``inbound_keys`` (default
        ``keys``) and keeps accepting the previous inbound keys until ``grace_packets``
        (default: the session's) packets were accepted under the new ones.
        """
        grace = self._grace_packets if grace_packets is None else grace_packets
        if grace < 0:
            raise ValueError(f"grace_packets must not be negative, got {grace}")
        self.keys = keys
        self.inbound_keys = keys if inbound_keys is None else inbound_keys
        self._out = self._context(self.keys, outbound=True)
        self._prev = self._in if grace > 0 else None
        self._grace_left = grace
        self._in = self._context(self.inbound_keys, outbound=False)

    def drop_previous(self) -> None:
        """End the rekey grace window now: previous inbound keys are no longer accepted."""
        self._prev = None
        self._grace_left = 0
