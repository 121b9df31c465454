"""SQLAlchemy 2 models: the core's tables. Money columns are integer fen (``*_fen``); never floats.

Enumerated columns store the enum member's name as text with a CHECK constraint, so the database stays
readable with plain SQL and rejects values the contract does not know.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum as PyEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from safetynet.applications.states import AidOutcome, ApplicationStatus, StepKind
from safetynet.model import (
    AidStatus,
    AssetKind,
    DisabilityLevel,
    EducationStage,
    Employment,
    ExpenseKind,
    Illness,
    IncomeKind,
    LaborCapacity,
    LocalityLevel,
    LowIncomeCategory,
    NeedEventKind,
    NeedStatus,
    Relation,
    Resolution,
    Role,
    Sex,
    UrbanRural,
    Urgency,
    WarningLevel,
    WarningStatus,
    WebhookStatus,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def enum_column(enum: type[PyEnum]) -> Enum:
    """Text column holding the member name, with a named CHECK constraint."""
    return Enum(
        enum,
        name=enum.__name__.lower(),
        native_enum=False,
        create_constraint=True,
        length=max(len(m.name) for m in enum),
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _now() -> Any:
    return func.now()


class LocalityRow(Base):
    """行政区划: the localities the locality plugins provide, refreshed at start-up (for joins and names)."""

    __tablename__ = "localities"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[LocalityLevel] = mapped_column(enum_column(LocalityLevel))
    parent_code: Mapped[str | None] = mapped_column(String(12))
    plugin: Mapped[str] = mapped_column(String(100))


class Household(Base):
    """户: the unit of assistance. ``locality_code`` is the township or village it lives in."""

    __tablename__ = "households"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    locality_code: Mapped[str] = mapped_column(String(12), index=True)
    residence: Mapped[UrbanRural] = mapped_column(enum_column(UrbanRural))
    address: Mapped[str | None] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), onupdate=_now()
    )
    #: The last periodic review (复核): a home visit for one of its warnings or one recorded as a review
    #: (``safetynet.monitoring.reviews``); the review schedule runs from it (``safetynet.schedules``).
    last_reviewed_on: Mapped[date | None] = mapped_column(Date)

    members: Mapped[list[Member]] = relationship(back_populates="household", order_by="Member.id")

    __mapper_args__ = {"version_id_col": version}  # optimistic concurrency (乐观锁)


class Member(Base):
    """家庭成员. The identity number is kept only encrypted, with a keyed hash for matching."""

    __tablename__ = "members"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    id_number_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(enum_column(Sex))
    relation: Mapped[Relation] = mapped_column(enum_column(Relation))
    disability: Mapped[DisabilityLevel] = mapped_column(
        enum_column(DisabilityLevel), default=DisabilityLevel.NONE
    )
    illness: Mapped[Illness] = mapped_column(enum_column(Illness), default=Illness.NONE)
    labor_capacity: Mapped[LaborCapacity] = mapped_column(
        enum_column(LaborCapacity), default=LaborCapacity.FULL
    )
    employment: Mapped[Employment] = mapped_column(
        enum_column(Employment), default=Employment.NOT_IN_LABOR_FORCE
    )
    education_stage: Mapped[EducationStage] = mapped_column(
        enum_column(EducationStage), default=EducationStage.NONE
    )
    #: The six self-care indicators (eating, dressing, transferring, toileting, walking indoors, bathing)
    #: as a bit mask of the ones the member can NOT do alone; None when never assessed.
    self_care_unable_mask: Mapped[int | None] = mapped_column(SmallInteger)
    deceased_on: Mapped[date | None] = mapped_column(Date)

    household: Mapped[Household] = relationship(back_populates="members")


class Income(Base):
    """A member's monthly income of one kind, valid over a period (dated circumstance)."""

    __tablename__ = "incomes"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    kind: Mapped[IncomeKind] = mapped_column(enum_column(IncomeKind))
    monthly_amount_fen: Mapped[int] = mapped_column(BigInteger)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)  # exclusive; None = still current


class Asset(Base):
    """A household asset (家庭财产) of one kind, valid over a period."""

    __tablename__ = "assets"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AssetKind] = mapped_column(enum_column(AssetKind))
    value_fen: Mapped[int] = mapped_column(BigInteger)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class RigidExpense(Base):
    """A household's annual rigid expense (刚性支出) of one kind, valid over a period."""

    __tablename__ = "rigid_expenses"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ExpenseKind] = mapped_column(enum_column(ExpenseKind))
    annual_amount_fen: Mapped[int] = mapped_column(BigInteger)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class AidRecord(Base):
    """One aid given to a household, by anyone: a link of its aid chain (一户一条救助链)."""

    __tablename__ = "aid_records"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    aid_type_code: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    monthly_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    one_off_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (Index("ix_aid_records_household_type", "household_id", "aid_type_code", "started_on"),)

    def status_on(self, day: date) -> AidStatus:
        """ACTIVE until the day it ends (``ended_on`` is the first day without the aid)."""
        return AidStatus.ACTIVE if self.ended_on is None or self.ended_on > day else AidStatus.ENDED


