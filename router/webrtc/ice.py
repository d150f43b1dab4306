"""The router's ICE-lite agent (RFC 8445 §2.5, lite implementation), sans-IO.

A lite agent gathers only host candidates, never sends connectivity checks and is always
controlled: it answers the peer's STUN Binding requests. :class:`IceLiteAgent` does that for
one participant:

* checks USERNAME (``<our ufrag>:<their ufrag>``), MESSAGE-INTEGRITY (HMAC-SHA1 keyed with our
  password) and, when present, FINGERPRINT; answers 400 (no credentials) or 401 (wrong ufrag
  or integrity) error responses, and a success response with XOR-MAPPED-ADDRESS, our
  MESSAGE-INTEGRITY and FINGERPRINT otherwise;
* remembers every address a valid check came from: DTLS is accepted from those addresses as
  soon as the first check succeeded (Chromium starts DTLS before its nominating check);
* honours USE-CANDIDATE: the address of the latest nominating check is :attr:`nominated`, so a
  client that changes address (a new nomination from elsewhere) is followed.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from rtpstack.stun import (
    ATTR_ERROR_CODE,
    ATTR_MESSAGE_INTEGRITY,
    ATTR_USERNAME,
    ATTR_XOR_MAPPED_ADDRESS,
    BINDING,
    CLASS_ERROR,
    CLASS_REQUEST,
    CLASS_SUCCESS,
    StunMessage,
    check_fingerprint,
    check_integrity,
    encode_error_code,
    encode_xor_address,
)

__all__ = ["CheckResult", "IceCredentials", "IceLiteAgent", "local_ufrag_of"]

Addr = tuple[str, int]
_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True, slots=True)
class IceCredentials:
    """ICE username fragment and password (RFC 8839 §5.4: ice-chars, ≥4 and ≥22 long)."""

    ufrag: str
    pwd: str

    @classmethod
    def generate(cls) -> IceCredentials:
        """Fresh random credentials (8-character ufrag, 24-character password)."""
        def pick(n: int) -> str:
            return "".join(secrets.choice(_ALPHABET) for _ in range(n))
        return cls(pick(8), pick(24))


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one STUN datagram did: the response to send (if any) and the state change.

    ``valid``: the request passed the checks. ``nominated``: it carried USE-CANDIDATE.
    ``error``: why it was refused or dropped (None when valid).
    """

    response: bytes | None
    valid: bool = False
    nominated: bool = False
    error: str | None = None


def local_ufrag_of(msg: StunMessage) -> str | None:
    """The ufrag before the colon of a request's USERNAME (which agent it is for)."""
    raw = msg.get(ATTR_USERNAME)
    if raw is None:
        return None
    return raw.split(b":", 1)[0].decode("utf-8", "replace")


class IceLiteAgent:
    """ICE-lite for one participant (see the module docstring). Time is a parameter."""

    def __init__(self, local: IceCredentials, remote_ufrag: str | None = None) -> None:
        self.local = local
        self.remote_ufrag = remote_ufrag
        #: Address -> time of the last valid check from it.
        self.valid: dict[Addr, float] = {}
        #: Address of the latest check with USE-CANDIDATE (None until nominated).
        self.nominated: Addr | None = None
        self.checks = 0
        self.refused = 0

    @property
    def selected(self) -> Addr | None:
        """Where to send: the nominated address, else the latest validated one."""
        if self.nominated is not None:
            return self.nominated
        if not self.valid:
            return None
        return max(self.valid.items(), key=lambda kv: kv[1])[0]

    def last_check(self) -> float | None:
        """When the latest valid check arrived (consent freshness, RFC 7675)."""
        return max(self.valid.values()) if self.valid else None

    def handle(self, msg: StunMessage, data: bytes, addr: Addr, now: float) -> CheckResult:
        """Process one parsed STUN message ``msg`` (its bytes ``data``) from ``addr``."""
        if msg.method != BINDING or msg.cls != CLASS_REQUEST:
            # Indications (keepalives) and stray responses need no answer.
            return CheckResult(None, error="not a binding request")
        if msg.has(0x8028) and not check_fingerprint(data):
            return self._refuse(None, "bad fingerprint")
        username = msg.get(ATTR_USERNAME)
        if username is None or not msg.has(ATTR_MESSAGE_INTEGRITY):
            return self._refuse(self._error(msg, 400, "Bad Request"), "missing credentials")
        ours, _, theirs = username.decode("utf-8", "replace").partition(":")
        if ours != self.local.ufrag or (
            self.remote_ufrag is not None and theirs != self.remote_ufrag
        ):
            return self._refuse(self._error(msg, 401, "Unauthorized"), "wrong username")
        if not check_integrity(data, self.local.pwd.encode()):
            return self._refuse(self._error(msg, 401, "Unauthorized"), "bad integrity")
        self.checks += 1
        self.valid[addr] = now
        if msg.use_candidate:
            self.nominated = addr
        response = StunMessage(
            BINDING, CLASS_SUCCESS, msg.transaction_id,
            ((ATTR_XOR_MAPPED_ADDRESS, encode_xor_address(addr[0], addr[1],
                                                          msg.transaction_id)),),
        ).encode(self.local.pwd.encode())
        return CheckResult(response, valid=True, nominated=msg.use_candidate)

    def _refuse(self, response: bytes | None, why: str) -> CheckResult:
        self.refused += 1
        return CheckResult(response, error=why)

    @staticmethod
    def _error(msg: StunMessage, code: int, reason: str) -> bytes:
        return StunMessage(
            BINDING, CLASS_ERROR, msg.transaction_id,
            ((ATTR_ERROR_CODE, encode_error_code(code, reason)),),
        ).encode(None)
