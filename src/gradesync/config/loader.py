"""Layered loading: TOML file, then environment variables, then secrets files; later layers win.

Every value remembers the layer it came from, so an error names the file, variable or secrets
file to fix and the dotted key (``config.toml: sinks[1].type: unknown sink type 'kafka' ...``).
Messages never carry a value that could be a secret.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import EnvSettingsSource, SettingsError

from gradesync.config.settings import ENV_PREFIX, NESTED_DELIMITER, Settings
from gradesync.config.sinks import SINK_MODELS, SINK_TYPES
from gradesync.config.values import KeyedValueError
from gradesync.errors import ConfigError

CONFIG_ENV = "GRADESYNC_CONFIG"
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"  # systemd LoadCredential=
DEFAULT_SECRETS_DIR = Path("/run/secrets")  # Docker and Compose secrets
MAX_SECRET_BYTES = 64 * 1024

Loc = tuple[str | int, ...]
_SECTIONS = tuple(Settings.model_fields)
_JSON_HINT = 'lists and tables given this way are JSON, as in ["Yes", "No"]'


def load_settings(
    path: str | Path | None,
    *,
    env: Mapping[str, str] | None = None,
    secrets_dir: Path | None = None,
) -> Settings:
    """Read the TOML file at ``path`` (None: ``$GRADESYNC_CONFIG``, else none), then overlay
    ``GRADESYNC_<SECTION>__<KEY>`` variables of ``env`` (default ``os.environ``), then the
    secrets files of ``secrets_dir`` (default ``$CREDENTIALS_DIRECTORY``, else ``/run/secrets``
    when it exists). Raises ``ConfigError`` naming the source and the key of every problem.
    """
    environ = os.environ if env is None else env
    if path is None:
        path = environ.get(CONFIG_ENV) or None
    source = str(path) if path is not None else "environment"
    data = _read_toml(Path(path), source) if path is not None else {}
    origins: dict[Loc, str] = {}
    for label, layer in _env_layers(environ):
        _overlay(data, layer, label, origins)
    directory = _secrets_directory(secrets_dir, environ)
    if directory is not None:
        for label, layer in _secrets_layers(directory):
            _overlay(data, layer, label, origins)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        # Never chain: a ValidationError's text shows the input values, secrets among them.
        raise ConfigError(_describe(exc, origins, source)) from None
    settings._source = source
    return settings


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"{label}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        text = str(exc)
        where = re.search(r"\s*\(at line (\d+), column (\d+)\)", text)
        if where is None:
            raise ConfigError(f"{label}: malformed TOML: {_lower_first(text)}") from None
        reason = _lower_first(text[: where.start()])
        raise ConfigError(
            f"{label}: line {where[1]}: malformed TOML: {reason} (column {where[2]})"
        ) from None


class _OneValueSource(EnvSettingsSource):
    """pydantic-settings' reading of one ``SECTION__KEY`` value into nested data.

    It knows which fields are lists or tables (decoded from JSON) and which are plain values.
    """

    def __init__(self, name: str, value: str, prefix: str) -> None:
        self._one = {name.lower(): value}
        super().__init__(Settings, env_prefix=prefix, case_sensitive=False)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._one


def _explode(label: str, name: str, value: str, prefix: str) -> dict[str, Any]:
    section = name[len(prefix) :].lower().split(NESTED_DELIMITER)[0]
    if section not in _SECTIONS:
        expected = ", ".join(_SECTIONS)
        raise ConfigError(f"{label}: {section}: unknown section (expected {expected})")
    try:
        return _OneValueSource(name, value, prefix)()
    except SettingsError:
        key = name[len(prefix) :].lower().replace(NESTED_DELIMITER, ".")
        raise ConfigError(f"{label}: {key}: not valid JSON; {_JSON_HINT}") from None


def _env_layers(environ: Mapping[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """One layer per ``GRADESYNC_<SECTION>__<KEY>`` (or whole ``GRADESYNC_<SECTION>``) variable.

    Other ``GRADESYNC_`` variables (``GRADESYNC_CONFIG``) are not settings and are left alone.
    """
    for name in sorted(environ):
        rest = name.upper().removeprefix(ENV_PREFIX).lower()
        if rest != name.lower() and (NESTED_DELIMITER in rest or rest in _SECTIONS):
            label = f"environment variable {name}"
            yield label, _explode(label, name, environ[name], ENV_PREFIX)


def _secrets_directory(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    directory = explicit or (
        Path(environ[CREDENTIALS_ENV]) if environ.get(CREDENTIALS_ENV) else None
    )
    if directory is None:
        return DEFAULT_SECRETS_DIR if DEFAULT_SECRETS_DIR.is_dir() else None
    if not directory.is_dir():
        raise ConfigError(f"secrets directory {directory}: not a directory")
    return directory


def secret_file_key(filename: str) -> str | None:
    """The ``section__key`` a secrets file sets, or None when the file is not one of ours.

    ``learn__client_secret`` and ``learn_client_secret`` both set ``learn.client_secret``;
    sink keys need the double underscore and the sink's name or number:
    ``sinks__registrar__token``, ``sinks__0__secret``.
    """
    name = filename.lower()
    if NESTED_DELIMITER in name:
        return name
    section, sep, key = name.partition("_")
    return f"{section}{NESTED_DELIMITER}{key}" if sep and key and section in _SECTIONS else None


def _secrets_layers(directory: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """One layer per secrets file whose name is a settings key, in name order."""
    for entry in sorted(directory.iterdir()):
        key = secret_file_key(entry.name)
        if entry.name.startswith(".") or key is None or not entry.is_file():
            continue
        label = f"secrets file {entry}"
        try:
            raw = entry.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{label}: cannot read: {exc.strerror or exc}") from None
        if len(raw) > MAX_SECRET_BYTES:
            raise ConfigError(f"{label}: larger than {MAX_SECRET_BYTES} bytes")
        try:
            value = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(f"{label}: not UTF-8 text") from None
        yield label, _explode(label, key, value, "")


def _overlay(
    base: dict[str, Any], layer: Mapping[str, Any], label: str, origins: dict[Loc, str]
) -> None:
    """Write ``layer`` over ``base`` key by key, noting ``label`` as the origin of each value."""
    for key, value in layer.items():
        _set(base, key, value, (key,), label, origins)


def _set(
    parent: Any,
    key: Any,
    value: Any,
    loc: Loc,
    label: str,
    origins: dict[Loc, str],
) -> None:
    current = parent[key] if isinstance(parent, list) else parent.get(key)
    if isinstance(value, dict) and loc == ("sinks",):
        if not isinstance(current, list):
            raise ConfigError(f"{label}: sinks: no [[sinks]] to change; define them first")
        for ref, patch in value.items():
            index = _sink_index(current, ref, label)
            _set(current, index, patch, (*loc, index), label, origins)
        return
    if isinstance(value, dict) and (current is None or isinstance(current, dict)):
        if current is None:
            current = parent[key] = {}
        for name, item in value.items():
            _set(current, name, item, (*loc, name), label, origins)
        return
    parent[key] = value
    for stale in [o for o in origins if o[: len(loc)] == loc]:
        del origins[stale]
    origins[loc] = label


def _sink_index(sinks: list[Any], ref: str, label: str) -> int:
    """The position of the sink a variable or secrets file names by number or by name."""
    if ref.isdigit() and int(ref) < len(sinks):
        return int(ref)
    for index, sink in enumerate(sinks):
        if isinstance(sink, dict) and str(sink.get("name", sink.get("type"))).lower() == ref:
            return index
    raise ConfigError(f"{label}: sinks.{ref}: no sink with that number or name")


def _describe(exc: ValidationError, origins: Mapping[Loc, str], default: str) -> str:
    """One line per problem: ``<source>: <dotted key>: <what is wrong>``."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        loc, message = _explain(error)
        lines.append(f"{_origin(loc, origins, default)}: {_dotted(loc)}: {message}")
    return "\n".join(dict.fromkeys(lines))


