"""GraphQL output types (API.md). Each wraps a store row or a catalogue value; children come from loaders."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, NewType, TypeVar

import strawberry
from strawberry.types import Info

from safetynet import circles, model
from safetynet.governance import FlagCode
from safetynet.model import format_yuan
from safetynet.monitoring.evidence import reason_from_json
from safetynet.rules import level_of, self_care_level
from safetynet.store import models as rows

from . import loaders
from .context import Context
from .ids import encode

if TYPE_CHECKING:
    from .applications import Application
    from .warnings import ReviewSchedule

# -- scalars and enums ------------------------------------------------------------------------------

#: Money in GraphQL: the ``Decimal`` scalar (wired in through ``MONEY_SCALAR`` in the schema config).
Money = NewType("Money", str)
MONEY_SCALAR = strawberry.scalar(
    name="Decimal",
    description='Money in yuan as a string with two decimals, e.g. "780.00" (stored as integer fen).',
    serialize=lambda value: value,
    parse_value=lambda value: value,  # checked by the services, which report a user error naming the field
)


def money(fen: int | None) -> Any:
    return None if fen is None else format_yuan(fen)


UrbanRural = strawberry.enum(model.UrbanRural)
Sex = strawberry.enum(model.Sex)
LowIncomeCategory = strawberry.enum(model.LowIncomeCategory)
AidTier = strawberry.enum(model.AidTier)
AidStatus = strawberry.enum(model.AidStatus)
WarningLevel = strawberry.enum(model.WarningLevel)
WarningStatus = strawberry.enum(model.WarningStatus)
Resolution = strawberry.enum(model.Resolution)
Role = strawberry.enum(model.Role)
Relation = strawberry.enum(model.Relation)
DisabilityLevel = strawberry.enum(model.DisabilityLevel)
Illness = strawberry.enum(model.Illness)
LaborCapacity = strawberry.enum(model.LaborCapacity)
Employment = strawberry.enum(model.Employment)
EducationStage = strawberry.enum(model.EducationStage)
SelfCareLevel = strawberry.enum(model.SelfCareLevel)
IncomeKind = strawberry.enum(model.IncomeKind)
AssetKind = strawberry.enum(model.AssetKind)
ExpenseKind = strawberry.enum(model.ExpenseKind)
LocalityLevel = strawberry.enum(model.LocalityLevel)
PartnerKind = strawberry.enum(model.PartnerKind)
Circle = strawberry.enum(circles.Circle)

# -- Relay plumbing ---------------------------------------------------------------------------------

T = TypeVar("T")


@strawberry.interface(description="An object that can be fetched on its own with Query.node(id).")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int


@strawberry.type
class UserError:
    field: list[str] | None
    message: str
    code: str


# -- catalogue values -------------------------------------------------------------------------------


@strawberry.type(description="Which dated value of which locality a decision used.")
class ParameterUse:
    name: str
    locality_code: str
    value: str
    unit: str
    effective_from: date
    source: str
    illustrative: bool

    @classmethod
    def of(cls, use: model.ParameterUse) -> ParameterUse:
        return cls(
            name=use.name,
            locality_code=use.locality_code,
            value=use.display_value,
            unit=use.unit,
            effective_from=use.effective_from,
            source=use.source,
            illustrative=use.illustrative,
        )


@strawberry.type
class Reason:
    code: str
    message: str
    parameters: list[ParameterUse]

    @classmethod
    def of(cls, reason: model.Reason) -> Reason:
        return cls(
            code=reason.code,
            message=reason.message,
            parameters=[ParameterUse.of(p) for p in reason.parameters],
        )


@strawberry.type(description="An aid type a plugin provides (分层分类救助).")
class AidType:
    code: str
    name: str
    name_en: str
    tier: AidTier
    department: str
    plugin: str
    description: str


def aid_type_of(info: Info[Context, None], code: str) -> AidType:
    provided = info.context.runtime.catalogue.aid_types[code]
    a = provided.item
    return AidType(
        code=a.code,
        name=a.name,
        name_en=a.name_en,
        tier=a.tier,
        department=a.department,
        plugin=provided.plugin,
        description=a.description,
    )


@strawberry.type
class Partner:
    code: str
    name: str
    name_en: str
    kind: PartnerKind
    need_types: list[str]
    plugin: str


@strawberry.type
class PluginInfo:
    name: str
    module: str
    hooks: list[str]


@strawberry.type
class Principal:
    role: Role
    locality_code: str | None
    partner_code: str | None
    department: str | None


@strawberry.type(description="An administrative area and the parameters in force there.")
class Locality:
    code: str
    name: str
    level: LocalityLevel
    parent_code: strawberry.Private[str | None]

    @strawberry.field
    def parent(self, info: Info[Context, None]) -> Locality | None:
        return locality_of(info, self.parent_code) if self.parent_code else None

    @strawberry.field(
        description="The value in force here on asOf (default today), inherited if not set here."
    )
    def parameter(
        self, info: Info[Context, None], name: str, as_of: date | None = None
    ) -> ParameterUse | None:
        use = info.context.runtime.localities.resolve(name, self.code, as_of or info.context.runtime.today())
        return ParameterUse.of(use) if use else None


def locality_of(info: Info[Context, None], code: str) -> Locality | None:
    """A provided locality, or an accepted township/village code under one."""
    registry = info.context.runtime.localities
    provided = registry.localities.get(code)
    if provided is not None:
        parent = provided.parent_code or (None if code == "100000" else "100000")
        return Locality(code=code, name=provided.name, level=provided.level, parent_code=parent)
    governing = registry.governing(code)
    if governing is None:
        return None
    return Locality(
        code=code, name=f"{governing.name} {code}", level=level_of(code), parent_code=governing.code
    )


def full_id_number(
    info: Info[Context, None],
    row: rows.Member | rows.NearRelative | rows.DishonestyRecord,
    household_id: int | None,
) -> str | None:
    """A person's full identity number for principals that may read it (each read audited), else null."""
    from .audit import READ_ID_NUMBER, record_read

    ctx = info.context
    if not ctx.me.may_read_id_numbers:
        return None
    record_read(ctx, READ_ID_NUMBER, type(row).__name__, row.id, household_id)
    return ctx.runtime.vault.decrypt(row.id_number_encrypted)


