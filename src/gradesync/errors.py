"""The one exception tree of gradesync, grouped by what the caller does.

    GradesyncError
    ├── ConfigError                 fatal: bad or unreadable configuration (exit 1)
    ├── StateError                  fatal: the state store is unusable (exit 1)
    └── LearnError                  anything the Learn REST API or the way to it did
        ├── FatalLearnError         stop: retrying cannot help
        │   ├── AuthenticationError the token request was refused (wrong id or secret)
        │   └── BadRequestError     a 400 that says the request itself is wrong
        ├── RetriableLearnError     try again later; carries ``retry_after`` when the server said
        │   ├── RateLimitedError    429; ``retry_after`` from ``Retry-After``
        │   ├── ServerError         5xx
        │   └── TransportError      timeouts, resets, refused connections
        └── SkippableLearnError     skip this course or column, carry on with the others
            ├── ForbiddenError      403
            ├── NotFoundError       404
            └── MalformedResponseError  bad JSON, wrong content type, a body that fits no model

Messages carry the method, the path and the status; never a token, a secret or a query string.
"""

from __future__ import annotations


class GradesyncError(Exception):
    """Root of every error gradesync raises on purpose."""


class ConfigError(GradesyncError):
    """The configuration is missing, malformed or has a bad value."""


class StateError(GradesyncError):
    """The state store cannot be opened, migrated or written; ``path`` is the state file and
    ``reason`` what went wrong there (as in "database or disk is full"), when known."""

    def __init__(self, message: str, *, path: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


class LearnError(GradesyncError):
    """An error talking to Learn; ``endpoint`` is the route template, ``status`` the HTTP code."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        endpoint: str = "",
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.endpoint = endpoint
        self.status = status


class FatalLearnError(LearnError):
    """Retrying cannot help: the operator must change something."""


class AuthenticationError(FatalLearnError):
    """Learn refused the client credentials."""


class BadRequestError(FatalLearnError):
    """Learn says the request itself is wrong (400)."""


class RetriableLearnError(LearnError):
    """A passing failure. ``retry_after`` is the server's hint in seconds, if it gave one."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        endpoint: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, method=method, endpoint=endpoint, status=status)
        self.retry_after = retry_after


class RateLimitedError(RetriableLearnError):
    """429: the rate limit or the daily quota is spent."""


class ServerError(RetriableLearnError):
    """5xx from Learn."""


class TransportError(RetriableLearnError):
    """The request did not complete: timeout, reset, refused connection."""


class SkippableLearnError(LearnError):
    """This one course or column cannot be read; the others can."""


class ForbiddenError(SkippableLearnError):
    """403: the application may not see this course or column."""


class NotFoundError(SkippableLearnError):
    """404: the course or column does not exist (any more)."""


class MalformedResponseError(SkippableLearnError):
    """The response was not the JSON the endpoint promises."""
