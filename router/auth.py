"""Authentication: HS256 JWTs for the server API, and signed client tokens.

Both kinds are JSON Web Tokens (RFC 7519) signed with HMAC-SHA256 (``alg: HS256``) under the
project's API secret; this module implements them with :mod:`hmac`, :mod:`hashlib` and
:mod:`base64` only.

* **Server API tokens** are made by the application's backend and sent as
  ``Authorization: Bearer <jwt>``. Claims: ``iss`` = the API key, ``iat`` and ``exp`` (seconds
  since the epoch), optionally ``jti``. They are accepted when the signature verifies, ``iss`` is
  the key, ``iat`` is not in the future and ``exp`` not in the past by more than the configured
  clock skew, and ``exp - iat`` is at most :data:`MAX_API_TOKEN_LIFETIME`.
* **Client tokens** are minted by ``POST /v1/sessions/{id}/tokens`` and given to one
  participant. Claims: ``iss``, ``typ`` = ``"client"``, ``sid`` (session id), ``sub``
  (participant id), ``role``, ``data`` (connection data, opaque text), ``iat``, ``exp``,
  ``jti``. A client token is never accepted as an API token, nor the other way round.

Time is a parameter: every check takes ``now`` (seconds since the epoch).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from router.errors import Unauthorized

__all__ = [
    "MAX_API_TOKEN_LIFETIME",
    "MAX_CONNECTION_DATA",
    "ApiCredentials",
    "ClientClaims",
    "Role",
    "decode_jwt",
    "encode_jwt",
    "make_api_token",
    "mint_client_token",
    "verify_api_token",
    "verify_client_token",
]

#: Longest accepted ``exp - iat`` of a server API token, in seconds.
MAX_API_TOKEN_LIFETIME = 3600
#: Longest connection data (characters) a client token may carry.
MAX_CONNECTION_DATA = 1000
_HEADER = {"alg": "HS256", "typ": "JWT"}


class Role(StrEnum):
    """What a participant may do: publish and subscribe, only subscribe, or also moderate."""

    PUBLISHER = "publisher"
    SUBSCRIBER = "subscriber"
    MODERATOR = "moderator"

    @property
    def can_publish(self) -> bool:
        """Publishers and moderators publish; subscribers only receive."""
        return self is not Role.SUBSCRIBER


@dataclass(frozen=True, slots=True)
class ApiCredentials:
    """The project's API key (JWT issuer) and secret (HMAC key)."""

    api_key: str
    api_secret: str