class Warning(Base):
    """预警: raised by a rule, routed to departments, visited, resolved."""

    __tablename__ = "warnings"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    #: Indexed by ix_warnings_household_rule_status, which it leads.
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(64))
    level: Mapped[WarningLevel] = mapped_column(enum_column(WarningLevel))
    status: Mapped[WarningStatus] = mapped_column(enum_column(WarningStatus), default=WarningStatus.OPEN)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    visit_due_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    assignee: Mapped[str | None] = mapped_column(String(100))
    resolution: Mapped[Resolution | None] = mapped_column(enum_column(Resolution))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), onupdate=_now()
    )
    #: The member the warning is about (a death, an unemployment…); None for the whole household.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    #: The aid type the warning concerns (enrol in it, deliver it, end it), if any.
    aid_type_code: Mapped[str | None] = mapped_column(String(64))
    #: What the warning is about, as the rule states it (e.g. the date of the triggering record): a
    #: resolved or dismissed warning with the same basis and at least the same level is not raised again.
    basis: Mapped[str | None] = mapped_column(String(200))
    #: The level last announced to ``safetynet_warning_raised`` (None: not yet). The sweep announces
    #: warnings whose level is above it after each committed batch, so a killed sweep loses no event.
    notified_level: Mapped[WarningLevel | None] = mapped_column(
        Enum(WarningLevel, name="notified_level", native_enum=False, create_constraint=True, length=6)
    )
    #: The department a REFERRED warning was pushed to (分类推送).
    referred_to: Mapped[str | None] = mapped_column(String(64))
    #: A 64-bit digest (hex) of what the evidence, member, aid type and basis were computed from: the
    #: sweep compares it, not the evidence text, to find the warnings whose evidence changed.
    evidence_digest: Mapped[str | None] = mapped_column(String(16))

    routes: Mapped[list[WarningRoute]] = relationship(
        cascade="all, delete-orphan", order_by="WarningRoute.department"
    )

    __table_args__ = (
        Index("ix_warnings_household_rule_status", "household_id", "rule", "status"),
        # At most one open warning per household and rule: the sweep updates it rather than add another.
        Index(
            "uq_warnings_open_household_rule",
            "household_id",
            "rule",
            unique=True,
            sqlite_where=text("status IN ('OPEN', 'ASSIGNED', 'VERIFIED')"),
            postgresql_where=text("status IN ('OPEN', 'ASSIGNED', 'VERIFIED')"),
        ),
    )

    @property
    def routed_to(self) -> list[str]:
        return [r.department for r in self.routes]


class WarningRoute(Base):
    """A department a warning was routed to (分类推送)."""

    __tablename__ = "warning_routes"
    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id", ondelete="CASCADE"), primary_key=True)
    department: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Visit(Base):
    """入户核查: a home visit, with who went, when, and what they found."""

    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    warning_id: Mapped[int | None] = mapped_column(ForeignKey("warnings.id", ondelete="SET NULL"))
    visitor: Mapped[str] = mapped_column(String(100))
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    findings: Mapped[str] = mapped_column(Text)


class AssessmentResult(Base):
    """The latest sweep's answer for one household and one aid type (rewritten only when it changes).

    ``assessed_on`` is the as-of date of the sweep that found the current answer: an unchanged answer
    is not rewritten, so it is the date since which the answer holds.
    """

    __tablename__ = "assessment_results"
    household_id: Mapped[int] = mapped_column(
        ForeignKey("households.id", ondelete="CASCADE"), primary_key=True
    )
    aid_type_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    eligible: Mapped[bool] = mapped_column(Boolean)
    monthly_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    one_off_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    assessed_on: Mapped[date] = mapped_column(Date)


class HouseholdCategory(Base):
    """A low-income category (低收入人口类别) a household was in, from ``since`` until ``until`` (exclusive).

    The sweep keeps one open row (``until`` None) per current category; closing sets ``until``.
    """

    __tablename__ = "household_categories"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    category: Mapped[LowIncomeCategory] = mapped_column(enum_column(LowIncomeCategory))
    since: Mapped[date] = mapped_column(Date)
    until: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        Index(
            "uq_household_categories_open",
            "household_id",
            "category",
            unique=True,
            sqlite_where=text("until IS NULL"),
            postgresql_where=text("until IS NULL"),
        ),
    )


