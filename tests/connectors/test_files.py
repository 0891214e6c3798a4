"""Files replaced whole: a reader sees the old version or the new one."""

from pathlib import Path

import pytest

from connectors.files import replace_bytes, replace_whole


def test_a_file_is_replaced_whole_and_no_staging_file_stays(tmp_path: Path):
    path = tmp_path / "CURRENT"
    replace_bytes(path, b"build-1\n")
    replace_bytes(path, b"build-2\n")
    assert path.read_bytes() == b"build-2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT"]


def test_a_write_that_fails_half_way_leaves_the_old_version_and_nothing_else(tmp_path: Path):
    path = tmp_path / "ranks.npy"
    replace_bytes(path, b"old")

    def half_then_fail(file) -> None:
        file.write(b"half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_whole(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ranks.npy"]


def test_an_unwritable_folder_raises_the_writers_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        replace_bytes(tmp_path / "missing" / "CURRENT", b"x")
