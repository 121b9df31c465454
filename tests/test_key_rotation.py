"""Rotating the identity encryption key (密钥轮换): ``safetynet keys rotate-identity`` re-encrypts every
``*_encrypted`` value in batches and carries on after an interruption; old keys decrypt until it is done;
lookup hashes do not change, so duplicate checks and department records still find people. Through the
command as a process, GraphQL reads and writes, and a server that refuses a changed lookup key."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import httpx
from sqlalchemy import select

from command_line import ROOT, environment, safetynet
from conftest import GraphQL, person, register
from matching_support import free_port, start_process_server, stop_process
from safetynet.app import create_app
from safetynet.identity import IdentityVault
from safetynet.runtime import Runtime
from safetynet.settings import Settings
from safetynet.store.models import Member, PartnerWebhook, SignalRow

OLD, NEW, STRAY = "test-secret", "new-secret", "stray-secret"  # OLD is the test runtimes' secret
MEMBERS = "{ households(first: 100) { edges { node { members { idNumber } } } } }"
INGEST = """mutation($records: [JSON!]!) { ingestRecords(source: "human_resources", records: $records) {
  accepted userErrors { message } } }"""
WEBHOOK = """mutation($input: RegisterWebhookInput!) { registerWebhook(input: $input) {
  secret userErrors { message } } }"""


@asynccontextmanager
async def api(database_url: str, secret_key: str, lookup_key: str | None = OLD) -> AsyncIterator[GraphQL]:
    """The GraphQL API of a server configured with these secrets (the database is already migrated)."""
    runtime = Runtime.start(Settings(database_url=database_url, secret_key=secret_key, lookup_key=lookup_key))
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield GraphQL(client)
    await runtime.database.dispose()


def hr_record(record_id: str, number: str) -> dict:
    return {
        "recordId": record_id,
        "idNumber": number,
        "date": "2026-10-01",
        "event": "EMPLOYED",
        "monthlyWage": "3200.00",
    }


async def id_numbers(gql: GraphQL, key: str) -> set[str]:
    data = await gql.ok(MEMBERS, key=key)
    return {m["idNumber"] for edge in data["households"]["edges"] for m in edge["node"]["members"]}


def key_ids(runtime) -> set[str]:
    blobs = runtime.database.run(lambda s: list(s.scalars(select(Member.id_number_encrypted))))
    return {IdentityVault.key_id_of(blob) for blob in blobs}


async def test_rotation_reencrypts_in_batches_resumes_and_keeps_lookups(
    runtime, database_url, gql, admin_key
):
    # Before: households, a webhook secret and a department record of someone not registered, all under OLD.
    for _ in range(4):
        await register(gql, admin_key, members=[person(), person("SPOUSE", born=date(1982, 2, 2))])
    async with api(database_url, f"{STRAY},{OLD}") as stray:  # a server that ran with another key once
        await register(stray, admin_key)
    webhook = (
        await gql.ok(
            WEBHOOK,
            {"input": {"url": "http://127.0.0.1:9/hook", "partnerCode": "trade_union_310105"}},
            key=admin_key,
        )
    )["registerWebhook"]
    newcomer = person("HEAD", born=date(1990, 6, 6))
    assert (await gql.ok(INGEST, {"records": [hr_record("hr-1", newcomer["idNumber"])]}, key=admin_key))[
        "ingestRecords"
    ]["accepted"] == 1
    async with api(database_url, f"{OLD},{STRAY}") as both:
        originals = await id_numbers(both, admin_key)
    assert len(originals) == 9

    old_vault, new_vault = (IdentityVault([s]) for s in (OLD, NEW))
    stray_id = IdentityVault([STRAY]).current_key_id
    assert key_ids(runtime) == {old_vault.current_key_id, stray_id}

    # 1. Rotation without the stray key: it stops at the stray value, keeping the batches before it.
    rotating = environment(database_url, secret_key=f"{NEW},{OLD}", lookup_key=OLD)
    stopped = safetynet("keys", "rotate-identity", "--batch-size", "1", env=rotating, ok=False)
    assert stopped.returncode == 1
    assert (
        f"key (id {stray_id}) that is not configured" in stopped.stderr
        and "nothing more was changed" in stopped.stderr
    )
    assert "members.id_number_encrypted: 1 re-encrypted" in stopped.stdout
    assert key_ids(runtime) == {new_vault.current_key_id, stray_id}  # 8 rotated, then the stray one

    # Mid-rotation, values under three keys all read back while the old keys are listed.
    everything = f"{NEW},{OLD},{STRAY}"
    async with api(database_url, everything) as mid:
        assert await id_numbers(mid, admin_key) == originals

    # 2. Interrupted at any point (killed after its first batch), then run again: it carries on.
    complete = environment(database_url, secret_key=everything, lookup_key=OLD)
    command = [sys.executable, "-m", "safetynet.cli", "keys", "rotate-identity", "--batch-size", "1"]
    killed = subprocess.Popen(command, env=complete, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert killed.stdout is not None and killed.stdout.readline().startswith("current key id")
    killed.stdout.readline()
    killed.kill()
    killed.wait(30)
    killed.stdout.close()
    finished = safetynet("keys", "rotate-identity", "--batch-size", "2", env=complete).stdout
    assert "members.id_number_encrypted: 9 under the current key" in finished
    assert "partner_webhooks.secret_encrypted: 1 under the current key" in finished
    assert "every value is under the current key" in finished
    assert key_ids(runtime) == {new_vault.current_key_id}
    check = safetynet(
        "keys", "rotate-identity", "--check", env=environment(database_url, secret_key=NEW, lookup_key=OLD)
    )
    assert "members.id_number_encrypted: 9 under the current key\n" in check.stdout

    # 3. After: only the new secret (and the unchanged lookup key) is configured.
    async with api(database_url, NEW) as after:
        assert await id_numbers(after, admin_key) == originals
        again = await after(
            "mutation($input: RegisterHouseholdInput!) { registerHousehold(input: $input) { userErrors { code } } }",
            {
                "input": {
                    "localityCode": "120101001",
                    "residence": "URBAN",
                    "members": [{**person(), "idNumber": sorted(originals)[0]}],
                }
            },
            key=admin_key,
        )
        # the same lookup hash as before the rotation: the person is known
        assert again["data"]["registerHousehold"]["userErrors"] == [{"code": "ALREADY_REGISTERED"}]
        await register(after, admin_key, members=[newcomer])  # the earlier department record finds them
        known = sorted(originals)[1]
        assert (await after.ok(INGEST, {"records": [hr_record("hr-2", known)]}, key=admin_key))[
            "ingestRecords"
        ]["accepted"] == 1
    signals = runtime.database.run(
        lambda s: {row.record_id: row.member_id for row in s.scalars(select(SignalRow))}
    )
    assert signals.keys() == {"hr-1", "hr-2"} and None not in signals.values()
    stored_secret = runtime.database.run(lambda s: s.scalar(select(PartnerWebhook.secret_encrypted)))
    assert new_vault.decrypt(stored_secret) == webhook["secret"]
    async with api(database_url, OLD) as stale:  # the old key alone no longer reads anything
        body = await stale(MEMBERS, key=admin_key)
        assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"


async def test_a_changed_lookup_key_is_refused_before_anything_is_written(
    runtime, database_url, gql, admin_key, tmp_path
):
    await register(gql, admin_key)
    before = runtime.database.run(lambda s: list(s.scalars(select(Member.id_number_encrypted))))
    wrong = environment(database_url, secret_key=f"{NEW},{OLD}", lookup_key=NEW)
    refused = safetynet("keys", "rotate-identity", env=wrong, ok=False)
    assert refused.returncode == 1
    assert "lookup hashes were made with another secret: set SAFETYNET_LOOKUP_KEY" in refused.stderr
    assert runtime.database.run(lambda s: list(s.scalars(select(Member.id_number_encrypted)))) == before

    port = free_port()
    log = tmp_path / "server.log"
    server = start_process_server(port, {k: v for k, v in wrong.items() if k.startswith("SAFETYNET_")}, log)
    try:
        assert server.wait(60) != 0
    finally:
        stop_process(server)
    assert "not serving: the identity numbers' lookup hashes were made with another secret" in log.read_text()


def test_several_secrets_need_the_lookup_key(runtime, database_url):
    result = safetynet("keys", "list", env=environment(database_url, secret_key=f"{NEW},{OLD}"), ok=False)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: SAFETYNET_LOOKUP_KEY must be set while SAFETYNET_SECRET_KEY lists several secrets"
    )
