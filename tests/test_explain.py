"""``safetynet explain``: run as a real subprocess on the test database; it says what
Household.assessments(asOf) says."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import income, person, register
from safetynet.api.ids import decode

ASSESSMENTS = """query($id: ID!, $asOf: Date) { household(id: $id) { assessments(asOf: $asOf) {
  aidType { code } eligible monthlyAmount oneOffAmount
  reasons { code message parameters { name localityCode value effectiveFrom source illustrative } } } } }"""


@pytest.fixture
def explain(database_url, tmp_path):
    env = {
        **os.environ,
        "SAFETYNET_DATABASE_URL": database_url,
        "SAFETYNET_SECRET_KEY": "test-secret",
        "SAFETYNET_ENV": "development",
    }
    for name in ("SAFETYNET_DISABLE_PLUGINS", "SAFETYNET_PLUGINS", "SAFETYNET_PLUGINS_DIR"):
        env.pop(name, None)

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "safetynet.cli", "explain", *args],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
        )  # fmt: skip

    return invoke


def _sections(stdout: str) -> dict[str, str]:
    """aid type code → its part of the output."""
    out: dict[str, str] = {}
    for part in stdout.split("\n== ")[1:]:
        out[part.split(" ", 1)[0]] = part
    return out


async def test_explain_prints_what_the_api_assesses(gql, admin_key, runtime, explain):
    created = await register(
        gql, admin_key, members=[person(monthlyIncomes=income("300.00")), person("CHILD", name="张小")]
    )
    as_of = "2025-06-01"
    api = (await gql.ok(ASSESSMENTS, {"id": created["id"], "asOf": as_of}, key=admin_key))["household"]
    number = decode(created["id"])[1]

    by_number = explain(str(number), "--as-of", as_of)
    assert by_number.returncode == 0, by_number.stderr
    by_global_id = explain(created["id"], "--as-of", as_of)
    assert by_global_id.stdout == by_number.stdout

    sections = _sections(by_number.stdout)
    assert (
        set(sections)
        == set(runtime.catalogue.aid_types)
        == {a["aidType"]["code"] for a in api["assessments"]}
    )
    assert any(a["eligible"] for a in api["assessments"])
    for a in api["assessments"]:
        text = sections[a["aidType"]["code"]]
        headline = text.splitlines()[0]
        assert headline.endswith(": ELIGIBLE" if a["eligible"] else ": not eligible"), headline
        assert f"monthly {a['monthlyAmount'] or '-'}  one-off {a['oneOffAmount'] or '-'}" in text
        for reason in a["reasons"]:
            assert f"[{reason['code']}] {reason['message']}" in text
            for p in reason["parameters"]:
                row = next(line for line in text.splitlines() if line.strip().startswith(p["name"] + " "))
                assert p["localityCode"] in row and p["value"] in row and p["effectiveFrom"] in row
                assert row.rstrip().endswith("yes" if p["illustrative"] else "no")
                assert p["source"] in text


async def test_explain_under_another_date_uses_the_parameters_then(gql, admin_key, explain):
    created = await register(gql, admin_key)
    number = str(decode(created["id"])[1])
    result = explain(number, "--as-of", "2022-01-01")
    assert result.returncode == 0, result.stderr
    assert "assessed on 2022-01-01" in result.stdout


async def test_an_unknown_household_is_a_one_line_error_with_exit_2(gql, admin_key, explain):
    await register(gql, admin_key)  # migrated, with one household
    for bad in ("987654", "not-an-id", "TWVtYmVyOjE="):  # the last one is a Member's global ID
        result = explain(bad)
        assert result.returncode == 2, (bad, result.stdout, result.stderr)
        assert result.stdout == ""
        assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
