"""Crash safety of ``safetynet ingest SOURCE FILE``: killed (SIGKILL) part-way through a large feed and run
again, it ends with exactly the signals an uninterrupted run stores: none lost, none twice, the same links
to registered members. (The sweep's crash test is in test_sweep.py; both use crash_support.)"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from conftest import person, register
from crash_support import SAFETYNET, command_env, kill_when, run
from safetynet.cli_monitoring import CHUNK
from safetynet.identity import make_id_number
from safetynet.model import Sex
from safetynet.store.models import SignalRow

SOURCE = "human_resources"
RECORDS = 2 * CHUNK + CHUNK // 2  # three transactions: the kill lands after the first is committed
REJECTED = (7, CHUNK + 11, RECORDS - 3)  # positions of records the source refuses
REPEATED = (5, CHUNK + 20)  # records sent again at the end of the file


def feed(path: Path, registered: list[str]) -> int:
    """A JSON-lines feed of ``RECORDS`` records (plus the repeats); returns how many are stored."""
    lines = []
    for i in range(RECORDS):
        if i < len(registered):
            number = registered[i]
        else:
            number = make_id_number(
                "120101", date(1950, 1, 1) + timedelta(days=i // 400), i % 400, Sex.FEMALE
            )
        event = "FIRED" if i in REJECTED else ("UNEMPLOYED" if i % 3 else "EMPLOYED")
        record = {"recordId": f"HR-{i}", "idNumber": number, "date": "2026-10-01", "event": event}
        if event == "EMPLOYED":
            record["monthlyWage"] = f"{2000 + i % 1000}.00"
        lines.append(json.dumps(record))
    lines += [lines[i] for i in REPEATED]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return RECORDS - len(REJECTED)


def signals(runtime: Any) -> list[tuple]:
    """Every stored signal without its id and arrival time, in record order."""

    def work(session: Any) -> list[tuple]:
        return sorted(
            (
                s.source,
                s.record_id,
                s.kind,
                s.id_number_hash,
                s.member_id,
                s.household_id,
                s.occurred_on,
                s.amount_fen,
                s.value,
                json.dumps(s.payload, sort_keys=True),
            )
            for s in session.scalars(select(SignalRow))
        )

    return runtime.database.run(work)


def stored_count(runtime: Any) -> int:
    return runtime.database.run(lambda s: s.scalar(select(func.count()).select_from(SignalRow)))


async def test_an_ingest_killed_part_way_and_run_again_stores_what_an_uninterrupted_one_does(
    runtime, gql, admin_key, database_url, tmp_path
):
    heads = [person() for _ in range(3)]
    for head in heads:
        await register(gql, admin_key, members=[head])
    expected = feed(tmp_path / "hr.jsonl", [h["idNumber"] for h in heads])
    env = command_env(database_url)
    command = [*SAFETYNET, "ingest", SOURCE, str(tmp_path / "hr.jsonl")]

    kill_when(command, env, tmp_path, ready=lambda: stored_count(runtime) >= CHUNK)
    at_kill = stored_count(runtime)
    assert CHUNK <= at_kill < expected  # killed after a committed chunk, before the end

    again = run(command, env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"accepted:   {expected - at_kill} (" in again.stdout
    assert f"duplicates: {at_kill + len(REPEATED)}" in again.stdout
    assert f"rejected:   {len(REJECTED)}" in again.stdout
    resumed = signals(runtime)
    assert len(resumed) == expected
    assert len({(s[0], s[1]) for s in resumed}) == expected  # no record twice
    assert sum(s[4] is not None for s in resumed) == len(heads)  # linked to the registered members

    runtime.database.run(lambda s: s.execute(delete(SignalRow)))
    uninterrupted = run(command, env, tmp_path)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert f"accepted:   {expected} ({len(heads)} matched" in uninterrupted.stdout
    assert signals(runtime) == resumed
