"""Files that hold grades or secrets are owner-only whatever the umask (docs/contract.md
section 6)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gradesync.files import (
    create_private_file,
    open_private,
    private_directory,
    temporary_beside,
    write_private_text,
)


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


@pytest.fixture(params=[0o022, 0o000, 0o077], ids=lambda m: f"umask {m:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """A umask as permissive as a careless start-up script leaves it, and two others."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def test_directories_are_created_owner_only_parents_included(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "a" / "b" / "c"
    private_directory(target)
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", target)] == [0o700] * 3
    private_directory(target)  # there already: nothing to do


def test_an_existing_directory_keeps_its_mode(tmp_path: Path, umask: int) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o750)
    private_directory(shared / "mine")
    assert mode(shared) == 0o750
    assert mode(shared / "mine") == 0o700


def test_a_created_file_is_owner_only_and_an_existing_one_is_left_alone(
    tmp_path: Path, umask: int
) -> None:
    new, old = tmp_path / "new", tmp_path / "old"
    old.write_text("kept")
    old.chmod(0o640)
    create_private_file(new)
    create_private_file(old)
    assert mode(new) == 0o600
    assert (mode(old), old.read_text()) == (0o640, "kept")
    fd = open_private(tmp_path / "appended", os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"x\n")
    finally:
        os.close(fd)
    assert mode(tmp_path / "appended") == 0o600


def test_a_private_text_replaces_the_file_whole_and_owner_only(tmp_path: Path, umask: int) -> None:
    config = tmp_path / "gradesync.toml"
    config.write_text("old")
    config.chmod(0o644)
    write_private_text(config, "new = 1\n")
    assert config.read_text() == "new = 1\n"
    assert mode(config) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["gradesync.toml"]


def test_temporary_files_beside_a_path_are_new_each_time_and_owner_only(
    tmp_path: Path, umask: int
) -> None:
    dest = tmp_path / "backup.db"
    first, second = temporary_beside(dest), temporary_beside(dest)
    assert first != second
    assert first.parent == second.parent == tmp_path
    assert [mode(first), mode(second)] == [0o600, 0o600]
    assert first.stat().st_size == 0
