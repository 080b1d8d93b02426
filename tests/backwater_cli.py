"""How the end-to-end tests start the ``backwater`` CLI: this interpreter, this checkout, and the
settings as ``BACKWATER_*`` variables on top of the test's own environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def backwater_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline_defs.cli", *args]


def backwater_env(data_dir: Path, source_data: Path | None = None, **settings: object) -> dict:
    """``os.environ`` plus ``BACKWATER_DATA_DIR`` (and source data) and each setting given."""
    env = dict(os.environ, BACKWATER_DATA_DIR=str(data_dir))
    if source_data is not None:
        env["BACKWATER_SOURCE_DATA_DIR"] = str(source_data)
    env.update({f"BACKWATER_{name.upper()}": str(value) for name, value in settings.items()})
    return env
