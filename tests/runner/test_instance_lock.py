"""One daemon per instance: ``instance_lock`` refuses a second holder, naming the first, and
is free again once the holder is gone — even after ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_defs.runner.instance import InstanceBusy, instance_lock
from pipeline_defs.settings import PROJECT_ROOT, Settings
from tests.backwater_cli import backwater_command, backwater_env

HOLDER = """
import sys, time
from pipeline_defs.runner.instance import instance_lock
from pipeline_defs.settings import Settings
with instance_lock(Settings(data_dir=sys.argv[1]), "test holder"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_holder_is_refused_until_the_first_is_killed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(settings.data_dir)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = rf"test holder \(pid {holder.pid}\)"
        with pytest.raises(InstanceBusy, match=busy), instance_lock(settings, "second"):
            pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with instance_lock(settings, "after the kill"):  # the OS released the dead holder's lock
        text = (settings.dagster_home / "backwater.lock").read_text()
        assert text == f"after the kill (pid {os.getpid()})"


def test_backwater_run_refuses_an_instance_in_use(tmp_path: Path, source_data: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    env = backwater_env(settings.data_dir)
    with instance_lock(settings, "backwater ui on port 3000"):
        refused = subprocess.run(
            backwater_command("run", str(source_data / "usgs_iv")),
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"in use by backwater ui on port 3000 (pid {os.getpid()})" in refused.stdout
    assert "dagster-daemon started" not in refused.stdout
    assert not (settings.data_dir / "landing").exists()  # it touched nothing
