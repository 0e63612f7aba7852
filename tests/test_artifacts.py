"""Atomic artifact writes: all or nothing, and readable like any other file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from reelrec.artifacts import atomic_path, atomic_write_text


def test_a_failed_write_leaves_neither_target_nor_temp(tmp_path: Path) -> None:
    target = tmp_path / "report.html"

    def write_then_fail() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    target = tmp_path / "report.html"
    atomic_write_text(target, "<html></html>")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert target.read_text() == "<html></html>"
