"""Department feeds → signals: the seven built-in sources, ingest (validation, idempotence, linking to
members, unmatched people), record files (JSON lines, JSON arrays, CSV), ``ingestRecords`` over GraphQL
with its permissions, and ``safetynet ingest SOURCE FILE`` as a real subprocess."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import assert_foreign_keys_hold, person, register
from safetynet.api.ids import decode
from safetynet.identity import make_id_number
from safetynet.model import Relation, Role, Sex, Signal, UrbanRural
from safetynet.monitoring.ingest import (
    IngestResult,
    RecordFileError,
    UnknownSourceError,
    ingest,
    ingest_file,
    link_unmatched,
    read_records,
)
from safetynet.rules.records import Field, integer, money, record_source
from safetynet.store.models import AuditEntry, Household, Member, SignalRow

SOURCES = (
    "disabled_federation",
    "education",
    "emergency_management",
    "human_resources",
    "medical_insurance",
    "public_security",
    "rural_revitalization",
)
INGEST = """mutation($source: String!, $records: [JSON!]!) { ingestRecords(source: $source, records: $records) {
  accepted duplicates rejected { index recordId message } userErrors { field message code } } }"""
NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
_numbers = iter(range(10**6))


def id_number(born: date = date(1975, 3, 9), sex: Sex = Sex.FEMALE) -> str:
    """A fresh valid identity number nobody has registered (region 120101, like conftest.person)."""
    return make_id_number("120101", born, 499 - next(_numbers) % 400, sex)


def wrong_check_digit(number: str) -> str:
    return number[:17] + ("1" if number[17] != "1" else "2")


BAD_CHECK = wrong_check_digit(make_id_number("120101", date(1975, 3, 9), 10, Sex.FEMALE))


def known_sources(runtime) -> str:
    return ", ".join(sorted(runtime.catalogue.data_sources))


def record(source: str, record_id: str, number: str, **fields: Any) -> dict[str, Any]:
    """A valid record of ``source`` (API.md, "Department records"); ``fields`` override or add."""
    own = {
        "medical_insurance": {"kind": "INPATIENT", "totalCost": "12000.50", "outOfPocket": 4300},
        "human_resources": {"event": "EMPLOYED", "monthlyWage": "3200.00"},
        "public_security": {"event": "DECEASED"},
        "disabled_federation": {"level": 2},
        "education": {"stage": "JUNIOR_SECONDARY", "school": "和平区第一中学"},
        "rural_revitalization": {"event": "WATCH_START"},
        "emergency_management": {"disaster": "FLOOD", "loss": "8000"},
    }[source]
    return {"recordId": record_id, "idNumber": number, "date": "2026-10-01", **own, **fields}


def run_ingest(runtime, source: str, records: list[Any], **options: Any) -> IngestResult:
    return runtime.database.run(
        lambda s: ingest(s, runtime.catalogue, runtime.vault, source, records, received_at=NOW, **options)
    )


def stored(runtime, source: str | None = None) -> list[SignalRow]:
    query = select(SignalRow).order_by(SignalRow.id)
    if source:
        query = query.where(SignalRow.source == source)
    return runtime.database.run(lambda s: list(s.scalars(query)))


# -- the seven sources ----------------------------------------------------------------------------

EXPECTED = {
    "medical_insurance": ("INPATIENT", 430000, None, {"totalCostFen": 1200050}),
    "human_resources": ("EMPLOYED", 320000, None, {}),
    "public_security": ("DECEASED", None, None, {}),
    "disabled_federation": ("DISABILITY_CERTIFIED", None, "LEVEL_2", {}),
    "education": ("ENROLLED", None, "JUNIOR_SECONDARY", {"school": "和平区第一中学"}),
    "rural_revitalization": ("WATCH_START", None, None, {}),
    "emergency_management": ("DISASTER", 800000, "FLOOD", {}),
}


def test_the_seven_sources_are_installed_with_their_departments(runtime):
    sources = {code: p.item for code, p in runtime.catalogue.data_sources.items()}
    assert set(SOURCES) <= set(sources)
    assert {code: sources[code].department for code in SOURCES} == {
        "disabled_federation": "disabled_federation",
        "education": "education",
        "emergency_management": "emergency_management",
        "human_resources": "human_resources",
        "medical_insurance": "medical_security",
        "public_security": "public_security",
        "rural_revitalization": "rural_revitalization",
    }
    assert sources["medical_insurance"].fields == (
        "recordId", "idNumber", "date", "kind", "totalCost", "outOfPocket"
    )  # fmt: skip
    assert runtime.catalogue.data_sources["education"].plugin == "source.education"


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_parses_a_good_record_to_its_signal(runtime, source):
    number = id_number()
    parsed = runtime.catalogue.data_sources[source].item.parse([record(source, "R-1", number.lower())])
    assert parsed.rejected == ()
    kind, amount, value, values = EXPECTED[source]
    assert parsed.signals == (
        (0, Signal("R-1", number, date(2026, 10, 1), kind, amount_fen=amount, value=value, values=values)),
    )


@pytest.mark.parametrize(
    ("source", "fields", "kind", "amount", "value"),
    [
        ("medical_insurance", {"kind": "OUTPATIENT_CHRONIC", "totalCost": 100, "outOfPocket": 99.5}, "OUTPATIENT_CHRONIC", 9950, None),
        ("medical_insurance", {"kind": "OUTPATIENT", "totalCost": "80", "outOfPocket": "80.00"}, "OUTPATIENT", 8000, None),
        ("human_resources", {"event": "UNEMPLOYED", "monthlyWage": None}, "UNEMPLOYED", None, None),
        ("human_resources", {"event": "UNEMPLOYED", "monthlyWage": ""}, "UNEMPLOYED", None, None),
        ("public_security", {"event": "CRIMINAL_PENALTY"}, "CRIMINAL_PENALTY", None, None),
        ("disabled_federation", {"level": "4"}, "DISABILITY_CERTIFIED", None, "LEVEL_4"),
        ("disabled_federation", {"level": 1.0}, "DISABILITY_CERTIFIED", None, "LEVEL_1"),
        ("education", {"stage": "UNIVERSITY", "school": " 南开大学 "}, "ENROLLED", None, "UNIVERSITY"),
        ("rural_revitalization", {"event": "WATCH_END"}, "WATCH_END", None, None),
        ("emergency_management", {"disaster": "冰雹", "loss": 1200.5}, "DISASTER", 120050, "冰雹"),
    ],
)  # fmt: skip
def test_sources_read_json_values_and_csv_strings_alike(runtime, source, fields, kind, amount, value):
    parsed = runtime.catalogue.data_sources[source].item.parse([record(source, "R-2", id_number(), **fields)])
    assert parsed.rejected == ()
    [(_, signal)] = parsed.signals
    assert (signal.kind, signal.amount_fen, signal.value) == (kind, amount, value)
    if source == "education":
        assert signal.values == {"school": "南开大学"}


@pytest.mark.parametrize(
    ("source", "fields", "reasons"),
    [
        ("medical_insurance", {"kind": "inpatient"}, ["kind: 'inpatient' is not one of INPATIENT, OUTPATIENT_CHRONIC, OUTPATIENT"]),
        ("medical_insurance", {"totalCost": "12,000"}, ["totalCost: '12,000' is not an amount in yuan"]),
        ("medical_insurance", {"outOfPocket": "1.005"}, ["outOfPocket: '1.005' has more than two decimal places"]),
        ("medical_insurance", {"outOfPocket": -1}, ["outOfPocket: '-1' is negative"]),
        ("medical_insurance", {"totalCost": "100", "outOfPocket": "100.01"}, ["outOfPocket: 100.01 is more than totalCost 100.00"]),
        ("human_resources", {"event": "RETIRED"}, ["event: 'RETIRED' is not one of UNEMPLOYED, EMPLOYED"]),
        ("human_resources", {"event": ["EMPLOYED"]}, ["event: ['EMPLOYED'] is not one of UNEMPLOYED, EMPLOYED"]),
        ("human_resources", {"monthlyWage": True}, ["monthlyWage: True is not an amount"]),
        ("public_security", {"event": None}, ["event: missing; expected one of DECEASED, CRIMINAL_PENALTY"]),
        ("disabled_federation", {"level": 5}, ["level: 5 is not a whole number from 1 to 4"]),
        ("disabled_federation", {"level": "LEVEL_2"}, ["level: 'LEVEL_2' is not a whole number from 1 to 4"]),
        ("education", {"stage": "NONE"}, ["stage: 'NONE' is not one of PRESCHOOL, PRIMARY"]),
        ("education", {"school": ""}, ["school: missing; expected text of at most 200 characters"]),
        ("rural_revitalization", {"event": "START"}, ["event: 'START' is not one of WATCH_START, WATCH_END"]),
        ("emergency_management", {"loss": None, "disaster": "X" * 65}, ["disaster: is 65 characters long", "loss: missing"]),
        ("public_security", {"date": "2026/10/01"}, ["date: '2026/10/01' is not a date; expected an ISO date YYYY-MM-DD"]),
        ("public_security", {"date": "2026-02-30"}, ["date: '2026-02-30' is not a date"]),
        ("public_security", {"date": "20261001"}, ["date: '20261001' is not a date"]),
        ("public_security", {"idNumber": BAD_CHECK}, ["idNumber: identity number check digit should be"]),
        ("public_security", {"idNumber": "12010119750309"}, ["idNumber: identity number must have 18 characters"]),
        ("public_security", {"idNumber": 120101197503090000}, ["idNumber: 120101197503090000 is not text"]),
        ("public_security", {"recordId": "x" * 129}, ["recordId: is 129 characters long"]),
        ("public_security", {"recordId": "R\x00"}, ["recordId: contains control characters"]),
    ],
)  # fmt: skip
def test_sources_reject_bad_fields_naming_the_field_and_what_is_expected(runtime, source, fields, reasons):
    parsed = runtime.catalogue.data_sources[source].item.parse([record(source, "R-3", id_number(), **fields)])
    assert parsed.signals == ()
    [error] = parsed.rejected
    assert error.index == 0
    for reason in reasons:
        assert reason in error.message, error.message
    assert error.record_id == (None if "recordId" in fields else "R-3")


def test_a_rejected_record_lists_every_problem_at_once(runtime):
    parsed = runtime.catalogue.data_sources["medical_insurance"].item.parse([{"recordId": 7, "kind": "X"}])
    [error] = parsed.rejected
    assert error.record_id == "7"  # a numeric record id is read as its digits
    assert (
        error.message.split(" | ")[0]
        == "idNumber: missing; expected an 18-character resident identity number"
    )
    for field in ("date: missing", "kind: 'X' is not one of", "totalCost: missing", "outOfPocket: missing"):
        assert field in error.message


# -- ingest -----------------------------------------------------------------------------------------


def test_bad_rows_are_rejected_with_index_and_reason_while_the_rest_is_stored(runtime):
    good = [record("medical_insurance", f"MI-{i}", id_number()) for i in range(4)]
    records = [
        good[0],
        {**good[1], "date": "2026-13-01"},  # malformed
        good[2],
        {**good[3], "idNumber": wrong_check_digit(good[3]["idNumber"])},  # bad check digit
        record("medical_insurance", "MI-9", id_number(), kind="SURGERY"),  # unknown enum value
        "MI-10,120101197503090001",  # not an object at all
        record("medical_insurance", "MI-11", id_number()),
    ]
    result = run_ingest(runtime, "medical_insurance", records)
    assert (result.accepted, result.duplicates, result.matched, result.unmatched) == (3, 0, 0, 3)
    assert [(e.index, e.record_id) for e in result.rejected] == [
        (1, "MI-1"),
        (3, "MI-3"),
        (4, "MI-9"),
        (5, None),
    ]
    assert result.rejected[0].message.startswith("date: '2026-13-01' is not a date")
    assert result.rejected[1].message.startswith("idNumber: identity number check digit should be")
    assert result.rejected[2].message.startswith("kind: 'SURGERY' is not one of INPATIENT")
    assert result.rejected[3].message == (
        "record must be an object with the fields recordId, idNumber, date, kind, totalCost, outOfPocket; got text"
    )
    rows = stored(runtime)
    assert sorted(r.record_id for r in rows) == ["MI-0", "MI-11", "MI-2"]
    first = next(r for r in rows if r.record_id == "MI-0")
    assert (first.source, first.kind, first.amount_fen, first.value, first.occurred_on) == (
        "medical_insurance", "INPATIENT", 430000, None, date(2026, 10, 1)
    )  # fmt: skip
    assert first.payload == {"totalCostFen": 1200050}
    assert first.id_number_hash == runtime.vault.lookup_hash(good[0]["idNumber"])
    assert first.member_id is None and first.household_id is None


def test_the_same_records_twice_add_nothing_and_count_as_duplicates(runtime):
    records = [record("public_security", f"PS-{i}", id_number()) for i in range(7)]
    first = run_ingest(runtime, "public_security", [*records, records[2]], batch_size=3)
    assert (first.accepted, first.duplicates, first.rejected) == (7, 1, ())  # a repeat within the input
    again = run_ingest(runtime, "public_security", records, batch_size=3)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 7, ())
    assert len(stored(runtime)) == 7
    # Record ids are per source: another source may use the same ones.
    other = run_ingest(runtime, "rural_revitalization", [record("rural_revitalization", "PS-0", id_number())])
    assert other.accepted == 1


def test_a_record_sent_again_with_new_content_keeps_the_first_version(runtime):
    number = id_number()
    run_ingest(
        runtime,
        "human_resources",
        [record("human_resources", "HR-1", number, event="UNEMPLOYED", monthlyWage=None)],
    )
    result = run_ingest(runtime, "human_resources", [record("human_resources", "HR-1", number)])
    assert (result.accepted, result.duplicates) == (0, 1)
    assert [(r.kind, r.amount_fen) for r in stored(runtime)] == [("UNEMPLOYED", None)]


async def test_records_link_to_registered_members_and_unknown_people_are_kept(runtime, gql, admin_key):
    head, child = person(), person("CHILD", born=date(2012, 6, 1))
    household = await register(gql, admin_key, members=[head, child])
    household_id = decode(household["id"])[1]
    member_ids = [decode(m["id"])[1] for m in household["members"]]
    stranger = id_number()
    result = run_ingest(
        runtime,
        "education",
        [
            record("education", "ED-1", child["idNumber"], stage="PRIMARY"),
            record("education", "ED-2", stranger),
            record("education", "ED-3", head["idNumber"].lower()),  # a lower-case x is the same person
        ],
    )
    assert (result.accepted, result.matched, result.unmatched) == (3, 2, 1)
    rows = {r.record_id: r for r in stored(runtime)}
    child_hash = runtime.vault.lookup_hash(child["idNumber"])
    child_id = runtime.database.run(
        lambda s: s.scalar(select(Member.id).where(Member.id_number_hash == child_hash))
    )
    assert (rows["ED-1"].member_id, rows["ED-1"].household_id) == (child_id, household_id)
    assert set(member_ids) == {rows["ED-1"].member_id, rows["ED-3"].member_id}
    assert rows["ED-3"].household_id == household_id
    assert (rows["ED-2"].member_id, rows["ED-2"].household_id) == (None, None)  # kept, unmatched

    # The stranger registers later: registering links the signal kept for them ("policy finds the person").
    later = await register(gql, admin_key, members=[{**person(), "idNumber": stranger}])
    linked = runtime.database.run(lambda s: s.scalar(select(SignalRow).where(SignalRow.record_id == "ED-2")))
    assert linked.household_id == decode(later["id"])[1]
    assert linked.member_id == decode(later["members"][0]["id"])[1]


@pytest.mark.parametrize("parallel", [True, False])
async def test_a_file_links_its_records_and_the_foreign_key_checks_are_on_again(
    runtime, gql, admin_key, tmp_path, parallel
):
    """ingest_file writes without SQLite's foreign-key checks (its references were just read from the
    members): what it wrote holds, and every pooled connection checks again afterwards."""
    head, child = person(), person("CHILD", born=date(2012, 6, 1))
    household = await register(gql, admin_key, members=[head, child])
    rows = [record("education", f"ED-{i}", id_number()) for i in range(2_500)]
    rows[10]["idNumber"], rows[2_400]["idNumber"] = child["idNumber"], head["idNumber"].lower()
    feed = tmp_path / "education.jsonl"
    feed.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")

    result = ingest_file(
        runtime.database, runtime.catalogue, runtime.vault, "education", feed, received_at=NOW, parallel=parallel
    )
    assert (result.accepted, result.matched, result.unmatched) == (2_500, 2, 2_498)
    linked = {r.record_id: r.household_id for r in stored(runtime) if r.member_id is not None}
    assert linked == {"ED-10": decode(household["id"])[1], "ED-2400": decode(household["id"])[1]}
    assert_foreign_keys_hold(runtime)


def test_link_unmatched_links_people_registered_since_and_counts_them(runtime):
    known, unknown = id_number(), id_number()
    result = run_ingest(
        runtime,
        "disabled_federation",
        [record("disabled_federation", "DF-1", known), record("disabled_federation", "DF-2", unknown)],
    )
    assert (result.accepted, result.unmatched, result.linked) == (2, 2, 0)

    def add_member(session) -> tuple[int, int]:  # a member stored directly, without the registration service
        household = Household(locality_code="120101001", residence=UrbanRural.URBAN)
        session.add(household)
        session.flush()
        member = Member(
            household_id=household.id,
            name="王芳",
            id_number_encrypted=runtime.vault.encrypt(known),
            id_number_hash=runtime.vault.lookup_hash(known),
            id_number_masked="1201**********0000",
            birth_date=date(1975, 3, 9),
            sex=Sex.FEMALE,
            relation=Relation.HEAD,
        )
        session.add(member)
        session.flush()
        return member.id, household.id

    member_id, household_id = runtime.database.run(add_member)
    # Limited to some people (e.g. a household just registered): only theirs are looked at.
    assert runtime.database.run(lambda s: link_unmatched(s, hashes=[runtime.vault.lookup_hash(unknown)])) == 0
    assert runtime.database.run(lambda s: link_unmatched(s, hashes=[runtime.vault.lookup_hash(known.lower())])) == 1
    assert runtime.database.run(lambda s: link_unmatched(s)) == 0  # nothing left that can be linked
    rows = {r.record_id: r for r in stored(runtime)}
    assert (rows["DF-1"].member_id, rows["DF-1"].household_id) == (member_id, household_id)
    assert rows["DF-2"].member_id is None
    # ingest itself runs link_unmatched at the end.
    runtime.database.run(
        lambda s: s.execute(SignalRow.__table__.update().values(member_id=None, household_id=None))
    )
    again = run_ingest(runtime, "public_security", [record("public_security", "PS-1", unknown)])
    assert (again.accepted, again.linked) == (1, 1)


def test_an_unknown_source_is_an_error_listing_the_known_ones(runtime):
    with pytest.raises(UnknownSourceError) as raised:
        run_ingest(runtime, "medical", [])
    assert (
        str(raised.value) == f"no data source 'medical' is installed; known sources: {known_sources(runtime)}"
    )


def test_progress_batches_and_indexes(runtime):
    seen: list[int] = []
    records = [record("public_security", f"PS-{i}", id_number()) for i in range(5)]
    records[3]["event"] = "ARRESTED"
    result = run_ingest(
        runtime, "public_security", iter(records), batch_size=2, start_index=100, progress=seen.append
    )
    assert seen == [2, 2, 1]
    assert [e.index for e in result.rejected] == [103]
    assert result.accepted == 4


# -- an outside plugin's source, built with the public helper ---------------------------------------

WATER = record_source(
    code="water_arrears",
    department="water_utility",
    fields=[Field("months", integer(1, 120)), Field("owed", money)],
    signal=lambda row: row.signal("ARREARS", amount_fen=row["owed"], value=str(row["months"])),
)


class Broken:
    """A source whose parser makes signals the store cannot hold: they are rejected, not crashed on."""

    @staticmethod
    def parse(records):
        from safetynet.model import ParsedRecords

        bad = [
            Signal("B-1", id_number(), date(2026, 1, 1), "K" * 65),
            Signal("", id_number(), date(2026, 1, 1), "K"),
            Signal("B-3", id_number(), date(2026, 1, 1), "K", amount_fen=2**63),
            Signal("B-4", id_number(), date(2026, 1, 1), "K", amount_fen=-(2**63) + 1),
        ]
        return ParsedRecords(signals=tuple(enumerate(bad)), rejected=())


def test_signals_a_parser_should_not_have_made_are_rejected(make_runtime):
    from safetynet import hookimpl
    from safetynet.model import DataSource

    class Plugin:
        @hookimpl
        def safetynet_data_sources(self):
            return [DataSource("broken", "nobody", ("recordId",), Broken.parse)]

    runtime = make_runtime(extra_plugins=[Plugin()])
    result = run_ingest(runtime, "broken", [{}, {}, {}, {}])
    assert result.accepted == 1  # B-4: the smallest amount a 64-bit column holds
    assert [(e.index, e.record_id) for e in result.rejected] == [(0, "B-1"), (1, ""), (2, "B-3")]
    assert "expected text of 1 to 64 characters" in result.rejected[0].message
    assert result.rejected[1].message == "recordId must be text of 1 to 128 characters"
    assert result.rejected[2].message == (
        "the source's parser gave the amount 9223372036854775808; expected whole fen (64 bits)"
    )
    assert [r.amount_fen for r in stored(runtime)] == [-(2**63) + 1]


# -- record files -----------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[dict[str, Any]], *, bom: bool = False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_read_records_json_lines_arrays_and_csv(tmp_path):
    rows = [record("emergency_management", f"EM-{i}", id_number(), loss=f"{i}00.50") for i in range(5)]
    lines = tmp_path / "feed.jsonl"
    lines.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows[:2])
        + "\n\nnot json\n"
        + json.dumps(rows[2])
    )
    chunks = list(read_records(lines, chunk_size=2))
    assert [len(c) for c in chunks] == [2, 2]
    assert chunks[0] == rows[:2] and chunks[1][1] == rows[2]
    assert chunks[1][0].message.startswith("line 4 is not valid JSON")

    array = tmp_path / "feed.json"
    array.write_text("\n  " + json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    assert [r for c in read_records(array) for r in c] == rows
    as_lines = tmp_path / "lines.json"  # a .json file of JSON lines is read as such
    as_lines.write_text("\n".join(json.dumps(r) for r in rows))
    assert [r for c in read_records(as_lines) for r in c] == rows

    with_bom = write_csv(tmp_path / "feed.csv", rows, bom=True)
    read = [r for c in read_records(with_bom) for r in c]
    assert read == [{k: str(v) for k, v in r.items()} for r in rows]  # CSV values are strings


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("feed.txt", "{}", "unsupported file type '.txt'; expected .jsonl, .ndjson, .json, .csv"),
        ("missing.jsonl", None, "cannot read"),
        ("feed.json", "[{]", "is not valid JSON"),
        ("feed.json", '[{"a": 1}', "is not valid JSON"),
        ("feed.csv", "", "has no header row"),
        ("feed.jsonl", b"\xff\xfe{}", "is not UTF-8 text"),
    ],
)
def test_unreadable_files_raise_a_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(RecordFileError, match=message):
        list(read_records(path))


# -- ingestRecords over GraphQL ---------------------------------------------------------------------


async def test_ingest_records_as_admin_and_as_the_sources_department(runtime, gql, admin_key, key):
    head = person()
    household = await register(gql, admin_key, members=[head])
    number = head["idNumber"]
    records = [
        record("medical_insurance", "MI-1", number),
        record("medical_insurance", "MI-2", id_number(), totalCost="abc"),
        record("medical_insurance", "MI-3", id_number()),
    ]
    payload = (await gql.ok(INGEST, {"source": "medical_insurance", "records": records}, key=admin_key))[
        "ingestRecords"
    ]
    assert payload == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": [
            {
                "index": 1,
                "recordId": "MI-2",
                "message": "totalCost: 'abc' is not an amount in yuan; expected a number such as \"780.00\"",
            }
        ],
        "userErrors": [],
    }
    department = key(Role.DEPARTMENT, department="medical_security")
    again = (await gql.ok(INGEST, {"source": "medical_insurance", "records": records}, key=department))[
        "ingestRecords"
    ]
    assert (again["accepted"], again["duplicates"], len(again["rejected"]), again["userErrors"]) == (
        0,
        2,
        1,
        [],
    )
    rows = stored(runtime)
    assert sorted((r.record_id, r.household_id) for r in rows) == [
        ("MI-1", decode(household["id"])[1]),
        ("MI-3", None),
    ]
    audit = runtime.database.run(
        lambda s: [
            (a.action, a.subject_id, a.detail, a.client, (a.user_agent or "").split("/")[0])
            for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]
    )
    assert (
        "ingest_records",
        "medical_insurance",
        {"accepted": 2, "duplicates": 0, "rejected": 1},
        "127.0.0.1",
        "python-httpx",  # httpx's ASGI transport: the loopback client and httpx's user agent
    ) in audit


@pytest.mark.parametrize(
    ("role", "scope", "message"),
    [
        (Role.DEPARTMENT, {"department": "education"}, "source 'medical_insurance' belongs to department "
                                                        "'medical_security'; this key acts for department 'education'"),
        (Role.CIVIL_AFFAIRS, {"locality_code": "120101"}, "a CIVIL_AFFAIRS key may not ingest department records"),
        (Role.AUDITOR, {}, "an AUDITOR key may not ingest department records"),
        (Role.PARTNER, {"partner_code": "red_cross"}, "a PARTNER key may not ingest department records"),
    ],
)  # fmt: skip
async def test_ingest_records_is_refused_to_other_principals(runtime, gql, key, role, scope, message):
    payload = (
        await gql.ok(
            INGEST,
            {"source": "medical_insurance", "records": [record("medical_insurance", "MI-1", id_number())]},
            key=key(role, **scope),
        )
    )["ingestRecords"]
    assert payload["accepted"] == 0 and payload["rejected"] == []
    [error] = payload["userErrors"]
    assert (error["field"], error["code"]) == (["source"], "FORBIDDEN")
    assert error["message"].startswith(message)
    assert stored(runtime) == []


async def test_ingest_records_unknown_source_and_too_many_records(runtime, gql, admin_key):
    payload = (await gql.ok(INGEST, {"source": "housing", "records": [{}]}, key=admin_key))["ingestRecords"]
    assert payload["userErrors"] == [
        {
            "field": ["source"],
            "message": f"no data source 'housing' is installed; known sources: {known_sources(runtime)}",
            "code": "UNKNOWN_SOURCE",
        }
    ]
    too_many = [record("public_security", f"PS-{i}", "x") for i in range(10_001)]
    payload = (await gql.ok(INGEST, {"source": "public_security", "records": too_many}, key=admin_key))[
        "ingestRecords"
    ]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["records"], "TOO_MANY_RECORDS")]
    assert "at most 10,000 per call" in payload["userErrors"][0]["message"]
    # Anything JSON is accepted by the schema; what is not an object is rejected by index.
    payload = (
        await gql.ok(INGEST, {"source": "public_security", "records": [1, [], "x", True]}, key=admin_key)
    )["ingestRecords"]
    assert [(e["index"], e["message"].rsplit("; ", 1)[1]) for e in payload["rejected"]] == [
        (0, "got a number"), (1, "got a list"), (2, "got text"), (3, "got a boolean")
    ]  # fmt: skip


def test_an_outside_plugins_source_built_with_the_public_helper(make_runtime):
    from safetynet import hookimpl

    class WaterUtility:
        @hookimpl
        def safetynet_data_sources(self):
            return [WATER]

    runtime = make_runtime(extra_plugins=[WaterUtility()])
    assert runtime.catalogue.data_sources["water_arrears"].item.fields == (
        "recordId", "idNumber", "date", "months", "owed"
    )  # fmt: skip
    rows = [
        {"recordId": "W-1", "idNumber": id_number(), "date": "2026-09-30", "months": "3", "owed": "210.50"},
        {"recordId": "W-2", "idNumber": id_number(), "date": "2026-09-30", "months": 0, "owed": "1"},
    ]
    result = run_ingest(runtime, "water_arrears", rows)
    assert result.accepted == 1
    assert result.rejected[0].message == "months: 0 is not a whole number from 1 to 120"
    [row] = stored(runtime, "water_arrears")
    assert (row.kind, row.value, row.amount_fen) == ("ARREARS", "3", 21050)


# -- safetynet ingest SOURCE FILE -------------------------------------------------------------------


def cli_command() -> list[str]:
    """``safetynet ingest`` once safetynet.cli registers the command; until then its own module's entry."""
    from safetynet import cli

    if "ingest" in cli.cli.commands:
        return [sys.executable, "-m", "safetynet.cli", "ingest"]
    return [sys.executable, "-m", "safetynet.cli_monitoring"]


