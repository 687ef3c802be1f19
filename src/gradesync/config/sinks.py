"""The ``[[sinks]]`` tables: a union on ``type`` of the file, webhook and SIS sinks.

Each sink has a ``name`` (default: its type) that names it in status, replay and metrics, and in
secrets files (``sinks__<name>__<key>``); names are unique across the list.

The sink types are written once, as the members of :data:`SinkConfig`; :data:`SINK_MODELS` and
:data:`SINK_TYPES` are read off it. How each type is built lives with the sinks
(:mod:`gradesync.sinks.registry`): this package never imports them.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from gradesync.config.values import (
    KeyedValueError,
    PositiveDuration,
    Secret,
    Section,
    WebUrl,
    parse_grade_schema,
)

SINK_NAME_RE = re.compile(r"[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*")
WEBHOOK_SECRET_PREFIX = "whsec_"


def _check_name(value: str) -> str:
    if not SINK_NAME_RE.fullmatch(value) or len(value) > 64:
        raise ValueError("must be up to 64 letters and digits, single '-' or '_' between them")
    return value


SinkName = Annotated[str, AfterValidator(_check_name)]


class FileSinkConfig(Section):
    """Appends each CloudEvent as one JSON line to ``path``."""

    type: Literal["file"]
    name: SinkName = "file"
    path: Path
    fsync: bool = True


class WebhookSinkConfig(Section):
    """POSTs events signed per Standard Webhooks (docs/contract.md section 4)."""

    type: Literal["webhook"]
    name: SinkName = "webhook"
    url: WebUrl
    secret: Secret
    batch_size: int = Field(default=1, ge=1)
    timeout: PositiveDuration = timedelta(seconds=10)
    max_age: PositiveDuration = timedelta(days=3)
    verify_tls: bool = True

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: SecretStr) -> SecretStr:
        decode_webhook_secret(value)
        return value

    def signing_key(self) -> bytes:
        """The HMAC key: the base64-decoded secret after ``whsec_``."""
        return decode_webhook_secret(self.secret)


def decode_webhook_secret(secret: SecretStr) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret; ``ValueError`` that never shows it."""
    text = secret.get_secret_value()
    if not text.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError(f"must start with {WEBHOOK_SECRET_PREFIX!r} (whsec_<base64>)")
    try:
        key = base64.b64decode(text[len(WEBHOOK_SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be valid base64 after 'whsec_' (whsec_<base64>)") from None
    if not key:
        raise ValueError("must have a key after 'whsec_' (whsec_<base64>)")
    return key


class SisOAuthConfig(Section):
    """OAuth2 client credentials for the SIS (``[sinks.oauth]``)."""

    token_url: WebUrl
    client_id: str = Field(min_length=1)
    client_secret: Secret


class SisSinkConfig(Section):
    """Writes grade changes into a student information system (docs/contract.md section 5)."""

    type: Literal["sis"]
    name: SinkName = "sis"
    protocol: Literal["upsert", "gradesjourney"] = "upsert"
    base_url: WebUrl
    token: Secret | None = None
    oauth: SisOAuthConfig | None = None
    user_id: Literal["externalId", "userName", "studentId"] = "externalId"
    item_id: Literal["externalId", "name"] = "externalId"
    value: Literal["text", "score", "schema"] = "text"
    grade_schema: str | None = None
    batch_size: int = Field(default=100, ge=1)
    provision_columns: bool = False
    dry_run: bool = False
    gradesjourney_base: WebUrl | None = None

    @field_validator("grade_schema")
    @classmethod
    def _schema_form(cls, value: str | None) -> str | None:
        if value is not None:
            parse_grade_schema(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SisSinkConfig:
        if (self.token is None) == (self.oauth is None):
            raise KeyedValueError(("token",), "give exactly one of token and [sinks.oauth]")
        if self.value == "schema" and self.grade_schema is None:
            raise KeyedValueError(
                ("grade_schema",), 'value = "schema" needs grade_schema, as in "A=90:B=80:F=0"'
            )
        return self

    @property
    def grade_schema_bounds(self) -> tuple[tuple[str, float], ...]:
        """The symbols of ``grade_schema`` with their percent lower bounds, highest first."""
        return parse_grade_schema(self.grade_schema) if self.grade_schema else ()

    @property
    def gradesjourney_url(self) -> str:
        """Where the Grades Journey endpoints live (``gradesjourney_base`` or its default)."""
        return self.gradesjourney_base or f"{self.base_url}/learn/api/v2/cc/gradejourney"


SinkConfig = Annotated[
    FileSinkConfig | WebhookSinkConfig | SisSinkConfig, Field(discriminator="type")
]
"""One ``[[sinks]]`` table, chosen by its ``type``; a new sink type is one more member here."""

SINK_MODELS: dict[str, type[Section]] = {
    get_args(model.model_fields["type"].annotation)[0]: model
    for model in get_args(get_args(SinkConfig)[0])
}
"""The model of each sink type, by its ``type``, in the order of the union (and of messages)."""

SINK_TYPES = tuple(SINK_MODELS)
