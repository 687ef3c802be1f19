"""Configuration: layering, durations, error messages that name source and key, the example."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ValidationError

from gradesync.config import (
    FileSinkConfig,
    Settings,
    SinkConfig,
    SisSinkConfig,
    WebhookSinkConfig,
    format_duration,
    load_settings,
    parse_duration,
)
from gradesync.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
SECRET = "s3cr3t-do-not-print"
WHSEC = "whsec_c2lnbmluZy1rZXk="  # base64 of "signing-key"
LEARN = f"""
[learn]
base_url = "https://learn.example.edu"
client_id = "key"
client_secret = "{SECRET}"
"""


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    """An empty secrets directory, so the host's /run/secrets never leaks into a test."""
    directory = tmp_path / "secrets"
    directory.mkdir()
    return directory


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


def load(path: Path, text: str, secrets: Path, env: dict[str, str] | None = None) -> Settings:
    path.write_text(text)
    return load_settings(path, env=env or {}, secrets_dir=secrets)


def error_of(path: Path, text: str, secrets: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(path, text, secrets, env)
    return str(caught.value)


# -- layering -------------------------------------------------------------------------------


def test_environment_overrides_toml(config: Path, secrets: Path) -> None:
    env = {"GRADESYNC_LEARN__CLIENT_SECRET": "from-env", "GRADESYNC_SYNC__INTERVAL": "5m"}
    settings = load(config, LEARN + '[sync]\ninterval = "1h"\n', secrets, env)
    assert settings.learn.client_secret.get_secret_value() == "from-env"
    assert settings.sync.interval == timedelta(minutes=5)
    assert settings.learn.client_id == "key"  # untouched keys keep the file's value


@pytest.mark.parametrize("filename", ["learn__client_secret", "learn_client_secret"])
def test_secrets_file_overrides_environment(config: Path, secrets: Path, filename: str) -> None:
    (secrets / filename).write_text("from-file\n")
    env = {"GRADESYNC_LEARN__CLIENT_SECRET": "from-env"}
    settings = load(config, LEARN, secrets, env)
    assert settings.learn.client_secret.get_secret_value() == "from-file"


def test_credentials_directory_is_the_default_secrets_dir(config: Path, secrets: Path) -> None:
    (secrets / "learn__client_id").write_text("from-systemd")
    config.write_text(LEARN)
    settings = load_settings(config, env={"CREDENTIALS_DIRECTORY": str(secrets)})
    assert settings.learn.client_id == "from-systemd"


def test_sink_keys_are_set_by_sink_number_or_name(config: Path, secrets: Path) -> None:
    text = LEARN + '[[sinks]]\ntype = "file"\npath = "a"\n[[sinks]]\ntype = "webhook"\n'
    text += f'name = "hooks"\nurl = "https://hooks.example.edu"\nsecret = "{WHSEC}"\n'
    (secrets / "sinks__hooks__secret").write_text("whsec_b3RoZXIta2V5")
    settings = load(config, text, secrets, {"GRADESYNC_SINKS__0__PATH": "b"})
    file_sink, webhook = settings.sinks
    assert isinstance(file_sink, FileSinkConfig) and file_sink.path == Path("b")
    assert isinstance(webhook, WebhookSinkConfig) and webhook.signing_key() == b"other-key"


def test_lists_and_whole_sinks_come_from_the_environment_as_json(secrets: Path) -> None:
    env = {
        "GRADESYNC_LEARN": '{"base_url": "https://learn.example.edu", "client_id": "k"}',
        "GRADESYNC_LEARN__CLIENT_SECRET": SECRET,
        "GRADESYNC_SELECTION__COURSES": '["_12_1", "externalId:MATH101"]',
        "GRADESYNC_SINKS": '[{"type": "file", "path": "events.jsonl"}]',
        "GRADESYNC_SPEC_DIR": "not a setting",
    }
    settings = load_settings(None, env=env, secrets_dir=secrets)
    assert settings.selection.courses == ("_12_1", "externalId:MATH101")
    assert [s.type for s in settings.sinks] == ["file"]
    assert settings.source == "environment"


def test_config_path_comes_from_gradesync_config(config: Path, secrets: Path) -> None:
    config.write_text(LEARN + '[state]\npath = "elsewhere.db"\n')
    settings = load_settings(None, env={"GRADESYNC_CONFIG": str(config)}, secrets_dir=secrets)
    assert settings.state.path == Path("elsewhere.db")


def test_run_and_once_need_a_sink_but_check_does_not(config: Path, secrets: Path) -> None:
    settings = load(config, LEARN, secrets)  # loading alone is fine: check and status need none
    with pytest.raises(ConfigError, match=re.escape(f"{config}: sinks: no [[sinks]]")):
        settings.require_sinks()
    load(config, LEARN + '[[sinks]]\ntype = "file"\npath = "e"\n', secrets).require_sinks()


# -- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ('"90s"', 90),
        ('"5m"', 300),
        ('"1h30m"', 5400),
        ('"2d"', 172800),
        ('"PT5M"', 300),
        ('"P1DT2H"', 93600),
        ("90", 90),
        ("2.5", 2.5),
        ('"45"', 45),
    ],
)
def test_durations_are_read_in_every_form(
    config: Path, secrets: Path, written: str, seconds: float
) -> None:
    settings = load(config, LEARN + f"[delivery]\nonce_wait = {written}\n", secrets)
    assert settings.delivery.once_wait == timedelta(seconds=seconds)