# -- household and its chain ------------------------------------------------------------------------


@strawberry.type(description="One aid given to a household, by anyone: a link of its aid chain (救助链).")
class AidRecord(Node):
    row: strawberry.Private[rows.AidRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode("AidRecord", self.row.id))

    @strawberry.field
    def aid_type_code(self) -> str:
        return self.row.aid_type_code

    @strawberry.field
    def provider(self) -> str:
        return self.row.provider

    @strawberry.field
    def status(self, info: Info[Context, None]) -> AidStatus:
        return self.row.status_on(info.context.runtime.today())

    @strawberry.field
    def monthly_amount(self) -> Money | None:
        return money(self.row.monthly_amount_fen)

    @strawberry.field
    def one_off_amount(self) -> Money | None:
        return money(self.row.one_off_amount_fen)

    @strawberry.field
    def started_on(self) -> date:
        return self.row.started_on

    @strawberry.field
    def ended_on(self) -> date | None:
        return self.row.ended_on

    @strawberry.field
    def end_reason(self) -> str | None:
        return self.row.end_reason

    @strawberry.field
    def note(self) -> str | None:
        return self.row.note


@strawberry.type(description="A home visit (入户核查).")
class Visit(Node):
    row: strawberry.Private[rows.Visit]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode("Visit", self.row.id))

    @strawberry.field
    def visitor(self) -> str:
        return self.row.visitor

    @strawberry.field
    def visited_at(self) -> datetime:
        return _aware(self.row.visited_at)

    @strawberry.field
    def findings(self) -> str:
        return self.row.findings


