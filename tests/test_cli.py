"""The ``safetynet`` command, run as a real subprocess against a temporary SQLite database."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run(tmp_path: Path):
    """``run("migrate")`` → the finished process; its own database and secret, run in ``tmp_path``."""
    env = {
        **os.environ,
        "SAFETYNET_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
        "SAFETYNET_SECRET_KEY": "test-secret",
        "SAFETYNET_ENV": "development",
    }
    for name in ("SAFETYNET_DISABLE_PLUGINS", "SAFETYNET_PLUGINS", "SAFETYNET_PLUGINS_DIR"):
        env.pop(name, None)

    def invoke(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "safetynet.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        if ok:
            assert result.returncode == 0, (
                f"safetynet {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    return invoke


def count_rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_migrate_twice_is_idempotent(run, tmp_path: Path):
    first = run("migrate")
    assert "migrated" in first.stdout
    second = run("migrate")
    assert "already at revision" in second.stdout
    assert count_rows(tmp_path / "t.db", "localities") >= 2


def test_keys_create_prints_the_key_last(run, tmp_path: Path):
    run("migrate")
    created = run("keys", "create", "--role", "ADMIN", "--label", "ops")
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("sn_") and " " not in key
    scoped = run("keys", "create", "--role", "civil_affairs", "--locality", "120101")
    assert scoped.stdout.strip().splitlines()[-1].startswith("sn_")
    assert count_rows(tmp_path / "t.db", "api_keys") == 2


def test_keys_create_without_scope_or_with_a_bad_role_fails_and_writes_nothing(run, tmp_path: Path):
    run("migrate")
    missing = run("keys", "create", "--role", "CIVIL_AFFAIRS", ok=False)
    assert missing.returncode == 2
    assert "--locality" in missing.stderr and "Traceback" not in missing.stderr
    assert "sn_" not in missing.stdout
    bad_role = run("keys", "create", "--role", "MAYOR", ok=False)
    assert bad_role.returncode == 2 and "--role" in bad_role.stderr
    assert count_rows(tmp_path / "t.db", "api_keys") == 0


def test_plugins_lists_what_each_plugin_provides(run):
    listed = run("plugins").stdout
    assert "aid.dibao" in listed and "dibao" in listed
    assert "tianjin" in listed and "120000" in listed
    without = run("--disable-plugin", "aid.dibao", "plugins").stdout
    assert "最低生活保障" not in without and "aid.dibao" not in without
    assert "tianjin" in without


def test_an_unknown_plugin_is_a_one_line_error(run):
    result = run("--disable-plugin", "no.such", "plugins", ok=False)
    assert result.returncode != 0
    assert "no.such" in result.stderr and result.stderr.startswith("error:")
    assert "Traceback" not in result.stderr


def test_generate_writes_households_and_feeds(run, tmp_path: Path):
    out = tmp_path / "data"
    result = run("generate", "--households", "50", "--out", str(out), "--seed", "3")
    lines = (out / "households.jsonl").read_text().splitlines()
    assert len(lines) == 50
    codes = {json.loads(line)["localityCode"] for line in lines}
    assert all(len(code) in (9, 12) for code in codes)
    assert {code[:2] for code in codes} <= {"12", "31", "62", "64"}  # under the seed localities
    feeds = sorted((out / "feeds").glob("*.jsonl"))
    assert len(feeds) == 7, [p.name for p in feeds]
    assert sum(len(p.read_text().splitlines()) for p in feeds) > 0
    assert "took" in result.stdout


def test_demo_loads_once_and_prints_a_new_key_each_time(run, tmp_path: Path):
    db = tmp_path / "t.db"
    first = run("demo", "--households", "30", "--no-serve", "--port", "8123")
    assert count_rows(db, "households") == 30
    assert "http://127.0.0.1:8123/graphql" in first.stdout
    keys = [word for word in first.stdout.split() if word.startswith("sn_")]
    assert keys, first.stdout
    second = run("demo", "--households", "30", "--no-serve")
    assert count_rows(db, "households") == 30
    again = [word for word in second.stdout.split() if word.startswith("sn_")]
    assert again and again[0] != keys[0]
    assert count_rows(db, "api_keys") == 2


def test_schema_prints_only_the_sdl(run):
    result = run("schema")
    assert "type Query {" in result.stdout
    assert result.stdout.endswith("}\n") and not result.stdout.endswith("\n\n")
    assert "migrated" not in result.stdout