@pytest.mark.parametrize("seconds", [0, 1.5, 90, 5400, 93784, 172800])
def test_a_formatted_duration_reads_back_the_same(seconds: float) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize("written", ['"soon"', '"5 minutes"', '"P1M"', '"-5m"', "true"])
def test_a_bad_duration_names_the_key_and_the_accepted_forms(
    config: Path, secrets: Path, written: str
) -> None:
    message = error_of(config, LEARN + f"[sync]\nmembership_refresh = {written}\n", secrets)
    assert message.startswith(f"{config}: sync.membership_refresh: ")
    assert "duration" in message


def test_an_unparsable_duration_lists_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match=r"'1x' is not a duration: use .*'1h30m'.*'PT5M'"):
        parse_duration("1x")


# -- errors name the source and the key, never a secret -------------------------------------

SIS = '[[sinks]]\ntype = "sis"\nbase_url = "https://sis.example.edu"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (LEARN.replace(f'client_secret = "{SECRET}"', ""), "learn.client_secret: field required"),
        (LEARN + 'concurrency = "eight"\n', "learn.concurrency: input should be a valid integer"),
        (LEARN + "[sync]\nconcurrency = 0\n", "sync.concurrency: input should be greater than"),
        (LEARN + "client_secet = 1\n", "learn.client_secet: unknown key (did you mean "),
        (LEARN + "[sinks]\n", "sinks: input should be a valid"),
        (LEARN + "[health]\nlisten = 'localhost'\n", "health.listen: must be host:port"),
        (LEARN + "[bogus]\n", "bogus: unknown key"),
        (LEARN + '[[sinks]]\ntype = "kafka"\n', "sinks[0].type: unknown sink type 'kafka' (ex"),
        (LEARN + "[[sinks]]\npath = 'e'\n", "sinks[0].type: field required"),
        (LEARN + '[[sinks]]\ntype = "file"\n', "sinks[0].path: field required"),
        (LEARN + "[selection]\navailability = ['yes']\n", "selection.availability[0]: input"),
        (LEARN + "[sync]\njitter = '20m'\n", "sync.jitter: must be shorter than interval (15m)"),
        (LEARN.replace(".edu", ".edu/learn"), "learn.base_url: must be scheme, host and port"),
        (LEARN.replace("https:", "ftp:"), "learn.base_url: must be an http:// or https:// URL"),
        (LEARN + SIS, "sinks[0].token: give exactly one of token and [sinks.oauth]"),
        (LEARN + SIS + 'token = " "\n', "sinks[0].token: must not be empty"),
        (LEARN + SIS + 'token = "t"\nvalue = "schema"\n', "sinks[0].grade_schema: value = "),
        (
            LEARN + SIS + 'token = "t"\ngrade_schema = "A=90:B=95"\n',
            "sinks[0].grade_schema: percent bounds",
        ),
        (
            LEARN + SIS + 'token = "t"\n[sinks.oauth]\ntoken_url = "https://t"\nclient_id = "c"\n'
            'client_secret = "x"\n',
            "sinks[0].token: give exactly one",
        ),
        (
            LEARN + '[[sinks]]\ntype = "file"\npath = "a"\n[[sinks]]\ntype = "sis"\n'
            'name = "file"\nbase_url = "https://sis.example.edu"\ntoken = "t"\n',
            "sinks[1].name: duplicate sink name 'file' (sinks[0] has it too)",
        ),
    ],
)
def test_each_error_names_the_file_and_the_key(
    config: Path, secrets: Path, text: str, expected: str
) -> None:
    assert error_of(config, text, secrets).startswith(f"{config}: {expected}")