def _explain(error: ErrorDetails) -> tuple[Loc, str]:
    loc: Loc = tuple(error["loc"])
    allowed = _keys_at(loc)
    if len(loc) >= 3 and loc[0] == "sinks" and loc[2] in SINK_TYPES:
        loc = loc[:2] + loc[3:]  # drop the union's tag pydantic puts in the location
    ctx = error.get("ctx", {})
    kind = error["type"]
    expected = ", ".join(SINK_TYPES)
    if kind == "union_tag_invalid":
        return (*loc, "type"), f"unknown sink type {ctx['tag']!r} (expected {expected})"
    if kind == "union_tag_not_found":
        return (*loc, "type"), f"field required (expected {expected})"
    if kind == "missing":
        return loc, "field required"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.75)
        return loc, "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "value_error" and isinstance(ctx.get("error"), ValueError):
        cause = ctx["error"]
        if isinstance(cause, KeyedValueError):
            loc = (*loc, *cause.key)
        return loc, str(cause)
    return loc, _lower_first(error["msg"])


def _origin(loc: Loc, origins: Mapping[Loc, str], default: str) -> str:
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    return default


def _dotted(loc: Loc) -> str:
    """``("sinks", 1, "type")`` as ``sinks[1].type``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _keys_at(loc: Loc) -> list[str]:
    """The keys the table holding ``loc`` accepts (``loc`` as pydantic gives it, tag included)."""
    model: type[BaseModel] | None = Settings
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if loc[0] == "sinks" and isinstance(part, str) and part in SINK_MODELS:
            model = SINK_MODELS[part]
        elif model is not None and part in model.model_fields:
            model = _submodel(model.model_fields[part].annotation)
        else:
            model = None
    return list(model.model_fields) if model is not None else []


def _submodel(annotation: Any) -> type[BaseModel] | None:
    for kind in (annotation, *get_args(annotation)):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None
