"""Registering households and updating their circumstances (家庭基本信息、收入、财产、刚性支出).

Services take the mutation input as a plain mapping with snake_case keys (``strawberry.asdict`` of the
GraphQL input, or a converted JSON record). Enum values may be members or names; amounts may be
``Decimal`` or strings. Every problem is reported by field path; nothing is written unless all is well.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from safetynet.errors import Problems, fail
from safetynet.identity import IdentityVault, IdNumberError, mask_id_number, parse_id_number
from safetynet.model import (
    AssetKind,
    DisabilityLevel,
    EducationStage,
    Employment,
    ExpenseKind,
    Illness,
    IncomeKind,
    LaborCapacity,
    MoneyError,
    Relation,
    UrbanRural,
    yuan_to_fen,
)
from safetynet.monitoring.ingest import link_unmatched
from safetynet.principals import Principal
from safetynet.rules import LocalityCodeError, LocalityRegistry, is_within
from safetynet.rules.batch import SELF_CARE_INDICATORS
from safetynet.store.models import Asset, Household, Income, Member, RigidExpense

Path = tuple[str | int, ...]
#: Control characters (PostgreSQL cannot even store NUL); tab and line breaks are allowed.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

MEMBER_FACTS: dict[str, type[Enum]] = {
    "disability": DisabilityLevel,
    "illness": Illness,
    "labor_capacity": LaborCapacity,
    "employment": Employment,
    "education_stage": EducationStage,
}
MEMBER_DEFAULTS = {
    "disability": DisabilityLevel.NONE,
    "illness": Illness.NONE,
    "labor_capacity": LaborCapacity.FULL,
    "employment": Employment.NOT_IN_LABOR_FORCE,
    "education_stage": EducationStage.NONE,
}


class Reader:
    """Typed reads from the input mapping that record a user error instead of raising."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems

    def enum(self, value: Any, enum: type[Enum], path: Path) -> Any:
        if isinstance(value, enum):
            return value
        try:
            return enum[str(value)]
        except KeyError:
            self.problems.add(
                path, f"'{value}' is not one of {', '.join(m.name for m in enum)}", "UNKNOWN_VALUE"
            )
            return None

    def money(self, value: Any, path: Path) -> int | None:
        if value is None:
            self.problems.add(path, 'an amount in yuan is required, e.g. "1200.00"', "REQUIRED")
            return None
        try:
            return yuan_to_fen(value)
        except MoneyError as exc:
            self.problems.add(path, str(exc), "INVALID_AMOUNT")
            return None

    def text(self, value: Any, path: Path, *, limit: int, required: bool = True) -> str | None:
        text = (value or "").strip() if isinstance(value, str | type(None)) else None
        if text is None:
            self.problems.add(path, "must be text", "INVALID")
        elif required and not text:
            self.problems.add(path, "must not be empty", "REQUIRED")
        elif len(text) > limit:
            self.problems.add(path, f"is longer than {limit} characters", "TOO_LONG")
        elif CONTROL_CHARACTERS.search(text):
            self.problems.add(path, "must not contain control characters such as NUL", "INVALID")
        return text or None

    def amounts(
        self, items: Sequence[Mapping[str, Any]] | None, enum: type[Enum], amount_key: str, path: Path
    ):
        """``[{"kind": …, amount_key: …}]`` → list of (kind, fen)."""
        out = []
        for i, item in enumerate(items or ()):
            kind = self.enum(item.get("kind"), enum, (*path, i, "kind"))
            fen = self.money(item.get(amount_key), (*path, i, amount_key))
            if kind is not None and fen is not None:
                out.append((kind, fen))
        return out


def self_care_mask(value: Mapping[str, Any] | None, reader: Reader, path: Path) -> int | None:
    """The six indicators (true = can do it alone) → bit mask of those the member cannot do."""
    if value is None:
        return None
    mask = 0
    for bit, indicator in enumerate(SELF_CARE_INDICATORS):
        key = {"walkingIndoors": "walking_indoors"}.get(indicator, indicator)
        able = value.get(key, value.get(indicator))
        if not isinstance(able, bool):
            reader.problems.add((*path, key), "true (can do it alone) or false is required", "REQUIRED")
        elif not able:
            mask |= 1 << bit
    return mask


def _check_locality(
    code: Any, localities: LocalityRegistry, principal: Principal, problems: Problems
) -> None:
    try:
        known = localities.is_known(code)
    except LocalityCodeError as exc:
        problems.add(("locality_code",), str(exc), "INVALID_LOCALITY")
        return
    if not known:
        problems.add(
            ("locality_code",),
            f"'{code}' is not under any configured locality; install or enable its locality plugin",
            "UNKNOWN_LOCALITY",
        )
    elif not is_within(code, principal.scope):
        problems.add(("locality_code",), f"'{code}' is outside your area {principal.scope}", "OUT_OF_SCOPE")


