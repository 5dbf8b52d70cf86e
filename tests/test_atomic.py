"""persam.atomic: a file is replaced whole or not at all, and no temporary file is left behind."""

from __future__ import annotations

import pytest

from persam.atomic import atomic_path, write_atomic


def test_write_atomic_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "sub" / "results.csv"
    write_atomic(path, "a\n")
    write_atomic(path, "b\n")
    assert path.read_text() == "b\n"
    assert [p.name for p in path.parent.iterdir()] == ["results.csv"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]


def test_temporary_names(tmp_path):
    path = tmp_path / "out.png"
    with atomic_path(path) as plain, atomic_path(path) as other, atomic_path(path, keep_suffix=True) as suffixed:
        assert plain.parent == path.parent and plain.name.startswith(".") and plain.suffix == ".tmp"
        assert plain != other  # two writers of one file never share a temporary file
        assert suffixed.suffix == ".png" and suffixed.name.startswith(".out.")
        for tmp in (plain, other, suffixed):
            tmp.write_bytes(b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
