"""The WebRTC participant transport: ICE-lite + DTLS-SRTP plugged into the UDP adapter.

:class:`WebRtcTransport` is one sans-IO :class:`~router.transport.base.DatagramHandler` for
both the STUN and the DTLS first-byte classes of the router's media socket(s). It keeps one
:class:`WebRtcPeer` per WebRTC participant:

* STUN Binding requests are routed by the ufrag in USERNAME to the participant's
  :class:`~router.webrtc.ice.IceLiteAgent`; a valid check makes its source address known (DTLS
  is accepted from it straight away), and the first valid check, or a later nominating one
  (USE-CANDIDATE), binds the address in the forwarding core (``bind_address``);
* DTLS records are routed by source address to the participant's
  :class:`~rtpstack.io.dtls.DtlsEndpoint` (server role); when the handshake completes, the
  exported SRTP keys become the participant's hop keys in the core (``rekey``: the client's
  write key is what the router unprotects with).

STUN and DTLS that no participant claims (malformed, unknown ufrag, DTLS from an address no
valid check came from) are dropped and counted as ``not_rtp``, as without this handler.
SRTP/SRTCP never come here: the adapter hands them to the core, which finds the participant by
the bound address, exactly as for native clients.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from router.drops import DropReason
from router.forwarding.core import Datagram, ForwardingCore
from router.forwarding.hop import HopKeys
from router.transport.base import DatagramClass, classify
from router.webrtc.ice import IceCredentials, IceLiteAgent, local_ufrag_of
from rtpstack.errors import StunParseError
from rtpstack.io.dtls import DtlsCertificate, DtlsEndpoint
from rtpstack.stun import StunMessage

__all__ = ["WebRtcPeer", "WebRtcTransport"]

log = logging.getLogger(__name__)

Addr = tuple[str, int]


@dataclass(eq=False)
class WebRtcPeer:
    """One WebRTC participant's ICE agent and DTLS association."""

    pid: str
    agent: IceLiteAgent
    dtls: DtlsEndpoint
    #: Where DTLS last came from (where retransmissions go).
    dtls_addr: Addr | None = None
    keyed: bool = False
    bound: Addr | None = None
    events: list[str] = field(default_factory=list)


class WebRtcTransport:
    """STUN + DTLS handler for every WebRTC participant behind the media socket(s)."""

    def __init__(
        self,
        core: ForwardingCore,
        certificate: DtlsCertificate | None = None,
        *,
        on_connected: Callable[[str], None] | None = None,
    ) -> None:
        self.core = core
        self.certificate = certificate if certificate is not None else DtlsCertificate.generate()
        self.fingerprint = self.certificate.fingerprint
        self.on_connected = on_connected
        self.peers: dict[str, WebRtcPeer] = {}
        self._by_ufrag: dict[str, WebRtcPeer] = {}
        self._by_addr: dict[Addr, WebRtcPeer] = {}
        self.counters: dict[str, int] = {
            "stun_malformed": 0, "stun_unknown_ufrag": 0, "stun_refused": 0,
            "stun_answered": 0, "dtls_unknown_address": 0, "dtls_failed": 0,
            "dtls_connected": 0,
        }

    # ------------------------------------------------------------------ participants

    def add_peer(
        self, pid: str, ice: IceCredentials, *, remote_ufrag: str | None,
        remote_fingerprint: str,
    ) -> WebRtcPeer:
        """Start ICE-lite and a passive DTLS endpoint for core participant ``pid``."""
        if pid in self.peers:
            self.remove_peer(pid)
        peer = WebRtcPeer(
            pid, IceLiteAgent(ice, remote_ufrag),
            DtlsEndpoint(self.certificate, server=True, remote_fingerprint=remote_fingerprint),
        )
        self.peers[pid] = peer
        self._by_ufrag[ice.ufrag] = peer
        part = self.core.participants.get(pid)
        if part is not None:
            part.any_rtcp_sender = True
        return peer

    def remove_peer(self, pid: str) -> None:
        """Forget a participant's ICE and DTLS state."""
        peer = self.peers.pop(pid, None)
        if peer is None:
            return
        self._by_ufrag.pop(peer.agent.local.ufrag, None)
        for addr in [a for a, p in self._by_addr.items() if p is peer]:
            del self._by_addr[addr]

    # ------------------------------------------------------------------ datagrams

    def handle_datagram(self, data: bytes, addr: Addr, now: float) -> list[Datagram]:
        """One STUN or DTLS datagram from ``addr``; returns what to send."""
        kind = classify(data)
        if kind is DatagramClass.STUN:
            return self._on_stun(data, addr, now)
        if kind is DatagramClass.DTLS:
            return self._on_dtls(data, addr, now)
        return []

    def _on_stun(self, data: bytes, addr: Addr, now: float) -> list[Datagram]:
        try:
            msg = StunMessage.parse(data)
            ufrag = local_ufrag_of(msg)
        except StunParseError:
            self.counters["stun_malformed"] += 1
            self.core.drops.add(DropReason.NOT_RTP)
            return []
        peer = self._by_ufrag.get(ufrag) if ufrag is not None else None
        if peer is None:
            self.counters["stun_unknown_ufrag"] += 1
            self.core.drops.add(DropReason.NOT_RTP)
            return []
        result = peer.agent.handle(msg, data, addr, now)
        if not result.valid:
            if result.response is not None:
                self.counters["stun_refused"] += 1
                return [(result.response, addr)]
            return []
        self.counters["stun_answered"] += 1
        self._by_addr[addr] = peer
        if result.nominated or peer.bound is None:
            self._bind(peer, addr)
        return [(result.response, addr)] if result.response is not None else []

    def _bind(self, peer: WebRtcPeer, addr: Addr) -> None:
        if peer.pid in self.core.participants:
            self.core.bind_address(peer.pid, addr)
            peer.bound = addr

    def _on_dtls(self, data: bytes, addr: Addr, now: float) -> list[Datagram]:
        peer = self._by_addr.get(addr)
        if peer is None:
            self.counters["dtls_unknown_address"] += 1
            self.core.drops.add(DropReason.NOT_RTP)
            return []
        peer.dtls_addr = addr
        was_failed = peer.dtls.failed is not None
        out = peer.dtls.handle_datagram(data, now)
        if peer.dtls.done and not peer.keyed:
            self._install_keys(peer)
        elif peer.dtls.failed is not None and not was_failed:
            self.counters["dtls_failed"] += 1
            log.warning("DTLS with %s failed: %s", peer.pid, peer.dtls.failed)
        return [(d, addr) for d in out]

    def _install_keys(self, peer: WebRtcPeer) -> None:
        keys = peer.dtls.srtp_keys()
        profile = peer.dtls.profile
        assert profile is not None
        inbound, outbound = keys.inbound, keys.outbound
        if peer.pid in self.core.participants:
            self.core.rekey(peer.pid, HopKeys(
                inbound.master_key + inbound.master_salt,
                outbound.master_key + outbound.master_salt,
                profile.value,
            ))
        peer.keyed = True
        self.counters["dtls_connected"] += 1
        if self.on_connected is not None:
            self.on_connected(peer.pid)

    # ------------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        """The earliest DTLS retransmission deadline, if any."""
        deadlines = [d for p in self.peers.values()
                     if (d := p.dtls.next_deadline()) is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> list[Datagram]:
        """Retransmit DTLS flights whose timer expired."""
        out: list[Datagram] = []
        for peer in self.peers.values():
            if peer.dtls_addr is None:
                continue
            out += [(d, peer.dtls_addr) for d in peer.dtls.handle_timer(now)]
        return out
