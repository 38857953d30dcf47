"""Atomic writers: a failed write leaves the previous file and no temporary, and says why in one line."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import BinaryIO

import pytest

from treemtl.atomic import write_json_atomic, write_text_atomic
from treemtl.errors import TreeMTLError


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_full_disk_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "table.csv"
    target.write_text("old\n")

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(TreeMTLError, match=r"table\.csv: cannot write \(No space left on device\)"):
        write_text_atomic(target, "new\n")
    assert target.read_text() == "old\n" and _temporaries(tmp_path) == []


def test_failure_while_writing_removes_the_temporary(tmp_path: Path) -> None:
    """A writer failing half-way (here a figure or torch.save hitting an I/O error) leaves nothing."""
    from treemtl.atomic import _write_atomic

    def write(handle: BinaryIO) -> None:
        handle.write(b"half")
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with pytest.raises(TreeMTLError, match=r"out\.bin: cannot write \(Input/output error\)"):
        _write_atomic(tmp_path / "out.bin", write)
    assert _temporaries(tmp_path) == [] and not (tmp_path / "out.bin").exists()


def test_target_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "out.json").mkdir()
    with pytest.raises(TreeMTLError, match=r"out\.json: cannot write \(it is a folder, expected a file path\)"):
        write_json_atomic(tmp_path / "out.json", {})
    assert _temporaries(tmp_path) == []


def test_target_under_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "results").write_text("not a folder\n")
    with pytest.raises(TreeMTLError, match=r"results is a file, expected a folder"):
        write_text_atomic(tmp_path / "results" / "deep" / "out.csv", "x\n")


def test_folder_that_cannot_be_created() -> None:
    with pytest.raises(TreeMTLError, match=r"/proc/treemtl-no-such/out\.csv: cannot write .*cannot create folder /proc/treemtl-no-such"):
        write_text_atomic("/proc/treemtl-no-such/out.csv", "x\n")
