"""The router's control-plane errors.

Every error carries a stable machine-readable ``code`` and the HTTP ``status`` the API answers
with, so the HTTP layer and the WebSocket layer turn any of them into the same JSON shape:
``{"error": code, "message": str(exc)}``. All of them are :class:`ValueError` subclasses, like
the rest of the project's error tree: they describe a bad request, never a router bug.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "InternalError",
    "MediaPlaneError",
    "NotFound",
    "NotSupported",
    "RouterError",
    "Unauthorized",
]


class RouterError(ValueError):
    """Base of the control-plane errors: a request the router refuses, with a reason."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code: str = code if code is not None else self.default_code

    @property
    def message(self) -> str:
        """The human-readable message (the exception's text)."""
        return str(self)

    def to_json(self) -> dict[str, str]:
        """The error as the API's JSON error body."""
        return {"error": self.code, "message": self.message}


class BadRequest(RouterError):
    """The request is malformed: a missing or ill-typed field (HTTP 400)."""

    status = 400
    default_code = "bad_request"


class Unauthorized(RouterError):
    """Missing, forged, expired or otherwise unacceptable credentials (HTTP 401)."""

    status = 401
    default_code = "unauthorized"


class Forbidden(RouterError):
    """Authenticated, but the role does not allow this action (HTTP 403)."""

    status = 403
    default_code = "forbidden"


class NotFound(RouterError):
    """The session, participant, stream or archive does not exist (HTTP 404)."""

    status = 404
    default_code = "not_found"


class Conflict(RouterError):
    """The request contradicts the session's state or settings (HTTP 409)."""

    status = 409
    default_code = "conflict"


class NotSupported(RouterError):
    """A feature this router does not offer (HTTP 501)."""

    status = 501
    default_code = "not_supported"


class MediaPlaneError(RouterError):
    """The media plane failed in a way it did not explain with a RouterError (HTTP 500)."""

    status = 500
    default_code = "media_plane_error"


class InternalError(RouterError):
    """The router could not do something it should be able to (HTTP 500)."""

    status = 500
    default_code = "internal_error"
