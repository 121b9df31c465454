"""``safetynet reconcile FILE`` as a real subprocess: a funds-platform export against the aid chain, with each
kind of discrepancy, unreadable rows, the locality, month and aid-type options, and a clean month."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import person, register
from governance_support import grant
from safetynet.api.ids import decode
from safetynet.model import Role

HEADER = "household_id,aid_type,month,amount\n"


@pytest.fixture
async def chain(gql, key):
    """Four Tianjin households and one in Zhangye with their aid; numeric ids by name."""
    admin = key(Role.ADMIN)
    households = {}
    for name, locality in (
        ("H1", "120101001"),
        ("H2", "120101001"),
        ("H3", "120101002"),
        ("H4", "120101002"),
        ("Z", "620702001"),
    ):
        households[name] = await register(gql, admin, localityCode=locality, members=[person()])
    monthly = {"oneOffAmount": None}
    for name, aid in (
        ("H1", {"aidTypeCode": "dibao", "startedOn": "2024-01-01", "monthlyAmount": "500.00", **monthly}),
        (
            "H2",
            {
                "aidTypeCode": "tekun",
                "startedOn": "2024-03-01",
                "endedOn": "2024-05-01",
                "monthlyAmount": "900.00",
                **monthly,
            },
        ),
        ("H3", {"aidTypeCode": "dibao", "startedOn": "2024-05-20", "monthlyAmount": "300.00", **monthly}),
        (
            "H4",
            {
                "aidTypeCode": "low_income_family",
                "startedOn": "2024-04-01",
                "monthlyAmount": "200.00",
                **monthly,
            },
        ),
        ("H4", {"aidTypeCode": "temporary", "startedOn": "2024-05-10", "oneOffAmount": "500.00"}),
        ("H1", {"aidTypeCode": "medical", "startedOn": "2024-05-03", "oneOffAmount": "1200.00"}),
        ("Z", {"aidTypeCode": "dibao", "startedOn": "2024-01-01", "monthlyAmount": "700.00", **monthly}),
    ):
        await grant(gql, admin, households[name]["id"], **aid)
    return {name: decode(h["id"])[1] for name, h in households.items()} | {"Z_global": households["Z"]["id"]}


@pytest.fixture
def reconcile(database_url, tmp_path: Path, chain):
    """``reconcile(csv_text, *options)`` → (exit code, stdout, stderr) of ``safetynet reconcile``."""
    env = {**os.environ, "SAFETYNET_DATABASE_URL": database_url, "SAFETYNET_SECRET_KEY": "test-secret"}
    for name in ("SAFETYNET_DISABLE_PLUGINS", "SAFETYNET_PLUGINS", "SAFETYNET_PLUGINS_DIR", "SAFETYNET_ENV"):
        env.pop(name, None)

    def run(text: str, *options: str) -> tuple[int, str, str]:
        export = tmp_path / "export.csv"
        export.write_text(text, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "safetynet.cli", "reconcile", str(export), *options],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout, done.stderr

    return run


def rows(ids: dict, *lines: tuple[str, str, str, str]) -> str:
    return HEADER + "".join(f"{ids.get(h, h)},{aid},{month},{amount}\n" for h, aid, month, amount in lines)


def discrepancies(stdout: str) -> set[tuple]:
    report = json.loads(stdout)
    return {
        (d["kind"], d["householdId"], d["aidType"], d["month"], d["paid"], d["approved"])
        for d in report["discrepancies"]
    }


async def test_a_clean_month_exits_zero(reconcile, chain):
    export = rows(
        chain,
        ("H1", "dibao", "2024-04", "500.00"),
        ("H2", "tekun", "2024-04", "900"),
        ("H4", "low_income_family", "2024-04", "200.00"),
    )
    code, out, _ = reconcile(export, "--locality", "120101", "--month", "2024-04")
    assert code == 0, out
    assert "0 paid not approved, 0 approved not paid, 0 amount mismatches, 0 unreadable rows" in out
    assert "clean" in out

    # without --locality, Zhangye's unpaid dibao is a discrepancy
    code, out, _ = reconcile(export, "--month", "2024-04", "--format", "json")
    assert code == 1
    assert discrepancies(out) == {("APPROVED_NOT_PAID", chain["Z"], "dibao", "2024-04", "0.00", "700.00")}


async def test_each_kind_of_discrepancy_and_unreadable_rows(reconcile, chain):
    export = rows(
        chain,
        ("H1", "dibao", "2024-05", "500.00"),  # matches
        ("H2", "tekun", "2024-05", "900.00"),  # ended on 1 May: paid, not approved
        ("H4", "low_income_family", "2024-05", "200.00"),  # matches
        ("H4", "temporary", "2024-05", "300.00"),  # two payments of a 500.00 one-off: 750.00
        ("H4", "temporary", "2024-05", "450.00"),
        ("999999", "dibao", "2024-05", "100.00"),  # no such household
        ("Z_global", "dibao", "2024-05", "700.00"),  # a global ID is read too; outside --locality
        ("H1", "dibao", "2024-13", "500.00"),
        ("H1", "lottery", "2024-05", "500.00"),
        ("H1", "dibao", "2024-05", "12.345"),
        ("abc", "dibao", "2024-05", "1.00"),
    )
    code, out, err = reconcile(export, "--locality", "120101", "--format", "json")
    assert code == 1, err
    report = json.loads(out)
    assert discrepancies(out) == {
        ("PAID_NOT_APPROVED", chain["H2"], "tekun", "2024-05", "900.00", "0.00"),
        ("PAID_NOT_APPROVED", 999999, "dibao", "2024-05", "100.00", "0.00"),
        (
            "APPROVED_NOT_PAID",
            chain["H3"],
            "dibao",
            "2024-05",
            "0.00",
            "300.00",
        ),  # from the 20th: the full month
        ("AMOUNT_MISMATCH", chain["H4"], "temporary", "2024-05", "750.00", "500.00"),
    }
    by_household = {d["householdId"]: d for d in report["discrepancies"]}
    assert by_household[999999]["note"] == "no such household"
    assert (
        by_household[chain["H4"]]["lines"] == [5, 6] and by_household[chain["H4"]]["difference"] == "250.00"
    )
    assert len(by_household[chain["H3"]]["aidRecordIds"]) == 1
    assert [(b["line"], b["message"].split(" ")[0]) for b in report["badRows"]] == [
        (9, "month"),
        (10, "aid_type"),
        (11, "amount:"),
        (12, "household_id"),
    ]
    summary = report["summary"]
    assert summary["rows"] == 11 and summary["badRows"] == 4 and summary["clean"] is False
    assert summary["skipped"] == {"households outside the locality": 1}
    assert summary["discrepancies"] == {"PAID_NOT_APPROVED": 2, "APPROVED_NOT_PAID": 1, "AMOUNT_MISMATCH": 1}
    assert "medical" not in summary["aidTypes"]  # a medical-security aid, not paid by civil affairs' funds

    table = reconcile(export, "--locality", "120101")[1]
    assert "2 paid not approved, 1 approved not paid, 1 amount mismatches, 4 unreadable rows" in table
    assert "no such household" in table and "NOT clean" in table


async def test_options_choose_aid_types_and_month(reconcile, chain):
    export = rows(chain, ("H1", "dibao", "2024-05", "500.00"), ("H1", "dibao", "2024-04", "1.00"))
    code, out, _ = reconcile(
        export,
        "--aid-type",
        "medical",
        "--aid-type",
        "dibao",
        "--locality",
        "120101001",
        "--month",
        "2024-05",
        "--format",
        "json",
    )
    assert code == 1
    assert discrepancies(out) == {("APPROVED_NOT_PAID", chain["H1"], "medical", "2024-05", "0.00", "1200.00")}
    assert json.loads(out)["summary"]["skipped"] == {"other months": 1}

    code, _, err = reconcile(export, "--aid-type", "lottery")
    assert code == 2 and "lottery" in err and err.startswith("error:")
    assert reconcile(export, "--month", "May")[0] == 2
    assert reconcile(export, "--locality", "12")[0] == 2
    code, _, err = reconcile("household,aid,month\n1,dibao,2024-05\n")
    assert code == 2 and "missing" in err and "amount" in err
