"""The authorisation matrix as data: who may call each Query, Mutation and Subscription field, with what
arguments, and what each role may see of the test world (``test_authz_matrix.py`` runs it).

A field the schema has and this file lacks fails the test: add an entry to ``QUERIES``, ``MUTATIONS`` or
``SUBSCRIPTIONS`` saying which roles may call it and, for a field that needs arguments, how to build
them for a role (``args(world, role)``; the world's helpers make a fresh target in the role's area).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# -- roles -----------------------------------------------------------------------------------------

ADMIN = "ADMIN"
COUNTY = "CIVIL_AFFAIRS_COUNTY"  # 甘州区 620702
TOWNSHIP = "CIVIL_AFFAIRS_TOWNSHIP"  # one township of it, 620702001
DEPARTMENT = "DEPARTMENT"  # medical_security for 张掖市 620700
PARTNER = "PARTNER"  # a charity taking medical needs in township 620702001
AUDITOR = "AUDITOR"
NO_KEY = "NO_KEY"
ROLES = (ADMIN, COUNTY, TOWNSHIP, DEPARTMENT, PARTNER, AUDITOR, NO_KEY)

EVERYONE = frozenset(ROLES)
KEYED = EVERYONE - {NO_KEY}
CIVIL = frozenset({ADMIN, COUNTY, TOWNSHIP})
HANDLERS = CIVIL | {DEPARTMENT}  # handle warnings and record aid
NEED_READERS = CIVIL | {AUDITOR, PARTNER}
OVERSIGHT = frozenset({ADMIN, AUDITOR})

DEPARTMENT_CODE = "medical_security"
PARTNER_CODE = "ganzhou_care"
OTHER_PARTNER_CODE = "red_cross_310105"  # a built-in partner in Changning

#: The API key each role uses (``None``: no key).
KEYS: dict[str, dict[str, Any] | None] = {
    ADMIN: {"role": "ADMIN"},
    COUNTY: {"role": "CIVIL_AFFAIRS", "locality_code": "620702"},
    TOWNSHIP: {"role": "CIVIL_AFFAIRS", "locality_code": "620702001"},
    DEPARTMENT: {"role": "DEPARTMENT", "locality_code": "620700", "department": DEPARTMENT_CODE},
    PARTNER: {"role": "PARTNER", "partner_code": PARTNER_CODE},
    AUDITOR: {"role": "AUDITOR"},
    NO_KEY: None,
}

#: Where a role's fresh write targets live (inside its area).
HOME = {COUNTY: "620702002", TOWNSHIP: "620702001"}
DEFAULT_HOME = "620702001"

CHARITIES = f"""
[[charity]]
code = "{PARTNER_CODE}"
name = "甘州区慈善会"
name_en = "Ganzhou Charity Association"
kind = "CHARITY"
need_types = ["medical"]
localities = ["620702001"]
"""

# -- the world and what each role sees of it ---------------------------------------------------------

#: Households by label: where they live. Two counties (甘州区 of 张掖, 西峰区 of 庆阳), two townships in one.
HOUSEHOLDS = {"HA": "620702001", "HB": "620702002", "HC": "621002001", "HD": "620702002"}
#: Warnings: household and the departments they are routed to.
WARNINGS = {
    "WA_medical": ("HA", ("medical_security",)),
    "WA_education": ("HA", ("education",)),
    "WC_medical": ("HC", ("medical_security",)),
    "WD_education": ("HD", ("education",)),
}
#: Home visits: the warning they verified.
VISITS = {"VA_medical": "WA_medical", "VA_education": "WA_education"}
#: Aid records: household, provider, aid type.
AID = {
    "RA_dibao": ("HA", "civil_affairs", "dibao"),
    "RB_medical": ("HB", "medical_security", "medical"),
    "RC_dibao": ("HC", "civil_affairs", "dibao"),
    "RD_dibao": ("HD", "civil_affairs", "dibao"),
}
#: Need listings: household and need type.
LISTINGS = {
    "LA_medical": ("HA", "medical"),
    "LA_education": ("HA", "education"),
    "LB_medical": ("HB", "medical"),
    "LC_medical": ("HC", "medical"),
}
#: Partner webhooks: the partner they are for.
WEBHOOKS = {"KP": PARTNER_CODE, "KO": OTHER_PARTNER_CODE}
#: Applications (救助申请): household and the aid types asked for.
APPLICATIONS = {
    "PA_dibao": ("HA", ("dibao",)),
    "PA_medical": ("HA", ("medical",)),
    "PC_medical": ("HC", ("medical",)),
}
#: Near-relative registrations (近亲属备案) and dishonesty records (失信): the recording unit's area.
NEAR_RELATIVES = {"NA": "620702001", "NC": "621002001"}
DISHONESTY = {"DA": "620702001", "DC": "621002001"}

EVERYTHING = {
    *HOUSEHOLDS,
    *WARNINGS,
    *VISITS,
    *AID,
    *LISTINGS,
    *WEBHOOKS,
    *APPLICATIONS,
    *NEAR_RELATIVES,
    *DISHONESTY,
}

#: What each role may see, written out from the rules (ARCHITECTURE.md "Security", API.md, DOMAIN.md §4)
#: rather than computed by the code under test. Members are seen with their household.
SEES: dict[str, set[str]] = {
    ADMIN: EVERYTHING,
    AUDITOR: EVERYTHING,
    COUNTY: {
        *("HA", "HB", "HD"),
        *("WA_medical", "WA_education", "WD_education"),
        *("VA_medical", "VA_education"),
        *("RA_dibao", "RB_medical", "RD_dibao"),
        *("LA_medical", "LA_education", "LB_medical"),
        *("PA_dibao", "PA_medical", "NA", "DA"),
    },
    TOWNSHIP: {"HA", "WA_medical", "WA_education", "VA_medical", "VA_education", "RA_dibao"}
    | {"LA_medical", "LA_education", "PA_dibao", "PA_medical", "NA", "DA"},
    # Households with a warning routed to it (HA) or aid it gave (HB) in its area (not HC in 庆阳);
    # only the warnings routed to it and their visits; the whole aid chain of those households; their
    # applications for an aid type it runs (协同办理); not the governance registers.
    DEPARTMENT: {"HA", "HB", "WA_medical", "VA_medical", "RA_dibao", "RB_medical", "PA_medical"},
    # Its need types in its areas, its own webhook; never a household.
    PARTNER: {"LA_medical", "KP"},
    NO_KEY: set(),
}

# -- entries ---------------------------------------------------------------------------------------

Args = Callable[[Any, str], dict[str, Any]]


def no_args(_world: Any, _role: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Read:
    """A Query field: the roles that may call it (the others get a FORBIDDEN or UNAUTHENTICATED error).

    ``lists``: the objects it returns (a connection's nodes or a list) are exactly those of this kind the
    role sees. ``probe``: call it once per world object of these kinds ("*": all) as ``id`` and expect it back
    exactly when the role sees it. Everything returned, however deeply nested, must be seen by the role.
    """

    allowed: frozenset[str]
    args: Args = no_args
    lists: str | None = None
    probe: tuple[str, ...] = ()


@dataclass(frozen=True)
class Write:
    """A Mutation field: the roles that may call it, and its arguments for a role (a target in the role's
    area, fresh where a second call would find it changed). Refused: a userError FORBIDDEN (no key:
    UNAUTHENTICATED) and nothing written; allowed: accepted, with no error at all (so the arguments must
    be valid for the role: a step of a workflow gets a target in the state that step expects)."""

    allowed: frozenset[str]
    args: Args


@dataclass(frozen=True)
class Stream:
    """A Subscription field: the roles that may subscribe; ``trigger(world)`` causes events about new
    world objects of kind ``kind`` (their labels returned); each subscriber receives exactly those it sees."""

    allowed: frozenset[str]
    kind: str
    trigger: Callable[[Any], list[str]]
    args: Args = no_args
    #: Wait until ``count`` subscriptions are live (for a stream that does not replay from a cursor).
    ready: Callable[[Any, int], None] | None = None


QUERIES: dict[str, Read] = {
    "health": Read(EVERYONE),
    "node": Read(KEYED, args=lambda w, r: {"id": w.id("HA")}, probe=("*",)),
    "household": Read(KEYED, args=lambda w, r: {"id": w.id("HA")}, probe=("Household",)),
    "households": Read(KEYED, args=lambda w, r: {"first": 500}, lists="Household"),
    "warnings": Read(KEYED, args=lambda w, r: {"first": 500}, lists="Warning"),
    "aidTypes": Read(KEYED),
    "partners": Read(KEYED),
    "locality": Read(KEYED, args=lambda w, r: {"code": "620702001"}),
    "plugins": Read(KEYED),
    "me": Read(KEYED),
    "needListings": Read(NEED_READERS, args=lambda w, r: {"first": 500}, lists="NeedListing"),
    "needListing": Read(NEED_READERS, args=lambda w, r: {"id": w.id("LA_medical")}, probe=("NeedListing",)),
    "needEventCursor": Read(NEED_READERS),
    "partnerResources": Read(KEYED),
    "webhooks": Read(KEYED, lists="Webhook"),
    "auditLog": Read(OVERSIGHT, args=lambda w, r: {"first": 500}),
    "application": Read(KEYED, args=lambda w, r: {"id": w.id("PA_dibao")}, probe=("Application",)),
    "applications": Read(KEYED, args=lambda w, r: {"first": 500}, lists="Application"),
    "nearRelatives": Read(CIVIL | {AUDITOR}, args=lambda w, r: {"first": 500}, lists="NearRelative"),
    "dishonestyRecords": Read(CIVIL | {AUDITOR}, args=lambda w, r: {"first": 500}, lists="DishonestyRecord"),
}


def _household_input(world: Any, role: str) -> dict[str, Any]:
    return {"input": world.household_input(role)}


def _grant(world: Any, role: str) -> dict[str, Any]:
    return {
        "input": {
            "householdId": world.fresh_household(role),
            "aidTypeCode": "temporary",
            "startedOn": "2025-03-01",
            "oneOffAmount": "500.00",
        }
    }


def _visit(world: Any, role: str) -> dict[str, Any]:
    return {
        "input": {
            "warningId": world.fresh_warning(role),
            "visitor": "李四",
            "visitedAt": world.now(),
            "findings": "入户核查:情况属实",
        }
    }


def _webhook_input(world: Any, role: str) -> dict[str, Any]:
    extra = {"partnerCode": PARTNER_CODE} if role == ADMIN else {}
    return {"input": {"url": "http://127.0.0.1:9/hook", **extra}}


#: The application workflow's steps in order (申请 → 受理 → 入户调查 → 经济状况核对 → 民主评议 → 公示), with
#: each one's input beyond ``applicationId`` and ``by``: the world takes fresh applications through them.
APPLICATION_STEPS = {
    "acceptApplication": {},
    "recordInvestigation": {"findings": "入户调查属实"},
    "recordEconomicCheck": {"result": "收入低于标准"},
    "recordAppraisal": {"note": "评议通过"},
    "startPublicNotice": {},
}


def _on_application(done: int, **fields: Any) -> Args:
    """A step's input on a fresh application in the role's area that went through ``done`` steps."""
    return lambda w, r: {"input": {"applicationId": w.fresh_application(r, done), "by": "赵六", **fields}}


MUTATIONS: dict[str, Write] = {
    "registerHousehold": Write(CIVIL, _household_input),
    "updateCircumstances": Write(
        CIVIL,
        lambda w, r: {"input": {"householdId": w.fresh_household(r), "version": 1, "address": "新地址"}},
    ),
    "grantAid": Write(HANDLERS, _grant),
    "endAid": Write(
        HANDLERS, lambda w, r: {"id": w.fresh_aid(r), "endedOn": "2025-12-31", "reason": "已脱困"}
    ),
    "ingestRecords": Write(
        frozenset({ADMIN, DEPARTMENT}), lambda w, r: {"source": "medical_insurance", "records": []}
    ),
    "publishNeed": Write(
        CIVIL,
        lambda w, r: {
            "input": {
                "householdId": w.fresh_household(r),
                "needType": "medical",
                "summary": "慢性病,自付医疗费用较高",
                "urgency": "HIGH",
            }
        },
    ),
    "claimNeed": Write(frozenset({PARTNER}), lambda w, r: {"id": w.partner_listing()}),
    "fulfilNeed": Write(
        frozenset({PARTNER}),
        lambda w, r: {"id": w.partner_listing(claimed=True), "amount": "800.00", "note": "已资助"},
    ),
    "withdrawNeed": Write(CIVIL, lambda w, r: {"id": w.fresh_listing(r), "reason": "已通过其他渠道解决"}),
    "registerWebhook": Write(frozenset({ADMIN, PARTNER}), _webhook_input),
    "resumeWebhook": Write(frozenset({ADMIN, PARTNER}), lambda w, r: {"id": w.fresh_webhook(paused=True)}),
    "deleteWebhook": Write(frozenset({ADMIN, PARTNER}), lambda w, r: {"id": w.fresh_webhook()}),
    "runSweep": Write(CIVIL, lambda w, r: {"localityCode": HOME.get(r, DEFAULT_HOME)}),
    "assignWarning": Write(HANDLERS, lambda w, r: {"id": w.fresh_warning(r), "assignee": "王五"}),
    "recordVisit": Write(HANDLERS, _visit),
    "resolveWarning": Write(
        HANDLERS, lambda w, r: {"id": w.fresh_warning(r), "resolution": "NO_ACTION", "note": "核查无需处置"}
    ),
    "recordHouseholdVisit": Write(
        CIVIL,
        lambda w, r: {
            "input": {
                "householdId": w.fresh_household(r),
                "visitor": "李四",
                "visitedAt": w.now(),
                "findings": "探访:生活平稳",
            }
        },
    ),
    # 救助申请: each step on a fresh application that has just gone through the steps before it.
    "applyForAid": Write(
        CIVIL,
        lambda w, r: {
            "input": {"householdId": w.fresh_household(r), "aidTypeCodes": ["dibao"], "by": "窗口"}
        },
    ),
    "acceptApplication": Write(CIVIL, _on_application(0)),
    "recordInvestigation": Write(CIVIL, _on_application(1, findings="入户调查属实")),
    "recordEconomicCheck": Write(CIVIL, _on_application(2, result="收入低于标准")),
    "recordAppraisal": Write(CIVIL, _on_application(3, note="评议通过")),
    "startPublicNotice": Write(CIVIL, _on_application(4)),
    "extendApplication": Write(CIVIL, _on_application(1, reason="人户分离")),
    "decideApplication": Write(CIVIL, _on_application(3, refuse=["dibao"], reason="收入超过标准")),
    "completeAdvance": Write(
        CIVIL, lambda w, r: {"input": {"applicationId": w.fresh_advance(r), "by": "赵六", "note": "补齐材料"}}
    ),
    "grantAdvance": Write(
        CIVIL,
        lambda w, r: {
            "input": {"householdId": w.fresh_household(r), "amount": "300.00", "by": "王五", "note": "火灾"}
        },
    ),
    # Governance registers (近亲属备案, 失信).
    "registerNearRelative": Write(CIVIL, lambda w, r: {"input": w.near_relative_input(r)}),
    "removeNearRelative": Write(CIVIL, lambda w, r: {"id": w.fresh_near_relative(r), "reason": "调离岗位"}),
    "recordDishonesty": Write(CIVIL, lambda w, r: {"input": w.dishonesty_input(r)}),
    "recordRecovery": Write(
        CIVIL,
        lambda w, r: {
            "input": {"recordId": w.fresh_dishonesty(r), "amount": "100.00", "receivedOn": "2025-03-01"}
        },
    ),
}


SUBSCRIPTIONS: dict[str, Stream] = {
    "needListings": Stream(
        NEED_READERS,
        kind="NeedListing",
        trigger=lambda w: w.publish_listings(),
        args=lambda w, r: {"after": w.need_cursor()},
    ),
    "warnings": Stream(
        HANDLERS | {AUDITOR},
        kind="Warning",
        trigger=lambda w: w.raise_warnings(),
        ready=lambda w, count: w.wait_for_warning_boards(count),
    ),
}