def test_malformed_toml_names_the_line(config: Path, secrets: Path) -> None:
    message = error_of(config, LEARN + "concurrency = \n", secrets)
    assert message.startswith(f"{config}: line 6: malformed TOML: invalid value")


def test_a_missing_file_is_a_config_error(config: Path, secrets: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(config, env={}, secrets_dir=secrets)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GRADESYNC_LEARN__CONCURRENCY": "x"}, "learn.concurrency: input should be a valid int"),
        ({"GRADESYNC_SELECTION__COURSES": "a,b"}, "selection.courses: not valid JSON"),
        ({"GRADESYNC_LERN__CLIENT_ID": "x"}, "lern: unknown section"),
        ({"GRADESYNC_SINKS__9__PATH": "x"}, "sinks.9: no sink with that number or name"),
    ],
)
def test_environment_errors_name_the_variable(
    config: Path, secrets: Path, env: dict[str, str], expected: str
) -> None:
    message = error_of(config, LEARN + '[[sinks]]\ntype = "file"\npath = "e"\n', secrets, env)
    assert message.startswith(f"environment variable {next(iter(env))}: {expected}")


def test_secrets_file_errors_name_the_file(config: Path, secrets: Path) -> None:
    (secrets / "learn__verify_tls").write_text("perhaps")
    message = error_of(config, LEARN, secrets)
    assert message.startswith(f"secrets file {secrets / 'learn__verify_tls'}: learn.verify_tls: ")


@pytest.mark.parametrize(
    "sink",
    [
        f'type = "webhook"\nurl = "https://h.example.edu"\nsecret = "whsec_{SECRET}!"\n',
        f'type = "webhook"\nurl = "https://h.example.edu"\nsecret = "{SECRET}"\n',
        f'type = "sis"\nbase_url = "https://{SECRET}@sis.example.edu"\ntoken = "t"\n',
    ],
)
def test_bad_secrets_are_named_but_never_shown(config: Path, secrets: Path, sink: str) -> None:
    message = error_of(config, LEARN + "[[sinks]]\n" + sink, secrets)
    assert message.startswith(f"{config}: sinks[0].")
    assert SECRET not in message


def test_secrets_never_appear_in_errors_repr_or_redacted(config: Path, secrets: Path) -> None:
    text = LEARN + f'[[sinks]]\ntype = "sis"\nbase_url = "https://s"\ntoken = "{SECRET}"\n'
    message = error_of(config, text + "bad_key = 1\n", secrets)
    assert "sinks[0].bad_key: unknown key" in message and SECRET not in message
    message = error_of(config, LEARN.replace("client_id", "client_ix"), secrets)
    assert SECRET not in message
    settings = load(config, text, secrets)
    shown = repr(settings) + str(settings) + repr(settings.redacted())
    assert SECRET not in shown
    assert settings.redacted()["learn"]["client_secret"] == "***"
    assert settings.redacted()["sinks"][0]["token"] == "***"


# -- the settings themselves ----------------------------------------------------------------


def test_settings_are_frozen(config: Path, secrets: Path) -> None:
    settings = load(config, LEARN, secrets)
    with pytest.raises(ValidationError):
        settings.learn.concurrency = 99  # type: ignore[misc]


def test_dates_and_naive_times_are_taken_as_utc(config: Path, secrets: Path) -> None:
    settings = load(config, LEARN + "[selection]\ncreated_since = 2025-08-01\n", secrets)
    assert settings.selection.created_since == datetime(2025, 8, 1, tzinfo=UTC)