class SweepRun(Base):
    """One monitoring sweep (动态监测比对) over an area on an as-of date, and how far it got.

    ``last_household_id`` is committed with each batch, so a sweep that was killed resumes after it.
    """

    __tablename__ = "sweep_runs"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    locality_prefix: Mapped[str] = mapped_column(String(12), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    households: Mapped[int] = mapped_column(Integer, default=0)
    warnings_raised: Mapped[int] = mapped_column(Integer, default=0)
    warnings_updated: Mapped[int] = mapped_column(Integer, default=0)
    categories_changed: Mapped[int] = mapped_column(Integer, default=0)
    assessments_changed: Mapped[int] = mapped_column(Integer, default=0)
    last_household_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_sweep_runs_as_of_prefix", "as_of", "locality_prefix"),)


class SignalRow(Base):
    """A department record turned into a signal; unique per (source, record_id) so ingest is idempotent.

    Read by household; the signals not yet linked to a member are indexed by identity hash (for
    ``link_unmatched``). ``member_id`` has no index: members are never deleted, so its foreign key
    is never followed backwards.
    """

    __tablename__ = "signals"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    id_number_hash: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL"), index=True
    )
    occurred_on: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)  # e.g. out-of-pocket cost, wage, disaster loss
    value: Mapped[str | None] = mapped_column(String(64))  # e.g. disability level, education stage, disaster
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        UniqueConstraint("source", "record_id", name="uq_signals_source_record"),
        Index(
            "ix_signals_unmatched",
            "id_number_hash",
            sqlite_where=text("member_id IS NULL"),
            postgresql_where=text("member_id IS NULL"),
        ),
    )


class NeedListing(Base):
    """低收入需求清单: a household's need, published for partners without identifying details."""

    __tablename__ = "need_listings"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    need_type: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    locality_code: Mapped[str] = mapped_column(String(12), index=True)
    urgency: Mapped[Urgency] = mapped_column(enum_column(Urgency))
    status: Mapped[NeedStatus] = mapped_column(enum_column(NeedStatus), default=NeedStatus.OPEN)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fulfilled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fulfilled_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    fulfilment_note: Mapped[str | None] = mapped_column(Text)
    #: The fulfilment's aid record (no foreign key: see migration 0003).
    aid_record_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    last_event_id: Mapped[int | None] = mapped_column(BigInteger)  # the cursor of its newest event


class NeedEventRow(Base):
    """The persisted need event log; its id is the monotonic cursor subscriptions resume from.

    Ids are never reused (AUTOINCREMENT on SQLite) and are committed in order (the writers take a lock,
    see ``safetynet.matching.needs``), so "every event after cursor N" never skips one. ``partner_code``
    is the partner holding the listing after the event; ``amount_fen`` the amount of a fulfilment.
    """

    __tablename__ = "need_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("need_listings.id", ondelete="CASCADE"), index=True)
    kind: Mapped[NeedEventKind] = mapped_column(enum_column(NeedEventKind))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    partner_code: Mapped[str | None] = mapped_column(String(64))
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = {"sqlite_autoincrement": True}