def register_household(
    session: Session,
    data: Mapping[str, Any],
    *,
    principal: Principal,
    localities: LocalityRegistry,
    vault: IdentityVault,
    today: date,
) -> Household:
    """登记: create a household with its members, incomes, assets and rigid expenses."""
    problems = Problems()
    read = Reader(problems)
    if not principal.may_write or principal.role.name not in ("ADMIN", "CIVIL_AFFAIRS"):
        raise fail(("locality_code",), "only civil affairs and admins register households", "FORBIDDEN")
    _check_locality(data.get("locality_code"), localities, principal, problems)
    residence = read.enum(data.get("residence"), UrbanRural, ("residence",))
    address = read.text(data.get("address"), ("address",), limit=300, required=False)
    members_in = data.get("members") or []
    if not members_in:
        problems.add(("members",), "a household needs at least one member", "REQUIRED")
    members = [_read_member(m, ("members", i), read, vault, today) for i, m in enumerate(members_in)]
    heads = [i for i, m in enumerate(members) if m.get("relation") is Relation.HEAD]
    if members_in and len(heads) != 1:
        problems.add(
            ("members",), f"exactly one member must be the HEAD (户主); found {len(heads)}", "ONE_HEAD"
        )
    _check_unique_people(session, members, problems)
    assets = read.amounts(data.get("assets"), AssetKind, "value", ("assets",))
    expenses = read.amounts(data.get("rigid_expenses"), ExpenseKind, "annual_amount", ("rigid_expenses",))
    problems.raise_if_any()

    household = Household(locality_code=data["locality_code"], residence=residence, address=address)
    session.add(household)
    session.flush()
    for m in members:
        member = Member(household_id=household.id, **{k: v for k, v in m.items() if k != "incomes"})
        session.add(member)
        session.flush()
        session.add_all(
            Income(
                household_id=household.id, member_id=member.id, kind=k, monthly_amount_fen=f, valid_from=today
            )
            for k, f in m["incomes"]
        )
    _add_assets(session, household.id, assets, expenses, today)
    session.flush()
    link_unmatched(session, hashes=[m["id_number_hash"] for m in members])  # "policy finds the person"
    return household


def _read_member(
    data: Mapping[str, Any], path: Path, read: Reader, vault: IdentityVault, today: date
) -> dict:
    out: dict[str, Any] = {"name": read.text(data.get("name"), (*path, "name"), limit=100)}
    try:
        identity = parse_id_number(str(data.get("id_number") or ""), today=today)
    except IdNumberError as exc:
        read.problems.add((*path, "id_number"), str(exc), "INVALID_ID_NUMBER")
    else:
        out.update(
            id_number_encrypted=vault.encrypt(identity.number),
            id_number_hash=vault.lookup_hash(identity.number),
            id_number_masked=mask_id_number(identity.number),
            birth_date=identity.birth_date,
            sex=identity.sex,
        )
    out["relation"] = read.enum(data.get("relation"), Relation, (*path, "relation"))
    for key, enum in MEMBER_FACTS.items():
        value = data.get(key)
        out[key] = MEMBER_DEFAULTS[key] if value is None else read.enum(value, enum, (*path, key))
    out["self_care_unable_mask"] = self_care_mask(data.get("self_care"), read, (*path, "self_care"))
    out["incomes"] = read.amounts(
        data.get("monthly_incomes"), IncomeKind, "monthly_amount", (*path, "monthly_incomes")
    )
    return out


def _check_unique_people(session: Session, members: list[dict], problems: Problems) -> None:
    hashes = [m.get("id_number_hash") for m in members]
    seen: set[str] = set()
    for i, h in enumerate(hashes):
        if h and h in seen:
            problems.add(
                ("members", i, "id_number"), "the same identity number appears twice", "DUPLICATE_PERSON"
            )
        seen.add(h or "")
    known = set(
        session.scalars(
            select(Member.id_number_hash).where(Member.id_number_hash.in_([h for h in hashes if h]))
        )
    )
    for i, h in enumerate(hashes):
        if h in known:
            problems.add(
                ("members", i, "id_number"),
                "this person is already registered in a household; update that household instead",
                "ALREADY_REGISTERED",
            )


def _add_assets(session: Session, household_id: int, assets, expenses, start: date) -> None:  # type: ignore[no-untyped-def]
    session.add_all(
        Asset(household_id=household_id, kind=k, value_fen=f, valid_from=start) for k, f in assets
    )
    session.add_all(
        RigidExpense(household_id=household_id, kind=k, annual_amount_fen=f, valid_from=start)
        for k, f in expenses
    )