@dataclass(frozen=True, slots=True)
class ClientClaims:
    """The verified content of a client token."""

    session_id: str
    participant_id: str
    role: Role
    data: str
    issued_at: int
    expires_at: int
    token_id: str


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or any(c not in _B64_CHARS for c in text) or len(text) % 4 == 1:
        raise ValueError("bad base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _sign(signing_input: bytes, secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()


def encode_jwt(claims: dict[str, Any], secret: str) -> str:
    """Sign ``claims`` as a compact HS256 JWT."""
    header = _b64encode(json.dumps(_HEADER, separators=(",", ":")).encode())
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{_b64encode(_sign(signing_input, secret))}"


def decode_jwt(token: str, secret: str) -> dict[str, Any]:
    """Verify an HS256 JWT's form and signature and return its claims (no time checks).

    Raises :class:`Unauthorized` with code ``invalid_token`` (not a JWT), ``bad_algorithm``
    (anything but HS256, including ``none``) or ``bad_signature``.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("token is not a JWT (expected three dot-separated parts)",
                           code="invalid_token")
    try:
        header = json.loads(_b64decode(parts[0]))
        signature = _b64decode(parts[2])
    except (ValueError, binascii.Error):
        raise Unauthorized("token is not a JWT (bad base64url or JSON)",
                           code="invalid_token") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        alg = header.get("alg") if isinstance(header, dict) else None
        raise Unauthorized(f"token algorithm {alg!r} is not accepted (only HS256)",
                           code="bad_algorithm")
    expected = _sign(f"{parts[0]}.{parts[1]}".encode("ascii"), secret)
    if not hmac.compare_digest(expected, signature):
        raise Unauthorized("token signature does not verify", code="bad_signature")
    try:
        claims = json.loads(_b64decode(parts[1]))
    except (ValueError, binascii.Error):
        raise Unauthorized("token payload is not JSON", code="invalid_token") from None
    if not isinstance(claims, dict):
        raise Unauthorized("token payload is not a JSON object", code="invalid_token")
    return claims


def _int_claim(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthorized(f"token has no numeric '{name}' claim", code="invalid_token")
    return int(value)


def _check_times(claims: dict[str, Any], now: float, skew: int) -> tuple[int, int]:
    iat = _int_claim(claims, "iat")
    exp = _int_claim(claims, "exp")
    if iat > now + skew:
        raise Unauthorized("token is issued in the future (check the clock)",
                           code="token_not_yet_valid")
    if exp <= now - skew:
        raise Unauthorized("token has expired", code="token_expired")
    if exp <= iat:
        raise Unauthorized("token expires before it is issued", code="invalid_token")
    return iat, exp


def make_api_token(creds: ApiCredentials, now: float, ttl: int = 300) -> str:
    """A server API token (what a backend sends as ``Authorization: Bearer ...``)."""
    iat = int(now)
    claims = {"iss": creds.api_key, "iat": iat, "exp": iat + ttl, "jti": secrets.token_hex(8)}
    return encode_jwt(claims, creds.api_secret)


def verify_api_token(token: str, creds: ApiCredentials, now: float, skew: int) -> None:
    """Accept a server API token or raise :class:`Unauthorized` saying why."""
    claims = decode_jwt(token, creds.api_secret)
    if claims.get("typ") == "client":
        raise Unauthorized("a client token cannot call the server API", code="wrong_token_type")
    if claims.get("iss") != creds.api_key:
        raise Unauthorized("token issuer is not this project's API key", code="bad_issuer")
    iat, exp = _check_times(claims, now, skew)
    if exp - iat > MAX_API_TOKEN_LIFETIME:
        raise Unauthorized(
            f"API token lifetime exceeds {MAX_API_TOKEN_LIFETIME} seconds", code="invalid_token"
        )


def mint_client_token(
    creds: ApiCredentials,
    *,
    session_id: str,
    participant_id: str,
    role: Role,
    now: float,
    ttl: int,
    data: str = "",
) -> tuple[str, ClientClaims]:
    """Sign a client token for one participant of one session; returns it and its claims."""
    if len(data) > MAX_CONNECTION_DATA:
        raise ValueError(f"connection data is longer than {MAX_CONNECTION_DATA} characters")
    iat = int(now)
    claims = ClientClaims(
        session_id=session_id,
        participant_id=participant_id,
        role=role,
        data=data,
        issued_at=iat,
        expires_at=iat + ttl,
        token_id=secrets.token_hex(8),
    )
    payload = {
        "iss": creds.api_key,
        "typ": "client",
        "sid": session_id,
        "sub": participant_id,
        "role": role.value,
        "data": data,
        "iat": claims.issued_at,
        "exp": claims.expires_at,
        "jti": claims.token_id,
    }
    return encode_jwt(payload, creds.api_secret), claims


def verify_client_token(
    token: str,
    creds: ApiCredentials,
    now: float,
    skew: int,
    *,
    session_id: str | None = None,
) -> ClientClaims:
    """Verify a client token; with ``session_id``, also that it was minted for that session.

    Raises :class:`Unauthorized` with codes ``invalid_token``, ``bad_algorithm``,
    ``bad_signature``, ``wrong_token_type``, ``bad_issuer``, ``token_expired``,
    ``token_not_yet_valid`` or ``wrong_session``.
    """
    claims = decode_jwt(token, creds.api_secret)
    if claims.get("typ") != "client":
        raise Unauthorized("not a client token", code="wrong_token_type")
    if claims.get("iss") != creds.api_key:
        raise Unauthorized("token issuer is not this project's API key", code="bad_issuer")
    iat, exp = _check_times(claims, now, skew)
    sid, sub, role, data, jti = (
        claims.get("sid"), claims.get("sub"), claims.get("role"), claims.get("data", ""),
        claims.get("jti", ""),
    )
    if not isinstance(sid, str) or not isinstance(sub, str) or not sid or not sub:
        raise Unauthorized("token has no session or participant", code="invalid_token")
    if role not in {r.value for r in Role}:
        raise Unauthorized(f"token role {role!r} is unknown", code="invalid_token")
    if not isinstance(data, str) or not isinstance(jti, str):
        raise Unauthorized("token data is not text", code="invalid_token")
    if session_id is not None and sid != session_id:
        raise Unauthorized(
            f"token was minted for session {sid!r}, not {session_id!r}", code="wrong_session"
        )
    return ClientClaims(sid, sub, Role(role), data, iat, exp, jti)