@pytest.fixture
def safetynet_ingest(runtime, database_url, tmp_path):
    """``safetynet_ingest(source, file)`` → the finished subprocess, against the test database."""
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
            [*cli_command(), *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
        )

    return invoke


async def test_cli_ingests_a_file_twice_json_lines_and_csv(
    runtime, gql, admin_key, safetynet_ingest, tmp_path
):
    head = person()
    await register(gql, admin_key, members=[head])
    number = head["idNumber"]
    rows = [record("human_resources", f"HR-{i}", id_number()) for i in range(30)]
    rows[0]["idNumber"] = number
    rows[4]["event"] = "FIRED"
    rows[7]["date"] = "yesterday"
    feed = tmp_path / "hr.jsonl"
    feed.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")

    first = safetynet_ingest("human_resources", str(feed))
    assert first.returncode == 0, first.stderr
    assert "accepted:   28 (1 matched to registered members, 27 kept unmatched)" in first.stdout
    assert "duplicates: 0" in first.stdout and "rejected:   2" in first.stdout
    assert "index 4  recordId HR-4: event: 'FIRED' is not one of UNEMPLOYED, EMPLOYED" in first.stdout
    assert "index 7  recordId HR-7: date: 'yesterday' is not a date" in first.stdout
    assert "ingesting human_resources" in first.stderr  # the progress bar

    second = safetynet_ingest("human_resources", str(feed))
    assert second.returncode == 0, second.stderr
    assert "accepted:   0 " in second.stdout and "duplicates: 28" in second.stdout
    assert runtime.database.run(lambda s: s.scalar(select(func.count()).select_from(SignalRow))) == 28

    # The same records as CSV (UTF-8 with a byte-order mark, as spreadsheets save it) are duplicates too;
    # new rows in it are stored.
    extra = [record("human_resources", "HR-100", id_number(), event="UNEMPLOYED", monthlyWage="")]
    table = write_csv(tmp_path / "hr.csv", rows + extra, bom=True)
    third = safetynet_ingest("human_resources", str(table))
    assert third.returncode == 0, third.stderr
    assert (
        "accepted:   1 " in third.stdout
        and "duplicates: 28" in third.stdout
        and "rejected:   2" in third.stdout
    )
    new = stored(runtime)[-1]
    assert (new.record_id, new.kind, new.amount_fen) == ("HR-100", "UNEMPLOYED", None)


def test_cli_unknown_source_and_unreadable_files_exit_2(runtime, safetynet_ingest, tmp_path):
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps(record("education", "E-1", id_number())) + "\n")
    unknown = safetynet_ingest("schools", str(feed))
    assert unknown.returncode == 2
    assert unknown.stderr.strip().endswith(
        f"error: no data source 'schools' is installed; known sources: {known_sources(runtime)}"
    )
    missing = safetynet_ingest("education", str(tmp_path / "nothing.jsonl"))
    assert (missing.returncode, missing.stderr.strip().splitlines()[-1]) == (
        2, f"error: cannot read {tmp_path / 'nothing.jsonl'}: no such file"
    )  # fmt: skip
    (tmp_path / "feed.xlsx").write_bytes(b"PK")
    wrong = safetynet_ingest("education", str(tmp_path / "feed.xlsx"))
    assert wrong.returncode == 2 and "unsupported file type '.xlsx'" in wrong.stderr
    ok = safetynet_ingest("education", str(feed))
    assert ok.returncode == 0 and "accepted:   1 " in ok.stdout
