"""Bulk loading (safetynet.store.bulk): the same rows as registration, invalid records skipped with
registration's reasons, and the columnar read afterwards sees the incomes the input gave."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select

from safetynet.cli import snake_keys, synthetic_areas
from safetynet.errors import InputErrors
from safetynet.households import register_household
from safetynet.identity import make_id_number
from safetynet.model import Role, Sex, yuan_to_fen
from safetynet.principals import Principal
from safetynet.store.bulk import LoadSummary, Unreadable, load_households
from safetynet.store.columns import household_filter, load_batch
from safetynet.store.load_command import load
from safetynet.store.models import Asset, Household, Income, Member, RigidExpense
from safetynet.synthetic import households

ADMIN = Principal(key_id=None, role=Role.ADMIN)


def _synthetic(runtime, n: int, seed: int = 3) -> list[dict]:
    today = runtime.today()
    return list(households(n, synthetic_areas(runtime, today), seed=seed, as_of=today))


def _register_all(runtime, records: list[dict]) -> None:
    def work(session):  # type: ignore[no-untyped-def]
        for record in records:
            register_household(
                session,
                snake_keys(record),
                principal=ADMIN,
                localities=runtime.localities,
                vault=runtime.vault,
                today=runtime.today(),
            )

    runtime.database.run(work)


def _snapshot(runtime) -> list[tuple[Any, ...]]:
    """Every household with its members, incomes, assets and expenses, without ids and timestamps
    (identity numbers decrypted, since each encryption has its own nonce)."""
    vault = runtime.vault

    def work(session) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
        out = []
        for household in session.scalars(select(Household).order_by(Household.id)):
            members = session.scalars(
                select(Member).where(Member.household_id == household.id).order_by(Member.id)
            ).all()
            position = {m.id: i for i, m in enumerate(members)}
            incomes = session.scalars(
                select(Income).where(Income.household_id == household.id).order_by(Income.id)
            ).all()
            assets = session.scalars(
                select(Asset).where(Asset.household_id == household.id).order_by(Asset.id)
            ).all()
            expenses = session.scalars(
                select(RigidExpense)
                .where(RigidExpense.household_id == household.id)
                .order_by(RigidExpense.id)
            ).all()
            out.append(
                (
                    household.locality_code,
                    household.residence,
                    household.address,
                    household.version,
                    household.created_at is not None,
                    household.updated_at is not None,
                    [
                        (
                            m.name,
                            vault.decrypt(m.id_number_encrypted),
                            m.id_number_encrypted[:5],  # format version and key id
                            m.id_number_hash,
                            m.id_number_masked,
                            m.birth_date,
                            m.sex,
                            m.relation,
                            m.disability,
                            m.illness,
                            m.labor_capacity,
                            m.employment,
                            m.education_stage,
                            m.self_care_unable_mask,
                            m.deceased_on,
                        )
                        for m in members
                    ],
                    [
                        (position[i.member_id], i.kind, i.monthly_amount_fen, i.valid_from, i.valid_to)
                        for i in incomes
                    ],
                    [(a.kind, a.value_fen, a.valid_from, a.valid_to) for a in assets],
                    [(e.kind, e.annual_amount_fen, e.valid_from, e.valid_to) for e in expenses],
                )
            )
        return out

    return runtime.database.run(work)


def _delete_households(runtime) -> None:
    def work(session) -> None:  # type: ignore[no-untyped-def]
        for model in (Income, Asset, RigidExpense, Member, Household):
            session.execute(delete(model))

    runtime.database.run(work)


@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "forked-producer"])
def test_bulk_load_writes_what_registration_writes(runtime, parallel):
    records = _synthetic(runtime, 300)
    _register_all(runtime, records)
    registered = _snapshot(runtime)
    _delete_households(runtime)

    summary = load_households(
        runtime.database,
        runtime.vault,
        records,
        today=runtime.today(),
        batch_size=64,
        localities=runtime.localities,
        parallel=parallel,
    )
    loaded = _snapshot(runtime)

    members = sum(len(r["members"]) for r in records)
    assert summary == LoadSummary(
        households=300,
        members=members,
        incomes=sum(len(m["monthlyIncomes"]) for r in records for m in r["members"]),
        assets=sum(len(r["assets"]) for r in records),
        rigid_expenses=sum(len(r["rigidExpenses"]) for r in records),
    )
    assert len(loaded) == len(registered) == 300
    for bulk_row, registered_row in zip(loaded, registered, strict=True):
        assert bulk_row == registered_row
    # the synthetic data exercises what matters: self-care masks, several incomes, assets, expenses
    assert any(m[13] for h in loaded for m in h[6])
    assert any(h[8] for h in loaded) and any(h[9] for h in loaded)


def test_bulk_ids_follow_existing_rows_and_the_orm_reads_them(runtime):
    first, second = _synthetic(runtime, 2, seed=5), _synthetic(runtime, 3, seed=6)
    _register_all(runtime, first)
    load_households(runtime.database, runtime.vault, second, today=runtime.today(), parallel=False)
    _register_all(runtime, _synthetic(runtime, 1, seed=7))  # the sequences/rowids go on after the bulk rows

    def work(session):  # type: ignore[no-untyped-def]
        loaded = session.scalars(select(Household).order_by(Household.id)).all()
        return [(h.id, [m.name for m in h.members]) for h in loaded]

    rows = runtime.database.run(work)
    assert [i for i, _ in rows] == sorted({i for i, _ in rows}) and len(rows) == 6
    assert [names for _, names in rows[2:5]] == [[m["name"] for m in r["members"]] for r in second]


def _member(number: str, relation: str = "HEAD", **facts: Any) -> dict:
    return {"name": "王芳", "idNumber": number, "relation": relation, **facts}


def _household(*members: dict, **fields: Any) -> dict:
    return {"localityCode": "120101001", "residence": "URBAN", "members": list(members), **fields}


def test_invalid_records_are_skipped_with_registrations_reasons(runtime):
    from datetime import date

    today = runtime.today()
    ids = iter(range(1, 400))

    def number(sex: Sex = Sex.FEMALE) -> str:
        return make_id_number("120101", date(1970, 3, 4), next(ids), sex)

    def ending_in_x() -> str:
        while not (candidate := number(Sex.MALE)).endswith("X"):
            pass
        return candidate

    registered = number()
    _register_all(runtime, [_household(_member(registered))])
    shared = number()
    bad_check = number()
    bad_check = bad_check[:17] + ("0" if bad_check[17] != "0" else "1")
    records: list[Any] = [
        _household(_member(number(), monthlyIncomes=[{"kind": "WAGES", "monthlyAmount": "1200.50"}])),  # 0 ok
        _household(_member(bad_check)),  # 1
        _household(_member(number(), "BOSS")),  # 2
        _household(_member(number()), _member(number())),  # 3 two heads
        _household(_member(shared), _member(number(), "CHILD", selfCare={"eating": True})),  # 4 self-care
        _household(_member(number(), monthlyIncomes=[{"kind": "WAGES", "monthlyAmount": "12.345"}])),  # 5
        _household(_member(registered)),  # 6 in the database already
        _household(_member(shared)),  # 7 repeats record 4's person (who is skipped with it)
        Unreadable("line 9 is not JSON"),  # 8
        _household(_member(number()), localityCode="999999001"),  # 9 no such locality
        _household(_member(number(), name="  "), address="x" * 301),  # 10
        snake_keys(_household(_member(number(), "HEAD", laborCapacity="PARTIAL"))),  # 11 ok, snake_case
        _household(_member("  " + ending_in_x().lower() + " ")),  # 12 ok: spaces and a lower-case x
        "not a household",  # 13
    ]
    summary = load_households(
        runtime.database,
        runtime.vault,
        records,
        today=today,
        batch_size=5,
        localities=runtime.localities,
        parallel=False,
    )

    reasons = {r.index: r.reason for r in summary.rejected}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 8, 9, 10, 13]
    assert summary.skipped == len(reasons)
    assert summary.households == len(records) - summary.skipped
    assert "members.0.idNumber: identity number check digit should be" in reasons[1]
    assert reasons[2].startswith("members.0.relation: 'BOSS' is not one of HEAD")
    assert "exactly one member must be the HEAD (户主); found 2" in reasons[3]
    assert reasons[4].startswith("members.1.selfCare.dressing: true (can do it alone) or false is required")
    assert "more than two decimal places" in reasons[5]
    assert (
        reasons[6]
        == "members.0.idNumber: this person is already registered in a household; update that household instead"
    )
    assert reasons[8] == "line 9 is not JSON"
    assert "is not under any configured locality" in reasons[9]
    assert "members.0.name: must not be empty" in reasons[10] and "address: is longer than 300" in reasons[10]
    assert reasons[13] == "a household must be a JSON object"
    # record 7 repeats record 4's person, but record 4 was skipped, so record 7 is loaded
    assert 7 not in reasons

    # the reasons are registration's, word for word
    for index in (1, 2, 3, 5, 9, 10):
        with pytest.raises(InputErrors) as raised:
            runtime.database.run(
                lambda s, index=index: register_household(
                    s,
                    snake_keys(records[index]),
                    principal=ADMIN,
                    localities=runtime.localities,
                    vault=runtime.vault,
                    today=today,
                )
            )
        assert str(raised.value) == reasons[index]

    count = runtime.database.run(lambda s: s.scalar(select(func.count()).select_from(Household)))
    assert count == 1 + summary.households


def test_a_person_twice_in_the_input_keeps_the_first_household(runtime):
    records = _synthetic(runtime, 12, seed=11)
    again = json.loads(json.dumps(records[2]))
    again["address"] = "另一个地址"
    # once in the same batch, once in a later batch (found by the database's unique hash)
    summary = load_households(
        runtime.database,
        runtime.vault,
        [*records[:4], again, *records[4:], again],
        today=runtime.today(),
        batch_size=5,
    )
    assert [r.index for r in summary.rejected] == [4, 13]
    assert all("already registered" in r.reason for r in summary.rejected)
    assert summary.households == 12
    addresses = runtime.database.run(lambda s: s.scalars(select(Household.address)).all())
    assert "另一个地址" not in addresses


def test_load_batch_reads_the_incomes_of_the_input(runtime):
    records = _synthetic(runtime, 250, seed=8)
    load_households(runtime.database, runtime.vault, records, today=runtime.today(), batch_size=100)
    batch = runtime.database.run(lambda s: load_batch(s, runtime.today(), household_filter()))
    assert len(batch) == 250

    expected_total = [
        sum(yuan_to_fen(i["monthlyAmount"]) for m in r["members"] for i in m["monthlyIncomes"])
        for r in records
    ]
    expected_members = [len(r["members"]) for r in records]
    index = batch.members.household_index
    totals = np.bincount(index, weights=batch.members.monthly_income_fen, minlength=len(batch)).astype(
        np.int64
    )
    counts = np.bincount(index, minlength=len(batch))
    assert totals.tolist() == expected_total
    assert counts.tolist() == expected_members
    assert [t / c for t, c in zip(totals, counts, strict=True)] == [
        t / c for t, c in zip(expected_total, expected_members, strict=True)
    ]
    assert batch.locality_code.tolist() == [r["localityCode"] for r in records]
    kinds = Counter(a["kind"] for r in records for a in r["assets"])
    assert {k.name: int((v > 0).sum()) for k, v in batch.assets_fen.items()} == dict(kinds)


def test_load_command(runtime, tmp_path, monkeypatch):
    records = _synthetic(runtime, 40, seed=9)
    path = tmp_path / "households.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines.insert(3, "{not json")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("SAFETYNET_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", "test-secret")
    result = CliRunner().invoke(load, [str(path), "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    assert "loaded 40 households" in result.output
    assert "skipped 1" in result.output and "line 4:" in result.output
    count = runtime.database.run(lambda s: s.scalar(select(func.count()).select_from(Household)))
    assert count == 40

    missing = CliRunner().invoke(load, [str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "error: cannot read" in missing.output


def _same_batch(a: Any, b: Any, path: str = "batch") -> None:
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert np.array_equal(
            a.view(np.int64) if a.dtype.kind == "M" else a, b.view(np.int64) if b.dtype.kind == "M" else b
        ), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _same_batch(a[key], b[key], f"{path}[{key}]")
    elif hasattr(a, "__dataclass_fields__"):
        for name in a.__dataclass_fields__:
            _same_batch(getattr(a, name), getattr(b, name), f"{path}.{name}")
    else:
        assert a == b, path


def test_load_batch_reads_an_id_range_and_a_list_of_ids_alike(runtime):
    """A dense batch is read by id range (rows of other households dropped), a sparse one by subquery:
    either way each household gets exactly the rows it gets in a batch of all households."""
    records = _synthetic(runtime, 120, seed=12)
    load_households(runtime.database, runtime.vault, records, today=runtime.today(), parallel=False)
    ids = runtime.database.run(lambda s: s.scalars(select(Household.id).order_by(Household.id)).all())
    today = runtime.today()
    every = runtime.database.run(lambda s: load_batch(s, today, household_filter()))
    _same_batch(
        runtime.database.run(lambda s: load_batch(s, today, household_filter(id_range=(ids[0], ids[-1])))),
        every,
    )
    for chosen in ([i for n, i in enumerate(ids) if n % 4], ids[::5], ids[7:8], []):
        batch = runtime.database.run(
            lambda s, c=chosen: load_batch(s, today, household_filter(household_ids=c))
        )
        assert batch.household_id.tolist() == chosen
        rows = np.searchsorted(every.household_id, chosen).astype(np.int64)
        of_chosen = np.isin(every.members.household_index, rows)
        assert batch.members.member_id.tolist() == every.members.member_id[of_chosen].tolist()
        assert (
            batch.members.household_index.tolist()
            == np.searchsorted(rows, every.members.household_index[of_chosen]).tolist()
        )
        for name in ("age", "relation", "monthly_income_fen", "earned_income_fen", "self_care_unable"):
            assert (
                getattr(batch.members, name).tolist() == getattr(every.members, name)[of_chosen].tolist()
            ), name
        for kind, column in every.assets_fen.items():
            if column[rows].any():
                assert batch.assets_fen[kind].tolist() == column[rows].tolist()
        assert batch.income_changed_on.tolist() == every.income_changed_on[rows].tolist()
        assert batch.locality_code.tolist() == every.locality_code[rows].tolist()