class ApiKey(Base):
    """A principal: an API key (kept only as a SHA-256 hash) with a role and its scope."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    locality_code: Mapped[str | None] = mapped_column(String(12))
    partner_code: Mapped[str | None] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """审计日志: who read or changed what, when, from where."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now(), index=True)
    principal_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    client: Mapped[str | None] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class PartnerWebhook(Base):
    """A partner's webhook: need events are POSTed to ``url``, signed, in cursor order.

    ``cursor`` is the last event handled (delivered or not for this partner); ``consecutive_failures``
    counts failed attempts at the next event, which is retried at ``next_attempt_at`` until the webhook
    is paused. The secret is kept encrypted (it signs the bodies, so it must be recoverable).
    """

    __tablename__ = "partner_webhooks"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_code: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    need_types: Mapped[list[Any]] = mapped_column(JSON, default=list)  # empty: all the partner takes
    locality_code: Mapped[str | None] = mapped_column(String(12))
    status: Mapped[WebhookStatus] = mapped_column(enum_column(WebhookStatus), default=WebhookStatus.ACTIVE)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pause_reason: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class WebhookDelivery(Base):
    """One attempt to deliver one need event to one webhook, with the receiver's answer."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("partner_webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("need_events.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_webhook_deliveries_webhook_event", "webhook_id", "event_id"),)


class NearRelative(Base):
    """近亲属备案: a staff member's registered near relative, kept like a member's identity number.

    Households under ``locality_prefix`` (the staff member's area) with a member of this identity number
    are flagged. Removal keeps the row (``removed_at``, who and why): the history stays auditable.
    """

    __tablename__ = "near_relatives"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    id_number_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    relative_name: Mapped[str] = mapped_column(String(100))
    kinship: Mapped[str] = mapped_column(String(16))
    staff_name: Mapped[str] = mapped_column(String(100))
    staff_post: Mapped[str] = mapped_column(String(100))
    locality_code: Mapped[str] = mapped_column(String(12), index=True)
    locality_prefix: Mapped[str] = mapped_column(String(12))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    registered_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    removal_reason: Mapped[str | None] = mapped_column(Text)


class DishonestyRecord(Base):
    """失信记录: aid obtained by fraud (骗取救助) by one person, and the amount to recover (追回).

    Matched to households by the identity number's keyed hash, wherever the person is registered
    ("一处失信、他处受限").
    """

    __tablename__ = "dishonesty_records"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    id_number_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    person_name: Mapped[str] = mapped_column(String(100))
    facts: Mapped[str] = mapped_column(Text)
    amount_to_recover_fen: Mapped[int] = mapped_column(BigInteger)
    decided_on: Mapped[date] = mapped_column(Date)
    deciding_unit: Mapped[str] = mapped_column(String(200))
    locality_code: Mapped[str] = mapped_column(String(12), index=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))

    aid_records: Mapped[list[DishonestyAidRecord]] = relationship(
        cascade="all, delete-orphan", order_by="DishonestyAidRecord.aid_record_id"
    )
    recoveries: Mapped[list[Recovery]] = relationship(cascade="all, delete-orphan", order_by="Recovery.id")


class DishonestyAidRecord(Base):
    """An aid record a dishonesty record concerns."""

    __tablename__ = "dishonesty_aid_records"
    record_id: Mapped[int] = mapped_column(
        ForeignKey("dishonesty_records.id", ondelete="CASCADE"), primary_key=True
    )
    aid_record_id: Mapped[int] = mapped_column(ForeignKey("aid_records.id"), primary_key=True, index=True)


class Recovery(Base):
    """追回: money recovered on a dishonesty record."""

    __tablename__ = "recoveries"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("dishonesty_records.id", ondelete="CASCADE"), index=True
    )
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    received_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))


# -- applications (救助申请): 申请 → 受理 → 入户调查 → 经济状况核对 → 民主评议 → 公示 → 审核确认 ----------


class Application(Base):
    """救助申请: one household's application, at one window, for one or more aid types (一门受理).

    ``decision_due_on`` is the last working day for the decision (审核确认时限): ``working_days``
    working days after ``accepted_on`` (``approval.working_days``, or ``approval.working_days_extended``
    once extended); ``due_provisional`` when it counted days the official calendar does not cover yet.
    ``notice_ends_on`` is the last day of the public notice (公示). ``flags`` are the integrity flags
    found when the application was made and decided (``{"code", "message", "step"}``).
    """

    __tablename__ = "applications"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    #: The warning after which the household was helped to apply (协助申办), if any.
    warning_id: Mapped[int | None] = mapped_column(ForeignKey("warnings.id", ondelete="SET NULL"))
    status: Mapped[ApplicationStatus] = mapped_column(enum_column(ApplicationStatus), index=True)
    advance: Mapped[bool] = mapped_column(Boolean, default=False)  # 先行救助
    applied_on: Mapped[date] = mapped_column(Date)
    accepted_on: Mapped[date | None] = mapped_column(Date)
    working_days: Mapped[int | None] = mapped_column(Integer)
    decision_due_on: Mapped[date | None] = mapped_column(Date)
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    notice_started_on: Mapped[date | None] = mapped_column(Date)
    notice_ends_on: Mapped[date | None] = mapped_column(Date)
    decided_on: Mapped[date | None] = mapped_column(Date)
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), onupdate=_now()
    )

    aids: Mapped[list[ApplicationAid]] = relationship(
        cascade="all, delete-orphan", order_by="ApplicationAid.aid_type_code"
    )
    steps: Mapped[list[ApplicationStep]] = relationship(
        cascade="all, delete-orphan", order_by="ApplicationStep.id"
    )


class ApplicationAid(Base):
    """One aid type applied for, and its decision: the amounts approved and the aid record created."""

    __tablename__ = "application_aids"
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True
    )
    aid_type_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[AidOutcome | None] = mapped_column(enum_column(AidOutcome))
    monthly_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    one_off_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    aid_record_id: Mapped[int | None] = mapped_column(ForeignKey("aid_records.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)


class ApplicationStep(Base):
    """A step of an application, with who took it (the key and the name given), when, and the note."""

    __tablename__ = "application_steps"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    kind: Mapped[StepKind] = mapped_column(enum_column(StepKind))
    done_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    principal_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    by_name: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