def _supersede(session: Session, model: type, start: date, **where: Any) -> None:
    """End the rows of a dated circumstance in force on ``start``; drop the ones that would begin later."""
    conditions = [getattr(model, k) == v for k, v in where.items()]
    session.execute(delete(model).where(*conditions, model.valid_from >= start))
    session.execute(
        update(model)
        .where(*conditions, model.valid_from < start, (model.valid_to.is_(None)) | (model.valid_to > start))
        .values(valid_to=start)
    )


def check_household_writer(principal: Principal) -> None:
    """Refuse (FORBIDDEN) a principal that may not change household circumstances, before any lookup."""
    if not principal.may_write or principal.role.name not in ("ADMIN", "CIVIL_AFFAIRS"):
        raise fail(
            ("household_id",), "only civil affairs and admins change household circumstances", "FORBIDDEN"
        )


def update_circumstances(
    session: Session,
    household: Household,
    data: Mapping[str, Any],
    *,
    principal: Principal,
    today: date,
) -> Household:
    """变更: change facts from ``effective_from`` (default today). ``version`` must be the current one."""
    problems = Problems()
    read = Reader(problems)
    check_household_writer(principal)
    start = data.get("effective_from") or today
    residence = read.enum(data["residence"], UrbanRural, ("residence",)) if data.get("residence") else None
    address = read.text(data.get("address"), ("address",), limit=300, required=False)
    members_by_id = {m.id: m for m in household.members}
    changes = []
    for i, item in enumerate(data.get("members") or ()):
        path: Path = ("members", i)
        member = members_by_id.get(_local_id(item.get("member_id")))
        if member is None:
            problems.add((*path, "member_id"), "is not a member of this household", "UNKNOWN_MEMBER")
            continue
        facts = {
            k: read.enum(item[k], e, (*path, k)) for k, e in MEMBER_FACTS.items() if item.get(k) is not None
        }
        if item.get("self_care") is not None:
            facts["self_care_unable_mask"] = self_care_mask(item["self_care"], read, (*path, "self_care"))
        incomes = None
        if item.get("monthly_incomes") is not None:
            incomes = read.amounts(
                item["monthly_incomes"], IncomeKind, "monthly_amount", (*path, "monthly_incomes")
            )
        changes.append((member, facts, incomes))
    assets = expenses = None
    if data.get("assets") is not None:
        assets = read.amounts(data["assets"], AssetKind, "value", ("assets",))
    if data.get("rigid_expenses") is not None:
        expenses = read.amounts(data["rigid_expenses"], ExpenseKind, "annual_amount", ("rigid_expenses",))
    problems.raise_if_any()

    own: dict[str, Any] = {"updated_at": datetime.now(UTC)}  # the version moves even when only members change
    if residence is not None:
        own["residence"] = residence
    if data.get("address") is not None:
        own["address"] = address
    _claim_version(session, household, data.get("version"), own)
    for member, facts, incomes in changes:
        for key, value in facts.items():
            setattr(member, key, value)
        if incomes is not None:
            _supersede(session, Income, start, member_id=member.id)
            session.add_all(
                Income(
                    household_id=household.id,
                    member_id=member.id,
                    kind=k,
                    monthly_amount_fen=f,
                    valid_from=start,
                )
                for k, f in incomes
            )
    if assets is not None:
        _supersede(session, Asset, start, household_id=household.id)
        _add_assets(session, household.id, assets, [], start)
    if expenses is not None:
        _supersede(session, RigidExpense, start, household_id=household.id)
        _add_assets(session, household.id, [], expenses, start)
    session.flush()
    return household


def _claim_version(session: Session, household: Household, version: Any, values: dict[str, Any]) -> None:
    """乐观锁: write the household row only if it is still at ``version``, first thing in the transaction.

    The database decides (``UPDATE … WHERE version = :v``): of two updates sent with the same version, the
    second waits for the first to commit, then matches no row and is refused before writing anything.
    """
    claimed = session.execute(
        update(Household)
        .where(Household.id == household.id, Household.version == version)
        .values(version=Household.version + 1, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        current = session.scalar(select(Household.version).where(Household.id == household.id))
        raise fail(
            ("version",),
            f"the household was changed by someone else (current version {current}, you sent {version}); "
            "reload it and apply your change again",
            "STALE_VERSION",
        )
    session.refresh(household, ["version", *values])


def _local_id(value: Any) -> int | None:
    """Member ids arrive as global IDs decoded by the API layer, or as plain integers."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
