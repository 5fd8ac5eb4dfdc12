"""Artifacts written atomically get the permissions a plain ``open()`` would give (not mkstemp's 0600)."""

from __future__ import annotations

import os
import stat

from synrank.io import _UMASK, atomic_write_text


def test_atomic_write_uses_umask_permissions(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "x")
    plain = tmp_path / "b.txt"
    plain.write_text("x")
    mode = stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode)
    assert mode == stat.S_IMODE(os.stat(plain).st_mode) == 0o666 & ~_UMASK
