"""Shared fixtures: where the outside contract and the Learn spec live."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _shared_dir(env: str, relative: str) -> Path:
    return Path(os.environ.get(env) or ROOT.parent / "shared" / relative)


@pytest.fixture(scope="session")
def event_schema() -> dict[str, Any]:
    """The CloudEvent schema of the contract; tests that need it skip when it is absent."""
    path = _shared_dir("GRADESYNC_SPEC_DIR", "spec") / "event.schema.json"
    if not path.exists():
        pytest.skip(f"the contract's event schema is not at {path} (set GRADESYNC_SPEC_DIR)")
    schema: dict[str, Any] = json.loads(path.read_text())
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
