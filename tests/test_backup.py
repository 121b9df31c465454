"""``safetynet backup OUT`` and ``safetynet restore IN`` as real subprocesses, on SQLite (online backup)
and PostgreSQL (pg_dump / pg_restore, into a second scratch database).

A county's households are registered, a department feed ingested and the sweep run; the backup is taken
while a writer keeps registering households, restored into a fresh database, and compared with the
original: every table's rows (a consistent snapshot: the writer's households whole or not at all) and a
GraphQL read of a household with its decrypted identity numbers, warnings and assessments.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, inspect, select, table, text
from sqlalchemy.engine import make_url

from conftest import POSTGRES_URL, GraphQL, income, person, register
from crash_support import SAFETYNET, command_env, run
from safetynet.app import create_app
from safetynet.households import register_household
from safetynet.identity import make_id_number
from safetynet.model import Role, Sex
from safetynet.monitoring.sweep import run_sweep
from safetynet.principals import Principal
from safetynet.runtime import Runtime
from safetynet.settings import Settings
from safetynet.store.db import driver_url

INGEST = """mutation($source: String!, $records: [JSON!]!) { ingestRecords(source: $source, records: $records) {
  accepted userErrors { message } } }"""
READ = """query($id: ID!) { household(id: $id) {
  id localityCode residence address version perCapitaMonthlyIncome categories
  members { name idNumber idNumberMasked relation disability }
  warnings { rule level status evidence { code message } }
  assessments { aidType { code } eligible monthlyAmount reasons { code message } }
  aidChain { aidTypeCode provider monthlyAmount startedOn status }
} }"""
WRITER_TABLES = {"households": 1, "members": 2, "incomes": 2}  # rows per household the writer registers


def row_counts(url: str) -> dict[str, int]:
    """Rows in every table of the database."""
    engine = create_engine(driver_url(url, asynchronous=False))
    try:
        with engine.connect() as connection:
            return {
                name: connection.scalar(select(func.count()).select_from(table(name)))
                for name in inspect(connection).get_table_names()
            }
    finally:
        engine.dispose()


@pytest.fixture
def second_url(database_url, tmp_path) -> Iterator[str]:
    """A second, empty database to restore into: a file, or ``<scratch database>_restored`` beside it."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path}/restored.db"
        return
    url = make_url(database_url)
    name = f"{url.database}_restored"
    server = create_engine(driver_url(database_url, asynchronous=False), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


class Writer:
    """Registers households of two members, one transaction each, until stopped: the server writing."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.committed = 0
        self.people = 0
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._write, daemon=True)

    def _write(self) -> None:
        try:
            self._register_until_stopped()
        except BaseException as exc:
            self.error = exc
            raise

    def _register_until_stopped(self) -> None:
        admin = Principal(None, Role.ADMIN)
        while not self.stopping.is_set():
            members = [
                {**self._person("HEAD"), "monthly_incomes": [{"kind": "WAGES", "monthly_amount": "900.00"}]},
                {
                    **self._person("SPOUSE"),
                    "monthly_incomes": [{"kind": "PENSION", "monthly_amount": "300.00"}],
                },
            ]
            data = {"locality_code": "120101002", "residence": "RURAL", "members": members}
            self.runtime.database.run(
                lambda s, data=data: register_household(
                    s,
                    data,
                    principal=admin,
                    localities=self.runtime.localities,
                    vault=self.runtime.vault,
                    today=self.runtime.today(),
                )
            )
            self.committed += 1

    def _person(self, relation: str) -> dict[str, Any]:
        self.people += 1  # a new identity number each time, in a region the other households do not use
        born = date(1950, 1, 1) + timedelta(days=self.people // 400)
        number = make_id_number("120102", born, self.people % 400, Sex.FEMALE)
        return {"name": "王芳", "id_number": number, "relation": relation}

    def wait_beyond(self, committed: int) -> None:
        """Wait until the writer has committed more than ``committed`` households."""
        while self.committed <= committed:
            assert self.thread.is_alive(), f"the writer stopped: {self.error!r}"
            threading.Event().wait(0.01)

    def __enter__(self) -> Writer:
        self.thread.start()
        self.wait_beyond(0)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        self.thread.join(30)


async def county(gql: GraphQL, key: str, runtime: Runtime) -> tuple[str, list[str]]:
    """Households, a medical feed about one of them and a sweep; → (that household's id, its id numbers)."""
    head = person(monthlyIncomes=income("600.00"), disability="LEVEL_1")
    child = person("CHILD", born=runtime.today() - timedelta(days=9 * 365))
    poor = await register(gql, key, members=[head, child], address="和平路 3 号")
    for i in range(4):
        await register(gql, key, members=[person(monthlyIncomes=income(f"{1500 + 500 * i}.00"))])
    bill = {
        "recordId": "MI-1",
        "idNumber": head["idNumber"],
        "date": str(runtime.today() - timedelta(days=10)),
        "kind": "INPATIENT",
        "totalCost": "90000.00",
        "outOfPocket": "60000.00",
    }
    ingested = (await gql.ok(INGEST, {"source": "medical_insurance", "records": [bill]}, key=key))[
        "ingestRecords"
    ]
    assert ingested == {"accepted": 1, "userErrors": []}
    await asyncio.to_thread(run_sweep, runtime, loop=asyncio.get_running_loop())
    return poor["id"], [head["idNumber"], child["idNumber"]]


@pytest.fixture
async def read_from() -> AsyncIterator[Any]:
    """``read_from(url, key, household_id)`` → the GraphQL READ of a household on another database."""
    started: list[Runtime] = []

    async def read(url: str, key: str, household_id: str) -> dict:
        runtime = Runtime.start(Settings(database_url=url, secret_key="test-secret"))
        started.append(runtime)
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return (await GraphQL(client).ok(READ, {"id": household_id}, key=key))["household"]

    yield read
    for runtime in started:
        await runtime.database.dispose()


async def test_a_backup_taken_while_writing_restores_to_the_same_households(
    runtime, gql, admin_key, database_url, second_url, read_from, tmp_path
):
    household_id, numbers = await county(gql, admin_key, runtime)
    original = (await gql.ok(READ, {"id": household_id}, key=admin_key))["household"]
    assert [m["idNumber"] for m in original["members"]] == numbers
    assert original["warnings"] and original["assessments"]
    before = row_counts(database_url)
    out = tmp_path / "safetynet.backup"

    with Writer(runtime) as writer:
        started_at = writer.committed
        made = run([*SAFETYNET, "backup", str(out)], command_env(database_url), tmp_path)
        writer.wait_beyond(writer.committed)  # still writing after the backup
    assert made.returncode == 0, made.stderr
    assert f"to {out} (" in made.stdout and "SAFETYNET_SECRET_KEY" in made.stdout
    assert started_at >= 1

    restored = run([*SAFETYNET, "restore", str(out)], command_env(second_url), tmp_path)
    assert restored.returncode == 0, restored.stderr
    copy = row_counts(second_url)
    written = copy["households"] - before["households"]  # the writer's households in the snapshot
    assert started_at <= written <= writer.committed
    assert (
        f"restored {out} into " in restored.stdout and f": {copy['households']} households" in restored.stdout
    )
    assert copy == {
        name: rows + WRITER_TABLES.get(name, 0) * written for name, rows in before.items()
    }  # every table, and the writer's households whole: one consistent snapshot
    assert (await read_from(second_url, admin_key, household_id)) == original

    # A database holding data is not overwritten without --force; with it, it becomes the backup.
    refused = run([*SAFETYNET, "restore", str(out)], command_env(database_url), tmp_path)
    assert refused.returncode == 1
    assert "error: the target database" in refused.stderr and "is not empty (" in refused.stderr
    assert "households: " in refused.stderr and "use --force to overwrite it" in refused.stderr
    assert row_counts(database_url)["households"] == before["households"] + writer.committed
    forced = run([*SAFETYNET, "restore", "--force", str(out)], command_env(database_url), tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert row_counts(database_url) == copy
    assert (await gql.ok(READ, {"id": household_id}, key=admin_key))["household"] == original


def test_backup_and_restore_refuse_what_they_cannot_do(runtime, database_url, second_url, tmp_path):
    env = command_env(database_url)
    out = tmp_path / "first.backup"
    assert run([*SAFETYNET, "backup", str(out)], env, tmp_path).returncode == 0
    again = run([*SAFETYNET, "backup", str(out)], env, tmp_path)
    assert again.returncode == 1 and f"error: {out} already exists" in again.stderr
    nowhere = run([*SAFETYNET, "backup", str(tmp_path / "no" / "such.backup")], env, tmp_path)
    assert nowhere.returncode == 1 and "does not exist" in nowhere.stderr
    assert not list(tmp_path.glob("*.partial"))

    target = command_env(second_url)
    missing = run([*SAFETYNET, "restore", str(tmp_path / "nothing.backup")], target, tmp_path)
    assert missing.returncode == 1 and "no such file" in missing.stderr
    (tmp_path / "notes.txt").write_text("not a backup")
    wrong = run([*SAFETYNET, "restore", str(tmp_path / "notes.txt")], target, tmp_path)
    assert wrong.returncode == 1 and "is not a safetynet backup" in wrong.stderr
    other = tmp_path / "other.backup"
    if POSTGRES_URL:
        sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
        message = "is an SQLite backup: restore it into an SQLite database"
    else:
        other.write_bytes(b"PGDMP" + bytes(100))
        message = "is a PostgreSQL dump: restore it into a PostgreSQL database"
    mismatched = run([*SAFETYNET, "restore", str(other)], target, tmp_path)
    assert mismatched.returncode == 1 and message in mismatched.stderr
    assert row_counts(second_url).get("households", 0) == 0  # nothing was restored

    unsupported = run([*SAFETYNET, "backup", str(tmp_path / "x")], command_env("mysql://db/x"), tmp_path)
    assert unsupported.returncode == 1 and "is not supported" in unsupported.stderr


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="needs SAFETYNET_TEST_DATABASE_URL pointing at PostgreSQL")
async def test_postgres_passwords_stay_out_of_output_and_a_broken_dump_restores_nothing(
    runtime, gql, admin_key, database_url, second_url, tmp_path
):
    await register(gql, admin_key)
    password = "do-not-print-me"
    with_password = make_url(database_url).set(password=password).render_as_string(hide_password=False)
    out = tmp_path / "pg.backup"
    made = run([*SAFETYNET, "backup", str(out)], command_env(with_password), tmp_path)
    assert made.returncode == 0, made.stderr
    assert password not in made.stdout + made.stderr and ":***@" in made.stdout
    unreachable = make_url(with_password).set(port=1).render_as_string(hide_password=False)
    failed = run([*SAFETYNET, "backup", str(tmp_path / "x")], command_env(unreachable), tmp_path)
    assert failed.returncode == 1 and "error: pg_dump failed:" in failed.stderr
    assert password not in failed.stdout + failed.stderr

    assert run([*SAFETYNET, "restore", str(out)], command_env(second_url), tmp_path).returncode == 0
    restored = row_counts(second_url)
    broken = tmp_path / "broken.backup"
    broken.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    refused = run([*SAFETYNET, "restore", "--force", str(broken)], command_env(second_url), tmp_path)
    assert refused.returncode == 1 and "nothing was restored" in refused.stderr
    assert row_counts(second_url) == restored  # the failed restore was rolled back, tables and all
