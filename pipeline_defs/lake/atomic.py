"""Crash-safe file replacement: write to a temporary name, fsync, rename, fsync the folder.

After ``atomic_write`` returns, the file at ``path`` holds the new content and survives a power cut;
if the process dies at any point before that, ``path`` holds its previous content (or does not
exist) and at worst a ``.tmp-*`` file is left behind, which the next ``atomic_write`` of the same
path cleans up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], None]) -> int:
    """Call ``write(tmp_path)``, then make the result durable at ``path``; returns its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".tmp-{path.name}-*"):
        stale.unlink(missing_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{os.getpid()}"
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        size = tmp.stat().st_size
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return size
