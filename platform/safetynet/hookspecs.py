"""The plugin contract. Read this file to know the system.

safetynet's core keeps households, warnings and the aid chain. Everything that is policy is a plugin:
each aid type (救助类型), partner organisation, locality's parameters, department data feed and warning
rule. A plugin is a module (or any object) with functions marked ``@hookimpl`` whose names match the
hooks below, registered under the ``safetynet`` entry-point group::

    # pyproject.toml of your package
    [project.entry-points.safetynet]
    "aid.heating_oil" = "my_county_aid.heating_oil"

Three kinds of hooks:

* **Catalogue hooks** return lists and are called once at start-up. Their results form an immutable
  catalogue; a code that two plugins both claim is a start-up error naming both.
* **Event hooks** are called after something happened and was committed. They may return an awaitable,
  which the core awaits; an exception is logged with the plugin's name and does not undo the event.
* **Decision hooks** ask every plugin and aggregate the answers.

Rules, detectors and parsers work on whole batches (NumPy columns for thousands of households at
once), never one call per household. A plugin imports only ``safetynet.hookimpl``, ``safetynet.model``
and the helpers in ``safetynet.rules``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

import pluggy

from safetynet.model import (
    AidEvent,
    AidType,
    DataSource,
    GraphQLContribution,
    Locality,
    Match,
    NeedEvent,
    Partner,
    WarningEvent,
    WarningRule,
)

PROJECT = "safetynet"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------------------------------
# Catalogue hooks: called once at start-up.
# --------------------------------------------------------------------------------------------------


@hookspec
def safetynet_aid_types() -> Sequence[AidType]:
    """Aid types this plugin provides (分层分类救助: basic living, special, emergency, service, other).

    ``assess(households, parameters, earlier)`` is called with a whole
    :class:`~safetynet.rules.HouseholdBatch`, its :class:`~safetynet.rules.Parameters` and
    ``earlier``, the assessments of the aid types listed in ``depends_on`` that are installed
    (a disabled one is simply absent). It returns an :class:`~safetynet.rules.Assessment` whose
    reasons name every parameter used, so a caseworker sees *why*::

        from safetynet import hookimpl
        from safetynet.model import AidTier, AidType
        from safetynet.rules import Assessment, because, yuan

        def assess(households, parameters, earlier):
            allowance = parameters["heating.allowance"]           # yuan → fen, per household
            cold = households.urban                                # any vectorised condition
            return Assessment(
                eligible=cold,
                monthly_amount_fen=allowance.values * cold,
                reasons=[because(cold, "HEATING", "heating allowance {a} a month", a=allowance)],
            )

        @hookimpl
        def safetynet_aid_types():
            return [AidType(code="heating", name="取暖救助", name_en="Heating aid",
                            tier=AidTier.OTHER, department="civil_affairs", assess=assess)]
    """


@hookspec
def safetynet_partners() -> Sequence[Partner]:
    """Partner organisations: trade union, youth league, women's federation, Red Cross, charities…

    Each declares its kind, the need types it takes, the localities it serves and its resources::

        @hookimpl
        def safetynet_partners():
            return [Partner(code="red_cross_620700", name="张掖市红十字会", name_en="Zhangye Red Cross",
                            kind=PartnerKind.RED_CROSS, need_types=("medical", "disaster"),
                            localities=("620700",))]
    """


@hookspec
def safetynet_localities() -> Sequence[Locality]:
    """Localities (行政区划) and their dated parameters with sources.

    Keep the numbers in a TOML pack beside the module (see ``safetynet.rules.packs``) and load it::

        from pathlib import Path
        from safetynet import hookimpl
        from safetynet.rules import load_pack

        @hookimpl
        def safetynet_localities():
            return [load_pack(Path(__file__).with_name("my_county.toml"))]

    A parameter a locality does not set is inherited from the nearest ancestor that does
    (village → township → county → city → province → nation, by code prefix).
    """


@hookspec
def safetynet_data_sources() -> Sequence[DataSource]:
    """Department data feeds (部门数据共享): the record fields and a batch parser to signals.

    ``parse(records)`` receives a list of dicts (JSON lines, or CSV rows with the same column names)
    and returns :class:`~safetynet.model.ParsedRecords`: the signals with their input positions, and
    a :class:`~safetynet.model.RecordError` for each row it rejects (index, record id, why).
    ``safetynet.rules.records.record_source`` builds one from field readers, with ``recordId``,
    ``idNumber`` and ``date`` checked for you::

        from safetynet.rules.records import Field, one_of, record_source

        @hookimpl
        def safetynet_data_sources():
            return [record_source(code="civil_registry", department="civil_affairs",
                                  fields=[Field("event", one_of("MARRIED", "DIVORCED"))],
                                  signal=lambda row: row.signal(row["event"]))]

    The built-in readers (``text``, ``one_of``, ``money``, ``iso_date``, ``id_number``) read a whole
    batch's column at once; a reader of your own may too (``Reader.read_column``), or read value by value.

    Signals are stored once per (source, recordId), linked to the member with that identity number, or
    kept unmatched until someone registers the person. A DEPARTMENT key may send only the feeds whose
    ``department`` is its own (``ingestRecords``, ``safetynet ingest SOURCE FILE``).
    """


@hookspec
def safetynet_warning_rules() -> Sequence[WarningRule]:
    """Warning rules (预警规则): what they watch, their level, default routes and a vectorised detector.

    The sweep calls ``detect(households, parameters, context)`` once per batch, with ``context =
    {"assessments": {aid type code: Assessment}, "catalogue": the catalogue}``. It returns a
    :class:`~safetynet.rules.Detection`: which households to warn, with evidence reasons, and optionally
    per household a higher ``level`` for a worse case, the ``member_id`` and ``aid_type_code`` concerned,
    extra ``departments`` to route to, and the ``basis`` that keeps a resolved warning from coming back
    for the same thing. The built-in rules in ``plugins/safetynet_warnings`` are complete examples::

        @hookimpl
        def safetynet_warning_rules():
            return [WarningRule(code="large_medical_bill", name="大额医疗支出", level=WarningLevel.ORANGE,
                                watches="out-of-pocket medical spending in the last 12 months",
                                departments=("medical_security",), detect=detect_large_bills)]
    """


@hookspec
def safetynet_graphql() -> Sequence[GraphQLContribution]:
    """Strawberry types whose fields are merged into ``Query``, ``Mutation`` and ``Subscription``.

    A field name that the core or another plugin already uses is a start-up error naming both::

        @strawberry.type
        class HeatingQuery:
            @strawberry.field(description="Heating season dates for a locality")
            def heating_season(self, locality_code: str) -> str: ...

        @hookimpl
        def safetynet_graphql():
            return [GraphQLContribution(query=(HeatingQuery,))]
    """


# --------------------------------------------------------------------------------------------------
# Event hooks: called after the change is committed. Return None or an awaitable.
# --------------------------------------------------------------------------------------------------


@hookspec
def safetynet_aid_granted(event: AidEvent) -> Awaitable[None] | None:
    """An aid record was added to a household's aid chain (by civil affairs, a department or a partner)::

    @hookimpl
    def safetynet_aid_granted(event):
        if event.aid_type_code == "dibao":
            return notify_funds_platform(event)     # an async function: the core awaits it
    """


@hookspec
def safetynet_aid_ended(event: AidEvent) -> Awaitable[None] | None:
    """An aid record ended (``event.ended_on`` and ``event.reason`` are set)::

    @hookimpl
    def safetynet_aid_ended(event):
        log.info("aid %s of household %s ended: %s", event.aid_type_code, event.household_id, event.reason)
    """


@hookspec
def safetynet_warning_raised(event: WarningEvent) -> Awaitable[None] | None:
    """A warning was raised (or an open one raised to a higher level) for a household::

    @hookimpl
    def safetynet_warning_raised(event):
        if event.level is WarningLevel.RED:
            return sms_gateway.send_to_township(event.locality_code, event.rule)
    """


@hookspec
def safetynet_need_published(event: NeedEvent) -> Awaitable[None] | None:
    """Civil affairs published a need listing. The event carries nothing that identifies the household::

    @hookimpl
    def safetynet_need_published(event):
        return charity_portal.post(event.need_type, event.summary, event.locality_code)
    """


@hookspec
def safetynet_need_fulfilled(event: NeedEvent) -> Awaitable[None] | None:
    """A partner fulfilled a need (``event.partner_code`` and ``event.amount_fen`` are set)::

    @hookimpl
    def safetynet_need_fulfilled(event):
        annual_report.count(event.partner_code, event.amount_fen)
    """


# --------------------------------------------------------------------------------------------------
# Decision hooks: every plugin answers; the core aggregates.
# --------------------------------------------------------------------------------------------------


@hookspec
def safetynet_route_warning(event: WarningEvent, rule: WarningRule) -> Sequence[str] | None:
    """Departments a warning goes to, besides the rule's own ``departments`` (the union is used)::

    @hookimpl
    def safetynet_route_warning(event, rule):
        if any(r.code == "SERIOUS_ILLNESS" for r in event.evidence):
            return ["medical_security"]
    """


@hookspec
def safetynet_match_need(need: NeedEvent, partners: Sequence[Partner]) -> Sequence[Match] | None:
    """Score partners for a need listing; the core ranks all answers by score, best first::

    @hookimpl
    def safetynet_match_need(need, partners):
        return [Match(p.code, 1.0, "takes this need type") for p in partners
                if need.need_type in p.need_types]

    ``partners`` are every installed partner with each resource's ``remaining_amount_fen`` and
    ``remaining_quantity`` filled in (what is left this year after claims and fulfilments; 0 once past
    ``available_until``). Answer for the partners your plugin knows; the reason is shown to caseworkers.
    The core keeps each partner's best score, drops scores ≤ 0, unknown partners and partners that
    cannot see the listing (its need type and township), and leaves out a plugin that raises.
    """