@strawberry.type(description="A warning (预警) raised by a rule.")
class Warning(Node):
    row: strawberry.Private[rows.Warning]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode("Warning", self.row.id))

    @strawberry.field
    def rule(self) -> str:
        return self.row.rule

    @strawberry.field
    def level(self) -> WarningLevel:
        return self.row.level

    @strawberry.field
    def status(self) -> WarningStatus:
        return self.row.status

    @strawberry.field
    def raised_at(self) -> datetime:
        return _aware(self.row.raised_at)

    @strawberry.field
    def visit_due_by(self) -> datetime:
        return _aware(self.row.visit_due_by)

    @strawberry.field
    def overdue(self) -> bool:
        open_ = self.row.status in (model.WarningStatus.OPEN, model.WarningStatus.ASSIGNED)
        return open_ and _aware(self.row.visit_due_by) < datetime.now(UTC)

    @strawberry.field
    def routed_to(self) -> list[str]:
        return self.row.routed_to

    @strawberry.field
    def evidence(self, info: Info[Context, None]) -> list[Reason]:
        localities = info.context.runtime.localities
        return [Reason.of(reason_from_json(e, localities)) for e in self.row.evidence]

    @strawberry.field
    def resolution(self) -> Resolution | None:
        return self.row.resolution

    @strawberry.field
    def resolved_at(self) -> datetime | None:
        return _aware(self.row.resolved_at) if self.row.resolved_at else None

    @strawberry.field(description="The household, if you may see it.")
    async def household(self, info: Info[Context, None]) -> Household | None:
        from .warnings import visible_household_rows

        row = await info.context.loader("visible_households", visible_household_rows).load(
            self.row.household_id
        )
        return Household(row=row) if row is not None else None

    @strawberry.field(description="The caseworker it is assigned to (分派).")
    def assignee(self) -> str | None:
        return self.row.assignee

    @strawberry.field(description="The aid type it concerns: the one to enrol in, deliver or end.")
    def aid_type_code(self) -> str | None:
        return self.row.aid_type_code

    @strawberry.field(description="The member it is about, for a warning about one person.")
    def member_id(self) -> strawberry.ID | None:
        return strawberry.ID(encode("Member", self.row.member_id)) if self.row.member_id else None

    @strawberry.field(description="The department a REFERRED warning was pushed to.")
    def referred_to(self) -> str | None:
        return self.row.referred_to

    @strawberry.field
    def resolution_note(self) -> str | None:
        return self.row.resolution_note

    @strawberry.field(description="Home visits recorded for it (入户核查).")
    async def visits(self, info: Info[Context, None]) -> list[Visit]:
        from .warnings import visits_by_warning

        found = await info.context.loader("visits_by_warning", visits_by_warning).load(self.row.id)
        return [Visit(row=v) for v in found]


