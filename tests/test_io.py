"""Atomic output: files and folders appear complete or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from core.io import atomic_dir, atomic_open, atomic_write_bytes, atomic_write_text, save_npy_atomic


class Boom(Exception):
    pass


def siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_text_creates_parents_and_writes_exact_text(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "out.txt"
    atomic_write_text(path, "héllo\r\nworld\n")
    assert path.read_bytes() == "héllo\r\nworld\n".encode()  # no newline translation
    assert siblings(path.parent) == ["out.txt"]  # no temporary file left behind


def test_write_bytes_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    atomic_write_bytes(path, b"\x00new\xff")
    assert path.read_bytes() == b"\x00new\xff"
    assert siblings(tmp_path) == ["out.bin"]


def test_written_file_has_normal_permissions(tmp_path: Path) -> None:
    # mkstemp makes 0600 files; outputs must be readable like any other file.
    path = tmp_path / "out.txt"
    atomic_write_text(path, "x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(Boom):
        with atomic_open(path, "w") as file:
            file.write("half of the new")
            raise Boom
    assert path.read_text() == "old"
    assert siblings(tmp_path) == ["out.txt"]


def test_failed_write_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(Boom):
        with atomic_open(tmp_path / "new.txt", "wb") as file:
            file.write(b"x")
            raise Boom
    assert siblings(tmp_path) == []


def test_atomic_open_rejects_other_modes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "x", "a"):  # type: ignore[arg-type]
            pass


def test_save_npy_atomic_round_trip_without_suffix_change(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.int16).reshape(3, 4)
    path = tmp_path / "arr.data"
    save_npy_atomic(path, array)
    assert siblings(tmp_path) == ["arr.data"]  # np.save would have written arr.data.npy
    loaded = np.load(path)
    assert loaded.dtype == np.int16
    np.testing.assert_array_equal(loaded, array)


def test_save_npy_atomic_refuses_object_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="object"):
        save_npy_atomic(tmp_path / "a.npy", np.array([{}, None], dtype=object))
    assert siblings(tmp_path) == []


def test_atomic_dir_creates_folder_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_dir(target) as folder:
        assert folder != target and folder.parent == tmp_path and folder.is_dir()
        assert not target.exists()  # nothing visible until the block completes
        (folder / "a.txt").write_text("a")
    assert siblings(target) == ["a.txt"]
    assert siblings(tmp_path) == ["out"]


def test_atomic_dir_replaces_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.txt").write_text("stale")
    (target / "sub").mkdir()
    with atomic_dir(target) as folder:
        (folder / "fresh.txt").write_text("fresh")
    assert siblings(target) == ["fresh.txt"]
    assert siblings(tmp_path) == ["out"]  # the old folder was deleted, not left aside


def test_atomic_dir_failure_keeps_old_folder_and_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(Boom):
        with atomic_dir(target) as folder:
            (folder / "new.txt").write_text("new")
            raise Boom
    assert siblings(target) == ["old.txt"]
    assert (target / "old.txt").read_text() == "old"
    assert siblings(tmp_path) == ["out"]


def test_atomic_dir_failure_without_old_folder_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(Boom):
        with atomic_dir(tmp_path / "out") as folder:
            (folder / "x").write_text("x")
            raise Boom
    assert siblings(tmp_path) == []


def test_atomic_dir_refuses_to_replace_a_file(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("a file")
    with pytest.raises(InputError, match="not a folder") as info:
        with atomic_dir(target):
            pass
    assert info.value.path == str(target)
    assert target.read_text() == "a file"


def test_atomic_dir_creates_missing_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out"
    with atomic_dir(target) as folder:
        (folder / "x").write_text("x")
    assert (target / "x").read_text() == "x"
