"""Disaster victim aid (受灾人员救助) and the funeral fee waiver (殡葬费用减免), from department feeds.

Disasters (emergency_management, with the loss) and deaths (public_security) arrive through
``ingestRecords``; the households are assessed through ``assessments(asOf:)``. Round numbers:

990000 (tests/packs/round_990000.toml): disasters within 30 days, 0.2 of the losses, 0.5 for low-income
households, at most 10000 per household; deaths within 30 days, 2000 waived per deceased member.
980000 sets none of these: the national pack's illustrative defaults apply (90 days, 0.3, 0.5, 20000;
180 days, 1000).
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count

import pytest

from conftest import income, register
from test_aid_types import OTHER, ROUND, RoundLocalities, assess, codes, member, reason, used, years_ago

INGEST = """mutation($source: String!, $records: [JSON!]!) { ingestRecords(source: $source, records: $records) {
  accepted rejected { message } userErrors { message } } }"""

_record_ids = count(1)


@pytest.fixture
def runtime(make_runtime):
    return make_runtime(extra_plugins=[RoundLocalities()])


def days_ago(days: int) -> date:
    return date.today() - timedelta(days=days)


async def feed(gql, key, source: str, *records: dict) -> None:
    """Send department records, each with a fresh recordId; all must be accepted."""
    sent = [{"recordId": f"T-{next(_record_ids)}", **r} for r in records]
    result = (await gql.ok(INGEST, {"source": source, "records": sent}, key=key))["ingestRecords"]
    assert (result["accepted"], result["rejected"], result["userErrors"]) == (len(sent), [], [])


def disaster(person: dict, on: date, loss: str, kind: str = "FLOOD") -> dict:
    return {"idNumber": person["idNumber"], "date": on.isoformat(), "disaster": kind, "loss": loss}


def death(person: dict, on: date) -> dict:
    return {"idNumber": person["idNumber"], "date": on.isoformat(), "event": "DECEASED"}


async def register_household(gql, key, locality: str, *members: dict) -> str:
    return (await register(gql, key, localityCode=locality, members=list(members)))["id"]


def well_off(relation: str = "HEAD", locality: str = ROUND) -> dict:
    """A member earning far above every low-income line."""
    return member(relation, locality, monthlyIncomes=income("9000.00"))


# ------------------------------------------------------------------------------------------------
# disaster victim aid
# ------------------------------------------------------------------------------------------------


async def test_a_household_hit_by_a_disaster_gets_the_share_of_its_losses(gql, admin_key):
    head = well_off()
    household = await register_household(gql, admin_key, ROUND, head, well_off("SPOUSE"))
    on = days_ago(10)
    await feed(gql, admin_key, "emergency_management", disaster(head, on, "8000"))
    a = await assess(gql, admin_key, household)
    aid = a["disaster"]
    assert (aid["eligible"], aid["oneOffAmount"]) == (True, "1600.00")  # 8000 × 0.2
    assert aid["monthlyAmount"] is None  # one-off aid only
    assert codes(aid) == ["DISASTER_RECORDED", "LOSS_SHARE"]  # not a low-income household: no priority
    recorded = reason(aid, "DISASTER_RECORDED")
    assert recorded["message"] == (
        f"1 disaster record(s) from emergency management within the last 30 days (latest on {on.isoformat()}), "
        "losses 8000.00"
    )
    assert recorded["parameters"] == [
        {
            "name": "disaster.recent_days",
            "localityCode": "990000",
            "value": "30",
            "effectiveFrom": "2020-01-01",
            "source": "test pack 990000",
            "illustrative": True,
        }
    ]
    share = reason(aid, "LOSS_SHARE")
    assert share["message"] == (
        "one-off aid 0.2 × losses 8000.00 = 1600.00, at most 10000.00 per household: 1600.00"
    )
    assert used(aid, "LOSS_SHARE") == {"disaster.loss_share": "0.2", "disaster.household_cap": "10000.00"}
    assert a["funeral"]["eligible"] is False and codes(a["funeral"]) == ["NO_DEATH_FACT"]


async def test_low_income_households_get_the_higher_share_up_to_the_cap(gql, admin_key):
    head = member()  # no income: a dibao household
    household = await register_household(gql, admin_key, ROUND, head, member("SPOUSE"))
    await feed(
        gql,
        admin_key,
        "emergency_management",
        disaster(head, days_ago(5), "15000", "FIRE"),
        disaster(head, days_ago(20), "10000"),
        disaster(head, days_ago(40), "90000"),  # older than the 30-day window: not counted
    )
    a = await assess(gql, admin_key, household)
    assert a["dibao"]["eligible"] is True
    aid = a["disaster"]
    assert (aid["eligible"], aid["oneOffAmount"]) == (True, "10000.00")  # min(25000 × 0.5, 10000)
    assert codes(aid) == ["DISASTER_RECORDED", "LOW_INCOME_PRIORITY", "LOSS_SHARE"]
    assert reason(aid, "DISASTER_RECORDED")["message"] == (
        f"2 disaster record(s) from emergency management within the last 30 days (latest on "
        f"{days_ago(5).isoformat()}), losses 25000.00"
    )
    assert reason(aid, "LOSS_SHARE")["message"] == (
        "one-off aid 0.5 × losses 25000.00 = 12500.00, at most 10000.00 per household: 10000.00"
    )
    assert used(aid, "LOSS_SHARE") == {
        "disaster.loss_share.low_income": "0.5",
        "disaster.household_cap": "10000.00",
    }


@pytest.mark.parametrize("locality", [ROUND, OTHER])
async def test_the_window_and_amounts_are_the_localitys_or_the_national_default(gql, admin_key, locality):
    head = well_off(locality=locality)
    household = await register_household(gql, admin_key, locality, head)
    on = days_ago(40)
    await feed(gql, admin_key, "emergency_management", disaster(head, on, "8000"))
    aid = (await assess(gql, admin_key, household))["disaster"]
    if locality == ROUND:  # 40 days ago is outside the 30-day window
        assert (aid["eligible"], aid["oneOffAmount"]) == (False, "0.00")
        assert codes(aid) == ["NO_DISASTER_FACT"]
        assert reason(aid, "NO_DISASTER_FACT")["message"] == (
            "no disaster recorded by emergency management within the last 30 days"
        )
        return
    assert (aid["eligible"], aid["oneOffAmount"]) == (True, "2400.00")  # national: 90 days, 8000 × 0.3
    share = reason(aid, "LOSS_SHARE")
    assert share["message"] == (
        "one-off aid 0.3 × losses 8000.00 = 2400.00, at most 20000.00 per household: 2400.00"
    )
    assert {(p["name"], p["localityCode"], p["value"]) for p in share["parameters"]} == {
        ("disaster.loss_share", "100000", "0.3"),
        ("disaster.household_cap", "100000", "20000.00"),
    }
    assert all(p["illustrative"] and "platform default" in p["source"] for p in share["parameters"])
    before = (await assess(gql, admin_key, household, on - timedelta(days=1)))["disaster"]  # asked as of then
    assert (before["eligible"], codes(before)) == (False, ["NO_DISASTER_FACT"])


# ------------------------------------------------------------------------------------------------
# funeral fee waiver
# ------------------------------------------------------------------------------------------------


async def test_a_low_income_household_has_funeral_fees_waived_per_deceased_member(gql, admin_key):
    head, spouse = member(born=years_ago(80)), member("SPOUSE", born=years_ago(78))
    household = await register_household(gql, admin_key, ROUND, head, spouse, member("CHILD"))
    latest = days_ago(3)
    await feed(
        gql,
        admin_key,
        "public_security",
        death(head, days_ago(12)),
        death(head, days_ago(11)),  # the same death reported twice counts once
        death(spouse, latest),
    )
    a = await assess(gql, admin_key, household)
    assert a["dibao"]["eligible"] is True
    funeral = a["funeral"]
    assert (funeral["eligible"], funeral["oneOffAmount"], funeral["monthlyAmount"]) == (True, "4000.00", None)
    assert codes(funeral) == ["MEMBER_DECEASED", "FUNERAL_FEES_WAIVED"]
    deceased = reason(funeral, "MEMBER_DECEASED")
    assert deceased["message"] == (
        f"2 member(s) reported deceased by public security within the last 30 days (latest on {latest.isoformat()})"
    )
    assert used(funeral, "MEMBER_DECEASED") == {"funeral.recent_days": "30"}
    waived = reason(funeral, "FUNERAL_FEES_WAIVED")
    assert waived["message"] == "basic funeral fees waived up to 2000.00 per deceased member × 2 = 4000.00"
    assert waived["parameters"] == [
        {
            "name": "funeral.waiver_per_death",
            "localityCode": "990000",
            "value": "2000.00",
            "effectiveFrom": "2020-01-01",
            "source": "test pack 990000",
            "illustrative": True,
        }
    ]
    assert a["disaster"]["eligible"] is False and codes(a["disaster"]) == ["NO_DISASTER_FACT"]


async def test_no_funeral_waiver_for_a_household_above_the_low_income_lines(gql, admin_key):
    head = well_off()
    household = await register_household(gql, admin_key, ROUND, head, well_off("SPOUSE"))
    await feed(gql, admin_key, "public_security", death(head, days_ago(2)))
    funeral = (await assess(gql, admin_key, household))["funeral"]
    assert (funeral["eligible"], funeral["oneOffAmount"]) == (False, "0.00")
    assert codes(funeral) == ["MEMBER_DECEASED", "NOT_LOW_INCOME"]


@pytest.mark.parametrize(
    ("locality", "eligible", "amount"), [(ROUND, False, "0.00"), (OTHER, True, "1000.00")]
)
async def test_a_tekun_persons_death_within_the_localitys_window(gql, admin_key, locality, eligible, amount):
    elder = member(locality=locality, born=years_ago(85), laborCapacity="NONE", employment="RETIRED")
    household = await register_household(gql, admin_key, locality, elder)
    await feed(gql, admin_key, "public_security", death(elder, days_ago(100)))  # within 180 days, not 30
    a = await assess(gql, admin_key, household)
    assert a["tekun"]["eligible"] is True
    funeral = a["funeral"]
    assert (funeral["eligible"], funeral["oneOffAmount"]) == (eligible, amount)
    if eligible:  # national defaults
        assert used(funeral, "FUNERAL_FEES_WAIVED") == {"funeral.waiver_per_death": "1000.00"}
        assert reason(funeral, "FUNERAL_FEES_WAIVED")["parameters"][0]["localityCode"] == "100000"
        assert used(funeral, "MEMBER_DECEASED") == {"funeral.recent_days": "180"}
    else:
        assert reason(funeral, "NO_DEATH_FACT")["message"] == (
            "no member death reported by public security within the last 30 days"
        )
