"""The Dagster instance Backwater runs on: DAGSTER_HOME under data/, configured by dagster.yaml."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from pipeline_defs.settings import PROJECT_ROOT, Settings

WORKSPACE = PROJECT_ROOT / "workspace.yaml"
INSTANCE_CONFIG = PROJECT_ROOT / "dagster.yaml"


def prepare_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME with a link to the repository's dagster.yaml; export it."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    if not (link.is_symlink() and link.resolve() == INSTANCE_CONFIG.resolve()):
        link.unlink(missing_ok=True)
        try:
            link.symlink_to(INSTANCE_CONFIG)
        except OSError:
            shutil.copyfile(INSTANCE_CONFIG, link)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def settings_env(settings: Settings) -> dict[str, str]:
    """Every setting as its ``BACKWATER_*`` variable, so subprocesses see exactly these settings."""
    env = {}
    for name, value in settings.model_dump(mode="json").items():
        text = json.dumps(value) if isinstance(value, list | bool) else str(value)
        env[f"BACKWATER_{name.upper()}"] = text
    return env


def dagster_env(settings: Settings) -> dict[str, str]:
    """Environment for Dagster subprocesses: this DAGSTER_HOME and this process's settings."""
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(settings.dagster_home)
    env.update(settings_env(settings))
    return env


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def start_daemon(settings: Settings, log_path: Path) -> subprocess.Popen:
    """Start ``dagster-daemon run`` on this workspace; its output goes to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 — owned by the child for its lifetime
    return subprocess.Popen(
        [_bin("dagster-daemon"), "run", "-w", str(WORKSPACE)],
        cwd=PROJECT_ROOT,
        env=dagster_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_terminate_with_parent,
    )


def _terminate_with_parent() -> None:
    """In the child: ask Linux for SIGTERM when the parent dies, so a killed ``backwater run``
    never leaves its daemon running (a second daemon on one instance is not supported)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the parent's signal handlers still stop the daemon
        pass


PR_SET_PDEATHSIG = 1


def stop_daemon(daemon: subprocess.Popen, timeout: float = 30) -> None:
    if daemon.poll() is not None:
        return
    os.killpg(daemon.pid, signal.SIGTERM)
    try:
        daemon.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()


def run_webserver(settings: Settings, port: int) -> int:
    """``dagster dev`` (webserver + daemon) on this workspace and instance; blocks."""
    prepare_dagster_home(settings)
    command = [_bin("dagster"), "dev", "-w", str(WORKSPACE), "-p", str(port)]
    return subprocess.call(command, cwd=PROJECT_ROOT, env=dagster_env(settings))
