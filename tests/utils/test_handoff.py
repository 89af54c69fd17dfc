"""The SPS handoff file (issue 14): atomic, and its temp file is created with O_EXCL (no symlink followed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from utils import handoff


def test_the_handoff_holds_the_key_and_one_newline_and_no_temp_file_is_left(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "sps_key.txt"
    handoff.write_handoff(path, "rawdata/azure/sps/2025/12/13/13-00_sps_1.parquet")
    assert path.read_text() == "rawdata/azure/sps/2025/12/13/13-00_sps_1.parquet\n"
    assert [p.name for p in path.parent.iterdir()] == ["sps_key.txt"]


def test_a_symlink_planted_at_the_handoff_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path = tmp_path / "sps_key.txt"
    path.symlink_to(victim)
    handoff.write_handoff(path, "k")
    assert victim.read_text() == "precious\n"
    assert not path.is_symlink() and path.read_text() == "k\n"


def test_a_symlink_planted_at_the_temp_name_is_never_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Make the "random" part predictable for the first attempt only, and plant a symlink under that name.
    names = iter(["planted", "fresh"])
    monkeypatch.setattr(handoff.secrets, "token_hex", lambda _n: next(names))
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path = tmp_path / "sps_key.txt"
    planted = tmp_path / f".sps_key.txt.{os.getpid()}.planted.tmp"
    planted.symlink_to(victim)
    handoff.write_handoff(path, "k")
    assert victim.read_text() == "precious\n"  # O_EXCL refused the planted name; the next name was used
    assert path.read_text() == "k\n" and planted.is_symlink()
