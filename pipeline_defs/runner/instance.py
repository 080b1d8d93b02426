"""The Dagster instance Backwater runs on: DAGSTER_HOME under data/, configured by dagster.yaml.

Promise: at most one daemon per instance. ``backwater run`` and ``backwater ui`` each start one,
so each holds ``instance_lock`` (an OS file lock, released when the process dies, even by
``kill -9``) for as long as its daemon lives; a second one is refused with the holder's pid.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

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


class InstanceBusy(RuntimeError):
    """Another Backwater process runs a daemon on this instance."""


@contextmanager
def instance_lock(settings: Settings, purpose: str) -> Iterator[None]:
    """Hold the instance's lock for ``purpose`` ("backwater run", "backwater ui"), or raise
    ``InstanceBusy`` naming the process that holds it."""
    path = settings.dagster_home / "backwater.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise InstanceBusy(
                f"the Dagster instance {settings.dagster_home} is in use by {holder}; one daemon "
                f"per instance: stop that process first, or give this one its own "
                f"BACKWATER_DATA_DIR"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{purpose} (pid {os.getpid()})")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    never leaves its daemon running (a second daemon on one instance is not supported).

    SIGINT and SIGTERM are reset to their defaults first: a shell starts a background job with
    SIGINT ignored, the child would inherit that, and Dagster then ignores SIGTERM too."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the parent's signal handlers still stop the daemon
        pass


PR_SET_PDEATHSIG = 1


def stop_daemon(daemon: subprocess.Popen, timeout: float = 30) -> None:
    stop_process_tree(daemon, signal.SIGTERM, timeout)


def run_webserver(settings: Settings, port: int) -> int:
    """``dagster dev`` (webserver + daemon) on this workspace and instance; blocks.

    However this process ends (Ctrl-C, SIGTERM, an error), ``dagster dev`` and everything it
    started are stopped with it; ``kill -9`` of this process makes Linux send them SIGTERM."""
    prepare_dagster_home(settings)
    command = [_bin("dagster"), "dev", "-w", str(WORKSPACE), "-p", str(port)]
    with instance_lock(settings, f"backwater ui on port {port}"):
        dev = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=dagster_env(settings),
            start_new_session=True,
            preexec_fn=_terminate_with_parent,
        )
        try:
            return dev.wait()
        finally:
            stop_process_tree(dev)


def stop_process_tree(
    process: subprocess.Popen, stop_signal: int = signal.SIGINT, timeout: float = 30
) -> None:
    """``stop_signal`` for the whole group of ``process`` (started with ``start_new_session``;
    ``dagster dev`` shuts down cleanly on Ctrl-C, ``dagster-daemon`` on SIGTERM), then SIGKILL
    for whatever of its tree is still alive after ``timeout``."""
    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.Error:
        tree = []
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, stop_signal)
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    for leftover in alive:
        with suppress(psutil.Error):
            leftover.kill()
    process.wait()
