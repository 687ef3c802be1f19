"""The client's own settings: where Learn is, who we are, and how hard we may press on it."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# The largest ``limit`` each list endpoint accepts (docs/learn-api.md section 2.2, measured on
# Learn 3400). Lists without a published maximum (children, categories) send no ``limit`` at all.
DEFAULT_PAGE_LIMITS: Mapping[str, int] = {
    "courses": 100,
    "memberships": 200,
    "columns": 200,
    "grades": 100,
    "logs": 100,
}


# The largest answer read (32 MiB): a page of 100 grade rows is some 30 kB.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class LearnSettings(BaseModel):
    """Everything :class:`~gradesync.learn.LearnClient` needs; durations are in seconds.

    ``client_secret`` is a :class:`SecretStr`: its ``repr`` and ``str`` never show the value.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    verify_tls: bool = True
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    # The whole request, answer read to its end: a server that drips a byte at a time never
    # trips the read timeout, but it cannot hold a course past this.
    request_timeout: float = Field(default=120.0, gt=0)
    max_response_bytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, ge=1)
    concurrency: int = Field(default=8, ge=1)
    requests_per_second: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    retry_max_wait: float = Field(default=60.0, ge=0)
    backoff_base: float = Field(default=0.5, ge=0)
    token_refresh_margin: float = Field(default=60.0, ge=0)
    page_limits: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_PAGE_LIMITS))
    max_pages: int = Field(default=10_000, ge=1)

    @field_validator("base_url")
    @classmethod
    def _scheme_and_host(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("page_limits")
    @classmethod
    def _known_limits(cls, value: dict[str, int]) -> dict[str, int]:
        merged = {**DEFAULT_PAGE_LIMITS, **value}
        bad = [name for name, limit in merged.items() if limit < 1]
        if bad:
            raise ValueError(f"page limits must be at least 1: {', '.join(sorted(bad))}")
        return merged

    def page_limit(self, name: str) -> int | None:
        """The ``limit`` to send for a list, or None to leave it to the server."""
        return self.page_limits.get(name)
