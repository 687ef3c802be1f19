"""Where the official Learn OpenAPI document is, for the tests that compare the simulator with it.

The document is not part of the repository. It is read from ``$GRADESYNC_LEARN_API_DIR``, else
from ``../shared/learn-api`` beside the repository; where it is absent the tests that need it
skip, and the header of the test run says so.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC_ENV = "GRADESYNC_LEARN_API_DIR"
SPEC_FILE = "learn-openapi-3900.68.json"
# The fixtures that load the document: a test asking for one of them skips without it.
SPEC_FIXTURES = frozenset({"spec", "checker"})


def spec_dir() -> Path:
    """The directory that should hold the Learn OpenAPI document."""
    return Path(os.environ.get(SPEC_ENV) or ROOT.parent / "shared" / "learn-api")


def spec_path() -> Path:
    """Where the Learn OpenAPI document should be (it may not exist)."""
    return spec_dir() / SPEC_FILE


def spec_test_count(tests: Path = ROOT / "tests") -> int:
    """How many tests need the document: the test functions, in the modules that use this one,
    that ask for a fixture of ``SPEC_FIXTURES``. Read from the source, before collection."""
    count = 0
    for module in sorted(tests.rglob("test_*.py")):
        source = module.read_text()
        if "spec_support" not in source:
            continue
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith("test_") and SPEC_FIXTURES & {a.arg for a in node.args.args}:
                count += 1
    return count


def spec_header() -> str:
    """One line for the top of the test run: where the document is, or what its absence costs."""
    path = spec_path()
    if path.is_file():
        return f"learn-api spec: {path}"
    count = spec_test_count()
    tests = "test" if count == 1 else "tests"
    return f"learn-api spec: NOT FOUND (set {SPEC_ENV}); {count} spec {tests} will be skipped"
