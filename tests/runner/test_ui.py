"""``backwater ui`` under SIGTERM or ``kill -9`` stops ``dagster dev`` and everything it started
(webserver, daemon, code servers): nothing is left running on the instance, and the port is
closed — also when it was started as a shell's background job, with SIGINT ignored."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from pipeline_defs.settings import PROJECT_ROOT
from tests.backwater_cli import backwater_command, backwater_env

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    with socket.socket() as client:
        client.settimeout(1)
        return client.connect_ex(("127.0.0.1", port)) == 0


def _as_a_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `cmd &` in a script does
    os.setsid()


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_ui_stops_everything_it_started(tmp_path: Path, stop_with: int) -> None:
    port = _free_port()
    env = backwater_env(tmp_path / "data")
    ui = subprocess.Popen(
        backwater_command("ui", "--port", str(port)),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_as_a_background_job,
    )
    try:
        deadline = time.time() + 180
        while not _answers(port):
            assert ui.poll() is None and time.time() < deadline, "the UI never answered"
            time.sleep(1)
        tree = psutil.Process(ui.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in tree)
        assert "dagster_webserver" in names and "dagster._daemon" in names, names[:2000]

        ui.send_signal(stop_with)
        ui.wait(timeout=60)
        _, alive = psutil.wait_procs(tree, timeout=45)
        assert alive == [], [" ".join(p.cmdline())[:120] for p in alive]
        assert not _answers(port)
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)