@strawberry.type(
    description="A household member (家庭成员). The identity number is masked unless you may read it."
)
class Member(Node):
    row: strawberry.Private[rows.Member]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode("Member", self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def id_number_masked(self) -> str:
        return self.row.id_number_masked

    @strawberry.field(
        description="The full number: only for principals allowed to read it; every read is audited."
    )
    def id_number(self, info: Info[Context, None]) -> str | None:
        return full_id_number(info, self.row, self.row.household_id)

    @strawberry.field
    def birth_date(self) -> date:
        return self.row.birth_date

    @strawberry.field
    def age(self, info: Info[Context, None]) -> int:
        today, born = info.context.runtime.today(), self.row.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    @strawberry.field
    def sex(self) -> Sex:
        return self.row.sex

    @strawberry.field
    def relation(self) -> Relation:
        return self.row.relation

    @strawberry.field
    def disability(self) -> DisabilityLevel:
        return self.row.disability

    @strawberry.field
    def illness(self) -> Illness:
        return self.row.illness

    @strawberry.field
    def labor_capacity(self) -> LaborCapacity:
        return self.row.labor_capacity

    @strawberry.field
    def employment(self) -> Employment:
        return self.row.employment

    @strawberry.field
    def education_stage(self) -> EducationStage:
        return self.row.education_stage

    @strawberry.field(
        description="From the six indicators: all able ABLE, 1–3 unable PARTLY_UNABLE, 4+ FULLY_UNABLE."
    )
    def self_care(self) -> SelfCareLevel | None:
        mask = self.row.self_care_unable_mask
        return None if mask is None else self_care_level(mask.bit_count())


@strawberry.type(description="One aid type's answer for a household, with the reasons and parameters used.")
class Assessment:
    aid_type: AidType
    eligible: bool
    monthly_amount: Money | None
    one_off_amount: Money | None
    reasons: list[Reason]


IntegrityFlagCode = strawberry.enum(FlagCode, description="Why a household's aid needs a second look")


@strawberry.type(description="A reason to look twice at a household's aid (近亲属备案 or 失信).")
class IntegrityFlag:
    code: IntegrityFlagCode  # type: ignore[valid-type]
    message: str
    member_id: strawberry.ID | None
    record_id: strawberry.ID | None = strawberry.field(
        description="The NearRelative registration or DishonestyRecord behind the flag"
    )


@strawberry.type(description="户: the unit of assistance.")
class Household(Node):
    row: strawberry.Private[rows.Household]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode("Household", self.row.id))

    @strawberry.field
    def locality_code(self) -> str:
        return self.row.locality_code

    @strawberry.field
    def residence(self) -> UrbanRural:
        return self.row.residence

    @strawberry.field
    def address(self) -> str | None:
        return self.row.address

    @strawberry.field(
        description="Send it back in updateCircumstances: a stale version is refused (no lost update)."
    )
    def version(self) -> int:
        return self.row.version

    @strawberry.field(description="The people of the household: a read of its full record, audited.")
    async def members(self, info: Info[Context, None]) -> list[Member]:
        from .audit import READ_HOUSEHOLD, record_read

        found = await info.context.loader("members", loaders.members).load(self.row.id)
        record_read(info.context, READ_HOUSEHOLD, "Household", self.row.id, self.row.id)
        return [Member(row=m) for m in found]

    async def _assessed(self, info: Info[Context, None], as_of: date | None) -> loaders.Assessed:
        day = as_of or info.context.runtime.today()
        return await info.context.loader("assessed", loaders.assessed).load((self.row.id, day))

    @strawberry.field(description="家庭人均月收入 on asOf (default today).")
    async def per_capita_monthly_income(self, info: Info[Context, None], as_of: date | None = None) -> Money:
        found = await self._assessed(info, as_of)
        return money(int(found.batch.per_capita_income_fen[found.index]))

    @strawberry.field(
        description=(
            "Current low-income categories: from the latest sweep, or assessed now if never swept; "
            "RETURN_POVERTY_WATCH as imported from the rural-revitalisation department."
        )
    )
    async def categories(self, info: Info[Context, None]) -> list[LowIncomeCategory]:
        return await info.context.loader("categories", loaders.categories).load(self.row.id)

    @strawberry.field(description="Changning's four circles (seed 001 §2); null when in none of them.")
    async def circle(self, info: Info[Context, None]) -> Circle | None:
        return await info.context.loader("circles", loaders.circles).load(self.row.id)

    @strawberry.field(
        description="One assessment per installed aid type, under the parameters in force on asOf."
    )
    async def assessments(self, info: Info[Context, None], as_of: date | None = None) -> list[Assessment]:
        found = await self._assessed(info, as_of)
        out = []
        for code, result in found.results.items():
            i = found.index
            monthly = result.monthly_amount_fen
            one_off = result.one_off_amount_fen
            out.append(
                Assessment(
                    aid_type=aid_type_of(info, code),
                    eligible=bool(result.eligible[i]),
                    monthly_amount=None if monthly is None else money(int(monthly[i])),
                    one_off_amount=None if one_off is None else money(int(one_off[i])),
                    reasons=[Reason.of(r) for r in result.reasons_for(i)],
                )
            )
        return out

    @strawberry.field(description="Every aid given, by anyone (一户一条救助链).")
    async def aid_chain(self, info: Info[Context, None]) -> list[AidRecord]:
        found = await info.context.loader("aid_chain", loaders.aid_chain).load(self.row.id)
        return [AidRecord(row=r) for r in found]

    @strawberry.field
    async def warnings(
        self, info: Info[Context, None], statuses: list[WarningStatus] | None = None
    ) -> list[Warning]:
        found = await info.context.loader("warnings", loaders.warnings).load(self.row.id)
        return [Warning(row=w) for w in found if statuses is None or w.status in statuses]

    @strawberry.field
    async def visits(self, info: Info[Context, None]) -> list[Visit]:
        found = await info.context.loader("visits", loaders.visits).load(self.row.id)
        return [Visit(row=v) for v in found]

    @strawberry.field(
        description="复核: when the next periodic review is due (null when the household holds no aid under review)."
    )
    async def next_review_due(self, info: Info[Context, None]) -> date | None:
        from .warnings import review_schedule

        found = await review_schedule(info.context, self.row.id)
        return found.next_review_due if found else None

    @strawberry.field(description="定期核查 · 探访周期: the review and care-visit schedule, and why.")
    async def review_schedule(
        self, info: Info[Context, None]
    ) -> Annotated[ReviewSchedule, strawberry.lazy(".warnings")] | None:
        from .warnings import review_schedule

        return await review_schedule(info.context, self.row.id)

    @strawberry.field(description="Applications for aid (救助申请) you may see, newest first.")
    async def applications(
        self, info: Info[Context, None]
    ) -> list[Annotated[Application, strawberry.lazy(".applications")]]:
        from .applications import applications_of

        return await applications_of(info, self.row.id)

    @strawberry.field(
        description="近亲属备案 and 失信 flags on asOf (default today); every aid decision for a flagged household raises a warning."
    )
    async def integrity_flags(
        self, info: Info[Context, None], as_of: date | None = None
    ) -> list[IntegrityFlag]:
        from .governance import integrity_flags

        day = as_of or info.context.runtime.today()
        return await info.context.loader("integrity_flags", integrity_flags).load((self.row.id, day))


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
