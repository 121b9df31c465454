"""GraphQL input types (API.md) and their conversion to the plain mappings the services take."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import strawberry

from .types import (
    AssetKind,
    DisabilityLevel,
    EducationStage,
    Employment,
    ExpenseKind,
    Illness,
    IncomeKind,
    LaborCapacity,
    Money,
    Relation,
    UrbanRural,
)


@strawberry.input
class IncomeInput:
    kind: IncomeKind
    monthly_amount: Money


@strawberry.input
class AssetInput:
    kind: AssetKind
    value: Money


@strawberry.input
class ExpenseInput:
    kind: ExpenseKind
    annual_amount: Money


@strawberry.input(description="The six self-care indicators (生活自理能力); true = can do it alone.")
class SelfCareInput:
    eating: bool
    dressing: bool
    transferring: bool
    toileting: bool
    walking_indoors: bool
    bathing: bool


@strawberry.input
class MemberInput:
    name: str
    id_number: str
    relation: Relation
    disability: DisabilityLevel = DisabilityLevel.NONE
    illness: Illness = Illness.NONE
    labor_capacity: LaborCapacity = LaborCapacity.FULL
    employment: Employment = Employment.NOT_IN_LABOR_FORCE
    education_stage: EducationStage = EducationStage.NONE
    self_care: SelfCareInput | None = None
    monthly_incomes: list[IncomeInput] | None = None


@strawberry.input
class RegisterHouseholdInput:
    locality_code: str
    residence: UrbanRural
    members: list[MemberInput]
    address: str | None = None
    assets: list[AssetInput] | None = None
    rigid_expenses: list[ExpenseInput] | None = None


@strawberry.input(description="Changes to one member; omitted fields stay as they are.")
class MemberCircumstancesInput:
    member_id: strawberry.ID
    disability: DisabilityLevel | None = None
    illness: Illness | None = None
    labor_capacity: LaborCapacity | None = None
    employment: Employment | None = None
    education_stage: EducationStage | None = None
    self_care: SelfCareInput | None = None
    monthly_incomes: list[IncomeInput] | None = strawberry.field(
        default=None, description="Replaces the member's incomes from effectiveFrom."
    )


@strawberry.input(
    description="Changes from effectiveFrom (default today). version must be the household's current one."
)
class CircumstancesInput:
    household_id: strawberry.ID
    version: int
    effective_from: date | None = None
    residence: UrbanRural | None = None
    address: str | None = None
    members: list[MemberCircumstancesInput] | None = None
    assets: list[AssetInput] | None = strawberry.field(default=None, description="Replaces the assets.")
    rigid_expenses: list[ExpenseInput] | None = strawberry.field(
        default=None, description="Replaces the expenses."
    )


@strawberry.input(
    description="Aid given by civil affairs, a department or a partner (also departments' feedback)."
)
class GrantAidInput:
    household_id: strawberry.ID
    aid_type_code: str
    started_on: date
    monthly_amount: Money | None = None
    one_off_amount: Money | None = None
    ended_on: date | None = None
    provider: str | None = None
    note: str | None = None


def plain(value: Any) -> Any:
    """An input object → nested dicts with snake_case keys (enums stay enum members)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
