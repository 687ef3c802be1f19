"""Shared fixtures: where the outside contract and the Learn spec live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.spec_support import spec_header, spec_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def event_schema() -> dict[str, Any]:
    """The CloudEvent schema of the contract (docs/contract.md section 3), from the repository."""
    schema: dict[str, Any] = json.loads((ROOT / "docs" / "event.schema.json").read_text())
    return schema


@pytest.fixture(scope="session")
def validate_event(event_schema: dict[str, Any]) -> Any:
    """A function that raises when an event does not fit the contract's schema."""
    from jsonschema import Draft202012Validator, FormatChecker

    validator = Draft202012Validator(event_schema, format_checker=FormatChecker())

    def check(event: dict[str, Any]) -> None:
        errors = sorted(validator.iter_errors(event), key=str)
        assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors)

    return check


@pytest.fixture(autouse=True)
def _fresh_logging() -> Any:
    """A command run in-process points structlog at pytest's captured stream; undo it."""
    import structlog

    yield
    structlog.reset_defaults()


def pytest_report_header(config: pytest.Config) -> str:
    """Say at the top of the run where the Learn OpenAPI document is, or which tests skip."""
    return spec_header()


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Under ``-q`` pytest prints no header: a missing Learn document is still said up front."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or session.config.get_verbosity() >= 0 or spec_path().is_file():
        return
    reporter.write_line(spec_header())
