import errno
import os
import stat

import pytest

from helpers._io import atomic_path, ensure_writable_dir
from helpers.errors import WorkbookError

from .conftest import leftover_files


def test_atomic_write_and_permissions(tmp_path):
    target = tmp_path / "out" / "a.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("complete")
    assert target.read_text() == "complete"
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode & 0o044, "readable by group/others as with a plain open() under a normal umask"
    assert leftover_files(tmp_path) == [target]


def test_refuses_to_overwrite(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(WorkbookError, match="already exists; pass overwrite=True"):
        with atomic_path(target) as tmp:
            tmp.write_text("new")
    assert target.read_text() == "old"


def test_exception_inside_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("writer crashed")
    assert leftover_files(tmp_path) == []


def test_disk_full_is_one_line(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WorkbookError) as info:
        with atomic_path(tmp_path / "c.txt") as tmp:
            tmp.write_text("x")
    assert "no space left on the device" in str(info.value) and "\n" not in str(info.value)
    monkeypatch.undo()
    assert leftover_files(tmp_path) == []


def test_directory_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(WorkbookError, match="exists and is not a directory"):
        ensure_writable_dir(blocker)
