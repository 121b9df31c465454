"""Plain value types that plugins return from catalogue hooks and receive in event and decision hooks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .enums import AidTier, LowIncomeCategory, PartnerKind, Urgency, WarningLevel
from .parameters import ParameterUse


@dataclass(frozen=True)
class Reason:
    """Why a decision came out as it did, with every parameter it used."""

    code: str
    message: str
    parameters: tuple[ParameterUse, ...] = ()


@dataclass(frozen=True)
class AidType:
    """An aid type (救助类型) and its vectorised rule.

    ``assess(households, parameters, earlier)`` receives a :class:`~safetynet.rules.HouseholdBatch`,
    the batch's :class:`~safetynet.rules.Parameters` and the assessments of the aid types named in
    ``depends_on`` (a mapping code → :class:`~safetynet.rules.Assessment`), and returns an Assessment.
    ``category`` is the low-income category that eligibility places a household in, if any.
    """

    code: str
    name: str
    name_en: str
    tier: AidTier
    department: str
    assess: Callable[..., Any]
    depends_on: tuple[str, ...] = ()
    category: LowIncomeCategory | None = None
    description: str = ""


@dataclass(frozen=True)
class Resource:
    """A partner's resource (社会救助资源清单): what it offers, how much, until when.

    ``amount_fen`` is money on offer, ``quantity`` a number of cases or service places; either may be
    None. ``available_until`` is the last day it can be used (None: until further notice). The
    ``remaining_*`` fields are None in the catalogue; the core fills them in (what is left after
    claims and fulfilments) on the partners it passes to ``safetynet_match_need``.
    """

    code: str
    name: str
    need_type: str
    amount_fen: int | None = None
    quantity: int | None = None
    available_until: date | None = None
    remaining_amount_fen: int | None = None
    remaining_quantity: int | None = None


@dataclass(frozen=True)
class Partner:
    """A partner organisation: trade union, women's federation, Red Cross, a charity…"""

    code: str
    name: str
    name_en: str
    kind: PartnerKind
    need_types: tuple[str, ...]
    localities: tuple[str, ...]
    resources: tuple[Resource, ...] = ()


@dataclass(frozen=True)
class Signal:
    """One department record about one person, as a data-source parser reads it."""

    record_id: str
    id_number: str
    occurred_on: date
    kind: str
    amount_fen: int | None = None
    value: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)  # the rest of the record, kept as evidence


@dataclass(frozen=True)
class RecordError:
    """A department record that could not be read: its position, its id if it had one, and why."""

    index: int
    record_id: str | None
    message: str


@dataclass(frozen=True)
class ParsedRecords:
    signals: tuple[tuple[int, Signal], ...]  # (index in the input, signal)
    rejected: tuple[RecordError, ...]


@dataclass(frozen=True)
class DataSource:
    """A department's data feed (部门数据共享): its record fields and a batch parser."""

    code: str
    department: str
    fields: tuple[str, ...]
    parse: Callable[[Sequence[Mapping[str, Any]]], ParsedRecords]


@dataclass(frozen=True)
class WarningRule:
    """A warning rule (预警规则): what it watches, its level, where it routes, and a vectorised detector.

    ``detect(households, parameters, context)`` returns a :class:`~safetynet.rules.Detection`.
    """

    code: str
    name: str
    level: WarningLevel
    watches: str
    departments: tuple[str, ...]
    detect: Callable[..., Any]


@dataclass(frozen=True)
class GraphQLContribution:
    """Strawberry types a plugin adds: their fields are merged into Query, Mutation and Subscription."""

    query: tuple[type, ...] = ()
    mutation: tuple[type, ...] = ()
    subscription: tuple[type, ...] = ()
    types: tuple[type, ...] = ()


@dataclass(frozen=True)
class AidEvent:
    """An aid record granted or ended, as event hooks see it."""

    record_id: int
    household_id: int
    locality_code: str
    aid_type_code: str
    provider: str
    monthly_amount_fen: int | None
    one_off_amount_fen: int | None
    started_on: date
    ended_on: date | None = None
    reason: str | None = None


@dataclass(frozen=True)
class WarningEvent:
    """A warning raised or updated, as event and decision hooks see it."""

    warning_id: int | None
    household_id: int
    locality_code: str
    rule: str
    level: WarningLevel
    evidence: tuple[Reason, ...]
    raised_at: datetime | None = None


@dataclass(frozen=True)
class NeedEvent:
    """A need listing as partners may see it: no name, identity number, address or household id."""

    listing_id: int
    need_type: str
    summary: str
    locality_code: str
    urgency: Urgency
    partner_code: str | None = None
    amount_fen: int | None = None


@dataclass(frozen=True)
class Match:
    """A partner's score for a need listing (higher is better), with a reason shown to caseworkers."""

    partner_code: str
    score: float
    reason: str