def test_redacted_is_plain_data_with_readable_durations(config: Path, secrets: Path) -> None:
    data = load(config, LEARN + '[sync]\ninterval = "PT90M"\n', secrets).redacted()
    assert data["sync"]["interval"] == "1h30m"
    assert data["state"]["path"] == "gradesync.db"


def test_settings_hand_components_ready_values(config: Path, secrets: Path) -> None:
    text = LEARN + "[health]\nlisten = '[::1]:9108'\n" + SIS + 'name = "registrar"\n'
    text += 'token = "t"\nvalue = "schema"\ngrade_schema = "A=90:B=80:F=0"\n'
    settings = load(config, text, secrets)
    assert settings.health.address == ("::1", 9108)
    (sis,) = settings.sinks
    assert isinstance(sis, SisSinkConfig)
    assert sis.grade_schema_bounds == (("A", 90.0), ("B", 80.0), ("F", 0.0))
    assert sis.gradesjourney_url == "https://sis.example.edu/learn/api/v2/cc/gradejourney"


# -- the example never rots -----------------------------------------------------------------

_CODE = re.compile(r"^(?:# )?(\[\[?[\w.]+\]\]?|\w+ = )")


def example_tables() -> list[tuple[str, dict[str, str]]]:
    """Every table of the example, commented-out ones included: (header, {key: raw line})."""
    tables: list[tuple[str, dict[str, str]]] = []
    for line in EXAMPLE.read_text().splitlines():
        code = _CODE.match(line)
        if code and code[1].startswith("["):
            tables.append((code[1].strip("[]"), {}))
        elif code and tables:
            tables[-1][1][code[1].removesuffix(" = ")] = line
    return tables


def _submodel(annotation: Any) -> type[BaseModel] | None:
    for kind in (annotation, *get_args(annotation)):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None


def models_by_table() -> Iterator[tuple[str, str | None, type[BaseModel]]]:
    """(header, sink type or None, model) for every table the settings accept."""

    def walk(header: str, sink_type: str | None, model: type[BaseModel]) -> Iterator[Any]:
        yield header, sink_type, model
        for name, field in model.model_fields.items():
            if sub := _submodel(field.annotation):
                yield from walk(f"{header}.{name}", None, sub)

    for name, field in Settings.model_fields.items():
        if sub := _submodel(field.annotation):
            yield from walk(name, None, sub)
    for sink in get_args(get_args(SinkConfig)[0]):
        yield from walk("sinks", get_args(sink.model_fields["type"].annotation)[0], sink)


def test_example_config_loads_with_the_defaults_and_one_file_sink(secrets: Path) -> None:
    example = load_settings(EXAMPLE, env={}, secrets_dir=secrets)
    required = example.learn.model_dump(include={"base_url", "client_id", "client_secret"})
    defaults = Settings.model_validate(
        {"learn": required, "sinks": [{"type": "file", "path": "events.jsonl"}]}
    )
    assert example.redacted() == defaults.redacted()


def test_example_documents_every_key_with_a_comment() -> None:
    tables = example_tables()
    for header, sink_type, model in models_by_table():
        keys: set[str] = set()
        for name, lines in tables:
            if name == header and (sink_type is None or f'type = "{sink_type}"' in lines["type"]):
                keys |= set(lines)
        plain = {n for n, f in model.model_fields.items() if _submodel(f.annotation) is None}
        assert plain <= keys, (header, sink_type, plain - keys)
    for _, lines in tables:
        assert all("  # " in line for line in lines.values()), lines


def test_example_sinks_shown_commented_out_are_valid(secrets: Path, tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    start = text.index("# [[sinks]]")
    tail = "\n".join(
        line[2:] if line.startswith("# ") and _CODE.match(line) else line
        for line in text[start:].splitlines()
    )
    path = tmp_path / "all-sinks.toml"
    path.write_text(text[:start] + tail)
    sinks = load_settings(path, env={}, secrets_dir=secrets).sinks
    assert [(s.type, s.name) for s in sinks] == [
        ("file", "file"),
        ("webhook", "webhook"),
        ("sis", "registrar"),
        ("sis", "journey"),
    ]
