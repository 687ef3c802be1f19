"""The sink registry: every type the config accepts is built, and no other type is."""

from __future__ import annotations

from typing import Any, Literal, get_args

import pytest

from gradesync.clock import ManualClock
from gradesync.config.sinks import SINK_MODELS, SINK_TYPES, SinkConfig, SisSinkConfig
from gradesync.config.values import Section
from gradesync.errors import ConfigError
from gradesync.sinks.file import FileSink
from gradesync.sinks.registry import SINKS, SIS_PROTOCOLS, build_sink
from gradesync.sinks.sis import GradesJourneySink, UpsertSink
from gradesync.sinks.webhook import WebhookSink

SIS = {"type": "sis", "base_url": "https://sis.example.edu", "token": "t"}

# A valid table of each sink type, and the class it must build.
EXAMPLES: dict[str, tuple[dict[str, Any], type]] = {
    "file": ({"type": "file", "path": "events.jsonl"}, FileSink),
    "webhook": (
        {"type": "webhook", "url": "https://h.example.edu", "secret": "whsec_c2lnbmluZy1rZXk="},
        WebhookSink,
    ),
    "sis": (SIS, UpsertSink),
}


class KafkaSinkConfig(Section):
    """A sink type that no registry entry names."""

    type: Literal["kafka"]
    name: str = "stream"


def test_every_sink_type_of_the_config_has_one_registry_entry() -> None:
    assert list(SINK_MODELS.values()) == list(get_args(get_args(SinkConfig)[0]))
    assert list(SINKS) == list(SINK_TYPES), "every sink type of the config needs a registry entry"
    for name, kind in SINKS.items():
        assert kind.settings is SINK_MODELS[name]


@pytest.mark.parametrize("sink_type", SINK_TYPES)
async def test_every_sink_type_of_the_config_builds_its_sink(sink_type: str) -> None:
    assert sink_type in EXAMPLES, f"add an example table of the {sink_type!r} sink to this test"
    table, built_class = EXAMPLES[sink_type]
    cfg = SINK_MODELS[sink_type].model_validate(table | {"name": f"my-{sink_type}"})
    sink = build_sink(cfg, ManualClock())  # type: ignore[arg-type]
    assert isinstance(sink, built_class) and sink.name == f"my-{sink_type}"
    await sink.close()


@pytest.mark.parametrize(
    ("protocol", "built_class"), [("upsert", UpsertSink), ("gradesjourney", GradesJourneySink)]
)
def test_each_sis_protocol_builds_its_sink(protocol: str, built_class: type) -> None:
    assert protocol in SIS_PROTOCOLS
    cfg = SisSinkConfig.model_validate(SIS | {"protocol": protocol})
    assert isinstance(build_sink(cfg), built_class)


def test_every_sis_protocol_of_the_config_has_an_entry() -> None:
    protocols = get_args(SisSinkConfig.model_fields["protocol"].annotation)
    assert list(SIS_PROTOCOLS) == list(protocols)


def test_an_unknown_sink_type_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError) as refused:
        build_sink(KafkaSinkConfig(type="kafka"))  # type: ignore[arg-type]
    assert str(refused.value) == (
        "sink 'stream': unknown sink type 'kafka' (expected file, webhook, sis)"
    )


def test_an_unknown_sis_protocol_is_refused_naming_the_known_ones() -> None:
    cfg = SisSinkConfig.model_validate(SIS).model_copy(update={"protocol": "soap"})
    with pytest.raises(ConfigError) as refused:
        build_sink(cfg)
    assert str(refused.value) == (
        "sink 'sis': unknown SIS protocol 'soap' (expected upsert, gradesjourney)"
    )
