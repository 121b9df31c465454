"""Crash tests: run a ``safetynet`` command against the test database and SIGKILL it part-way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

SAFETYNET = [sys.executable, "-m", "safetynet.cli"]


def command_env(database_url: str, **variables: str) -> dict[str, str]:
    """The environment of a command on the test database: only the plugins ``variables`` choose."""
    env = {**os.environ, "SAFETYNET_DATABASE_URL": database_url, "SAFETYNET_SECRET_KEY": "test-secret"}
    for name in ("SAFETYNET_DISABLE_PLUGINS", "SAFETYNET_PLUGINS", "SAFETYNET_PLUGINS_DIR"):
        env.pop(name, None)
    return {**env, **variables}


def run(command: Sequence[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to the end (two minutes at most)."""
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def kill_when(
    command: Sequence[str],
    env: dict[str, str],
    cwd: Path,
    ready: Callable[[], bool],
    *,
    timeout: float = 60,
) -> None:
    """Start ``command`` and SIGKILL it as soon as ``ready()`` holds (checked every 20 ms while it runs).

    Fails when the command ends, or ``timeout`` seconds pass, before ``ready()`` does. Its output goes to
    a file, not a pipe, so a chatty progress bar cannot stall it on a full pipe.
    """
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not ready():
                if process.poll() is not None:
                    output.seek(0)
                    raise AssertionError(f"the command ended before it could be killed:\n{output.read()}")
                assert time.monotonic() < deadline, f"not ready to be killed after {timeout} s"
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL, f"exit code {process.returncode}, not killed"
