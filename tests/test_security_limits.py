"""Security checks of docs/security.md (issue 6): the query depth, alias and token limits over HTTP, a
production start without SAFETYNET_SECRET_KEY, SQL metacharacters stored and filtered literally, and
backups holding no plain identity number; through the app over HTTP and ``safetynet`` as a process."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from graphql.language import Lexer, Source, TokenKind

from command_line import environment, safetynet
from conftest import POSTGRES_URL, admin_of, graphql_for, person, register

# -- depth, aliases and tokens ---------------------------------------------------------------------

DEPTH, ALIASES, TOKENS = 12, 30, 5000


def nested(depth: int) -> str:
    """A query ``depth`` fields deep: a township and its ``parent`` chain."""
    return '{ locality(code: "120101001") { ' + "parent { " * (depth - 1) + "code" + " }" * depth + " }"


def aliased(count: int) -> str:
    """A query with ``count`` aliases."""
    return "{ " + " ".join(f"a{i}: health" for i in range(count)) + " }"


def tokens(count: int) -> str:
    """A query of exactly ``count`` tokens: an audit log filter with a long list of actions."""
    return "{ auditLog(filter: {actions: [" + ' "x"' * (count - 16) + " ]}) { totalCount } }"


def token_count(query: str) -> int:
    lexer, count = Lexer(Source(query)), 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


@pytest.mark.parametrize(
    ("make", "limit", "refusal"),
    [
        (nested, DEPTH, f"'anonymous' exceeds maximum operation depth of {DEPTH}"),
        (aliased, ALIASES, f"{ALIASES + 1} aliases found. Allowed: {ALIASES}"),
        (tokens, TOKENS, f"Syntax Error: Document contains more than {TOKENS} tokens. Parsing aborted."),
    ],
    ids=["depth", "aliases", "tokens"],
)
async def test_queries_over_the_depth_alias_and_token_limits_are_refused_naming_the_limit(
    make_runtime, make, limit, refusal
):
    runtime = make_runtime(env="production")
    admin = admin_of(runtime)
    assert token_count(tokens(TOKENS)) == TOKENS
    async with graphql_for(runtime) as gql:
        at_the_limit = await gql.ok(make(limit), key=admin)
        over = await gql(make(limit + 1), key=admin)
    assert at_the_limit
    assert over.get("data") is None
    assert [error["message"] for error in over["errors"]] == [refusal]


# -- production needs its secret -------------------------------------------------------------------


def test_production_refuses_to_serve_without_a_secret_key(tmp_path):
    env = environment(f"sqlite:///{tmp_path}/safetynet.db", env="production")
    del env["SAFETYNET_SECRET_KEY"]
    result = safetynet("serve", env=env, ok=False, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: SAFETYNET_SECRET_KEY must be set in production (it encrypts identity numbers)"
    ]
    assert list(tmp_path.iterdir()) == []  # no database, no development secret file


# -- SQL metacharacters ----------------------------------------------------------------------------

INJECTION = "'; DROP TABLE households; --"
NAMES = [INJECTION, "100% _x_ \\n", "\"双引号\" 'single' `tick`"]
ADDRESS = "和平路 3 号 %; _ \\ '\" " + INJECTION
READ = "query($id: ID!) { household(id: $id) { address members { name } } }"
COUNT = "query($f: HouseholdFilter) { households(filter: $f) { totalCount } }"


async def test_sql_metacharacters_are_stored_and_filtered_literally(gql, admin_key):
    members = [person(name=NAMES[0]), person("SPOUSE", name=NAMES[1]), person("CHILD", name=NAMES[2])]
    household = await register(gql, admin_key, members=members, address=ADDRESS)
    await register(gql, admin_key, localityCode="120101002")
    read = (await gql.ok(READ, {"id": household["id"]}, key=admin_key))["household"]
    assert read == {"address": ADDRESS, "members": [{"name": name} for name in NAMES]}
    assert (await gql.ok(COUNT, key=admin_key))["households"]["totalCount"] == 2  # no table was dropped

    # localityCode is the households' only text filter: a prefix match (LIKE) on digits only.
    township = await gql.ok(COUNT, {"f": {"localityCode": "120101001"}}, key=admin_key)
    assert township["households"]["totalCount"] == 1
    for wildcard in ["%", "_________", "120101%", "12010_001", INJECTION]:
        body = await gql(COUNT, {"f": {"localityCode": wildcard}}, key=admin_key)
        assert body["data"] is None, wildcard
        [error] = body["errors"]
        assert error["message"].startswith(f"filter.localityCode: '{wildcard}' is not an administrative code")


# -- backups ---------------------------------------------------------------------------------------

INGEST = """mutation($source: String!, $records: [JSON!]!) { ingestRecords(source: $source, records: $records) {
  accepted userErrors { message } } }"""


async def test_a_backup_holds_no_plain_identity_number(runtime, gql, admin_key, database_url, tmp_path):
    people = [person(name="备份甲"), person("SPOUSE", name="备份乙")]
    await register(gql, admin_key, members=people)
    stranger = person()["idNumber"]  # a department record of someone not registered: kept as a hash
    bills = [
        {
            "recordId": f"MI-{i}",
            "idNumber": number,
            "date": str(runtime.today() - timedelta(days=10)),
            "kind": "INPATIENT",
            "totalCost": "900.00",
            "outOfPocket": "600.00",
        }
        for i, number in enumerate([people[0]["idNumber"], stranger])
    ]
    ingested = await gql.ok(INGEST, {"source": "medical_insurance", "records": bills}, key=admin_key)
    assert ingested["ingestRecords"] == {"accepted": 2, "userErrors": []}
    out = tmp_path / "safetynet.backup"
    safetynet("backup", str(out), env=environment(database_url), cwd=tmp_path)

    backup = out.read_bytes()
    readable = backup  # an SQLite file keeps text as it is; pg_dump's custom format compresses it
    if POSTGRES_URL:
        sql = subprocess.run(
            ["pg_restore", "--file=-", str(out)], capture_output=True, check=True, timeout=60
        )
        readable = sql.stdout
    assert "备份甲".encode() in readable  # the data is there to read: a plain number would show
    for number in [p["idNumber"] for p in people] + [stranger]:
        for content in (backup, readable):
            assert number[:-4].encode() not in content, number  # nor the number without its last four
