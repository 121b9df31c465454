"""The ``safetynet`` command as a process, on a test database (servers: ``matching_support``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def environment(database_url: str, **variables: str) -> dict[str, str]:
    """The environment for a ``safetynet`` process on ``database_url`` (development, secret ``test-secret``
    as the test runtimes use, no plugin options inherited), with ``variables`` (``SAFETYNET_`` prefixed)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SAFETYNET_")}
    env.update(
        SAFETYNET_DATABASE_URL=database_url, SAFETYNET_SECRET_KEY="test-secret", SAFETYNET_ENV="development"
    )
    env.update({f"SAFETYNET_{name.upper()}": value for name, value in variables.items()})
    return env


def safetynet(
    *args: str, env: dict[str, str], ok: bool = True, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run ``safetynet ARGS`` as a process; ``ok`` asserts it succeeded."""
    result = subprocess.run(
        [sys.executable, "-m", "safetynet.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=180,
    )
    if ok:
        assert result.returncode == 0, f"safetynet {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result
