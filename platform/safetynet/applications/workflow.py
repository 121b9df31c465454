"""The application workflow (申请 → 受理 → 入户调查 → 经济状况核对 → 民主评议 → 公示 → 审核确认).

:class:`Workflow` holds one transaction's session, the catalogue, the principal and the day; the API
calls one method per mutation and, once committed, announces ``granted`` (aid events) and
``closed_warnings`` (to the live feed of the ``warnings`` subscription).

Who acts: ADMIN keys, and CIVIL_AFFAIRS keys on the households of their area; any other key is refused
(``FORBIDDEN``). Each step records the key, the name the caller gives (``by``: the official, 经办人),
the day (the runtime's today), when it was recorded, and its note. A step out of order is refused
(``OUT_OF_ORDER``) with the current status and the steps allowed now (:mod:`.states`).

The rules (DOMAIN.md §3; seeds 001 §5.1 and §5.3, 002 §5, 003 §14 and §21–22, 004 §3.3):

* **Apply** (申请) for one or more installed aid types at one window (一门受理、协同办理); a household
  has at most one undecided application per aid type. It may follow a warning (协助申办): its id is kept.
* **Accept** (受理): the decision is due ``approval.working_days`` working days later — the
  household's locality's value in force on the acceptance day, counted on the official calendar with
  its adjusted working days (:mod:`.calendar`; the acceptance day itself is not counted).
* **Extend**, once, before the due date has passed, with a reason (公示有异议、人户分离、异地申办、
  经济状况调查难度较大…): due ``approval.working_days_extended`` working days after acceptance.
* **Investigate** (入户调查) records the findings; **economic check** (经济状况核对) its result.
* **Appraise** (民主评议) records its result, or is skipped for an undisputed application with the
  reason recorded (003 §21: 对没有争议的救助申请家庭,可不再进行民主评议).
* **Public notice** (公示) runs ``approval.public_notice_days`` calendar days from its start day; no
  decision before it has ended.
* **Decide** (审核确认) each aid type applied for: an approved one goes on the aid chain
  (:func:`safetynet.aid_chain.grant_aid`, from today, provided by the aid type's department) with the
  amounts of the household's assessment today, and must be assessed eligible; refusals need a reason.
  Approval needs the public notice; a refusal may come straight after the economic check or appraisal.
  Deciding closes the household's ``application_overdue`` warning for this application.
* **Small advance** (小金额先行救助): temporary aid of at most ``temporary.small_advance_cap_per_person``
  × living members, granted at once as a one-off (an aid record for today) with the application
  recorded as ADVANCE_GRANTED; its paperwork is completed afterwards (补齐手续 → APPROVED). More than the
  cap is refused as an advance: it goes through one matter, one discussion (一事一议) on an application.

Integrity flags (``safetynet.governance.household_flags``: a registered near relative, a dishonesty
record…) are looked up when the application is made and when it is decided, and kept on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from safetynet.aid_chain import aid_event, grant_aid
from safetynet.assessments import RuleError, assess_batch
from safetynet.catalogue import Catalogue
from safetynet.errors import Problems, fail
from safetynet.governance import household_flags
from safetynet.households import Reader
from safetynet.model import AidEvent, ParameterUse, Resolution, Role, format_yuan, yuan_to_fen
from safetynet.principals import Principal
from safetynet.store.columns import household_filter, load_batch
from safetynet.store.models import (
    Application,
    ApplicationAid,
    ApplicationStep,
    Household,
    Member,
    Warning,
)
from safetynet.store.scope import visible_households, visible_warnings

from .calendar import add_working_days
from .overdue import close_overdue_warning
from .states import (
    PENDING,
    REFUSAL_ONLY,
    Action,
    AidOutcome,
    ApplicationStatus,
    StepKind,
    describe,
    next_actions,
)

WRITERS = (Role.ADMIN, Role.CIVIL_AFFAIRS)
WORKING_DAYS = "approval.working_days"
WORKING_DAYS_EXTENDED = "approval.working_days_extended"
NOTICE_DAYS = "approval.public_notice_days"
ADVANCE_CAP = "temporary.small_advance_cap_per_person"
ADVANCE_AID = "temporary"
NAME_LIMIT = 100
NOTE_LIMIT = 10_000
ADVANCE_NOTE_LIMIT = 1_900  # the advance's note goes on its aid record (at most 2,000 with a prefix)


@dataclass
class Workflow:
    """The workflow's services for one transaction (see the module for the rules)."""

    session: Session
    catalogue: Catalogue
    principal: Principal
    today: date
    #: Aid records granted in this transaction, to announce (``safetynet_aid_granted``) once committed.
    granted: list[AidEvent] = field(default_factory=list)
    #: Warnings closed in this transaction, to announce to the live feed once committed.
    closed_warnings: list[int] = field(default_factory=list)

    # -- finding things ----------------------------------------------------------------------------

    def _may_act(self, path: str) -> None:
        if self.principal.role not in WRITERS:
            raise fail((path,), f"a {self.principal.role.name} key cannot handle applications", "FORBIDDEN")

    def household(self, household_id: int, path: str = "householdId") -> Household:
        self._may_act(path)
        found = self.session.scalar(
            select(Household).where(Household.id == household_id, visible_households(self.principal))
        )
        if found is None:
            raise fail((path,), "no household with this id that you may see", "NOT_FOUND")
        return found

    def find(self, application_id: int, path: str = "applicationId") -> Application:
        """An application the principal may act on, locked for the change."""
        self._may_act(path)
        found = self.session.scalar(
            select(Application)
            .join(Household, Household.id == Application.household_id)
            .where(Application.id == application_id, visible_households(self.principal))
            .with_for_update(of=Application)
        )
        if found is None:
            raise fail((path,), "no application with this id that you may see", "NOT_FOUND")
        return found

    # -- the steps ---------------------------------------------------------------------------------

    def apply(
        self,
        household_id: int,
        aid_type_codes: Sequence[str],
        *,
        by: str,
        note: str | None = None,
        warning_id: int | None = None,
    ) -> Application:
        """申请: an application for one or more aid types (SUBMITTED)."""
        household = self.household(household_id)
        problems = Problems()
        read = Reader(problems)
        name = read.text(by, ("by",), limit=NAME_LIMIT)
        text = read.text(note, ("note",), limit=NOTE_LIMIT, required=False)
        if not aid_type_codes:
            problems.add(("aidTypeCodes",), "name at least one aid type to apply for", "REQUIRED")
        open_for = self._undecided_aid_types(household.id)
        codes: list[str] = []
        for i, code in enumerate(aid_type_codes):
            if code not in self.catalogue.aid_types:
                known = ", ".join(sorted(self.catalogue.aid_types))
                problems.add(
                    ("aidTypeCodes", i), f"'{code}' is not an installed aid type; known: {known}", "UNKNOWN"
                )
            elif code in open_for:
                problems.add(
                    ("aidTypeCodes", i),
                    f"the household's application {open_for[code]} for {code} is not decided yet",
                    "DUPLICATE_APPLICATION",
                )
            elif code not in codes:
                codes.append(code)
        self._check_warning(problems, warning_id, household)
        problems.raise_if_any()
        application = Application(
            household_id=household.id,
            warning_id=warning_id,
            status=ApplicationStatus.SUBMITTED,
            advance=False,
            applied_on=self.today,
            due_provisional=False,
            flags=[],
            aids=[ApplicationAid(aid_type_code=code) for code in codes],
        )
        self.session.add(application)
        self.session.flush()
        self._flag(application, StepKind.APPLIED)
        return self._record(application, StepKind.APPLIED, name, text)

    def accept(self, application: Application, *, by: str, note: str | None = None) -> Application:
        """受理: the decision deadline starts to run."""
        name, text = self._check(application, Action.ACCEPT, by, note, "note", required=False)
        application.accepted_on = self.today
        self._set_deadline(application)
        return self._record(application, StepKind.ACCEPTED, name, text, ApplicationStatus.ACCEPTED)

    def investigate(self, application: Application, *, by: str, findings: str) -> Application:
        """入户调查: what the home investigation found."""
        name, text = self._check(application, Action.INVESTIGATE, by, findings, "findings")
        return self._record(application, StepKind.INVESTIGATED, name, text, ApplicationStatus.INVESTIGATED)

    def economic_check(self, application: Application, *, by: str, result: str) -> Application:
        """经济状况核对: the result of checking income and property."""
        name, text = self._check(application, Action.ECONOMIC_CHECK, by, result, "result")
        return self._record(application, StepKind.ECONOMIC_CHECKED, name, text, ApplicationStatus.CHECKED)

    def appraise(self, application: Application, *, by: str, note: str, skipped: bool) -> Application:
        """民主评议: its result, or (``skipped``) why an undisputed application needs none."""
        name, text = self._check(application, Action.APPRAISE, by, note, "note")
        kind = StepKind.APPRAISAL_SKIPPED if skipped else StepKind.APPRAISED
        return self._record(application, kind, name, text, ApplicationStatus.APPRAISED)

    def start_notice(self, application: Application, *, by: str, note: str | None = None) -> Application:
        """公示: starts today and lasts ``approval.public_notice_days`` days."""
        name, text = self._check(application, Action.START_NOTICE, by, note, "note", required=False)
        household = self._household_of(application)
        days = int(self._parameter(NOTICE_DAYS, household.locality_code, self.today).value)
        application.notice_started_on = self.today
        application.notice_ends_on = self.today + timedelta(days=max(days, 1) - 1)
        return self._record(application, StepKind.NOTICE_STARTED, name, text, ApplicationStatus.IN_NOTICE)

    def extend(self, application: Application, *, by: str, reason: str) -> Application:
        """Extend the deadline once, before it has passed, to ``approval.working_days_extended``."""
        if application.extension_reason is not None and application.status in PENDING:
            raise fail(
                ("applicationId",),
                f"the deadline was already extended once (to {application.working_days} working days, "
                f"due {application.decision_due_on}): it cannot be extended again",
                "ALREADY_EXTENDED",
            )
        name, text = self._check(application, Action.EXTEND, by, reason, "reason")
        due = application.decision_due_on
        assert due is not None  # an accepted application has a deadline
        if self.today > due:
            raise fail(
                ("applicationId",),
                f"the decision was due by {due}: an extension must be made before the deadline passes",
                "DEADLINE_PASSED",
            )
        application.extension_reason = text
        self._set_deadline(application)
        return self._record(application, StepKind.EXTENDED, name, text)

    def decide(
        self,
        application: Application,
        *,
        by: str,
        approve: Sequence[str] = (),
        refuse: Sequence[str] = (),
        reason: str | None = None,
        note: str | None = None,
    ) -> Application:
        """审核确认: approve (onto the aid chain) or refuse each aid type applied for."""
        self._require(application, Action.DECIDE)
        problems = Problems()
        read = Reader(problems)
        name = read.text(by, ("by",), limit=NAME_LIMIT)
        why = read.text(reason, ("reason",), limit=NOTE_LIMIT, required=bool(refuse))
        text = read.text(note, ("note",), limit=NOTE_LIMIT, required=False)
        applied = [aid.aid_type_code for aid in application.aids]
        for key, codes in (("approve", approve), ("refuse", refuse)):
            for i, code in enumerate(codes):
                if code not in applied:
                    problems.add(
                        (key, i),
                        f"'{code}' was not applied for; this application asks for {', '.join(applied)}",
                        "NOT_APPLIED_FOR",
                    )
                elif key == "refuse" and code in approve:
                    problems.add((key, i), f"{code} is both approved and refused", "CONFLICT")
        undecided = [code for code in applied if code not in approve and code not in refuse]
        if undecided:
            problems.add(
                ("approve",),
                f"decide every aid type applied for: {', '.join(undecided)} is neither approved nor refused",
                "UNDECIDED",
            )
        if approve and application.status in REFUSAL_ONLY:
            problems.add(
                ("approve",),
                "approval needs the public notice (公示) first (startPublicNotice); before it only refusals",
                "NOTICE_REQUIRED",
            )
        ends = application.notice_ends_on
        if application.status is ApplicationStatus.IN_NOTICE and ends is not None and self.today <= ends:
            problems.add(
                ("applicationId",),
                f"the public notice (公示) runs until {ends}: decide on or after {ends + timedelta(days=1)}",
                "NOTICE_RUNNING",
            )
        problems.raise_if_any()
        household = self._household_of(application)
        amounts = self._assessed_amounts(household, approve)
        for aid in application.aids:
            if aid.aid_type_code in amounts:
                monthly, one_off = amounts[aid.aid_type_code]
                record = self._grant(
                    household,
                    aid.aid_type_code,
                    monthly_fen=monthly,
                    one_off_fen=one_off,
                    note=f"approved on application {application.id}",
                )
                aid.outcome, aid.aid_record_id = AidOutcome.APPROVED, record
                aid.monthly_amount_fen, aid.one_off_amount_fen = monthly, one_off
            else:
                aid.outcome, aid.reason = AidOutcome.REFUSED, why
        outcomes = {aid.outcome for aid in application.aids}
        application.status = (
            ApplicationStatus.APPROVED
            if outcomes == {AidOutcome.APPROVED}
            else ApplicationStatus.REFUSED
            if outcomes == {AidOutcome.REFUSED}
            else ApplicationStatus.PARTLY_APPROVED
        )
        application.decided_on = self.today
        self._flag(application, StepKind.DECIDED)
        summary = "; ".join(
            part
            for part in (
                f"approved: {', '.join(c for c in applied if c in approve)}" if approve else "",
                f"refused: {', '.join(c for c in applied if c in refuse)} ({why})" if refuse else "",
                text or "",
            )
            if part
        )
        self._record(application, StepKind.DECIDED, name, summary)
        self.closed_warnings += close_overdue_warning(
            self.session,
            application,
            Resolution.ENROLLED if approve else Resolution.NO_ACTION,
            f"application {application.id} decided on {self.today}: {application.status.name}",
        )
        return application

    def grant_advance(
        self, household_id: int, *, amount_fen: int, by: str, note: str, warning_id: int | None = None
    ) -> Application:
        """小金额先行救助: temporary aid up to the cap, on the aid chain at once; paperwork afterwards."""
        household = self.household(household_id)
        if ADVANCE_AID not in self.catalogue.aid_types:
            raise fail(("householdId",), f"the {ADVANCE_AID} aid type (临时救助) is not installed", "UNKNOWN")
        problems = Problems()
        read = Reader(problems)
        name = read.text(by, ("by",), limit=NAME_LIMIT)
        why = read.text(note, ("note",), limit=ADVANCE_NOTE_LIMIT)
        cap = self._parameter(ADVANCE_CAP, household.locality_code, self.today)
        members = self._living_members(household.id)
        limit = yuan_to_fen(cap.value) * members
        if amount_fen <= 0:
            problems.add(("amount",), "must be more than zero", "INVALID_AMOUNT")
        elif amount_fen > limit:
            problems.add(
                ("amount",),
                f"{format_yuan(amount_fen)} is above the small advance cap: {cap.display_value} yuan per person "
                f"({ADVANCE_CAP} of {cap.locality_code} from {cap.effective_from}) × {members} member(s) = "
                f"{format_yuan(limit)}; more goes through one matter, one discussion (一事一议): apply with "
                "applyForAid",
                "OVER_ADVANCE_CAP",
            )
        self._check_warning(problems, warning_id, household)
        problems.raise_if_any()
        aid = ApplicationAid(
            aid_type_code=ADVANCE_AID, outcome=AidOutcome.APPROVED, one_off_amount_fen=amount_fen
        )
        application = Application(
            household_id=household.id,
            warning_id=warning_id,
            status=ApplicationStatus.ADVANCE_GRANTED,
            advance=True,
            applied_on=self.today,
            accepted_on=self.today,
            decided_on=self.today,
            due_provisional=False,
            flags=[],
            aids=[aid],
        )
        self.session.add(application)
        self.session.flush()
        aid.aid_record_id = self._grant(
            household,
            ADVANCE_AID,
            monthly_fen=None,
            one_off_fen=amount_fen,
            note=f"先行救助 on application {application.id}: {why}",
            one_day=True,
        )
        self._flag(application, StepKind.ADVANCE_GRANTED)
        return self._record(application, StepKind.ADVANCE_GRANTED, name, why)

    def complete_advance(self, application: Application, *, by: str, note: str | None) -> Application:
        """补齐手续: the advance's paperwork completed (the application becomes APPROVED)."""
        name, text = self._check(application, Action.COMPLETE_ADVANCE, by, note, "note")
        return self._record(application, StepKind.PAPERWORK_COMPLETED, name, text, ApplicationStatus.APPROVED)

    # -- helpers -----------------------------------------------------------------------------------

    def _require(self, application: Application, action: Action) -> None:
        allowed = next_actions(application.status, extended=application.extension_reason is not None)
        if action not in allowed:
            now = ", ".join(describe(a, application.status) for a in allowed)
            raise fail(
                ("applicationId",),
                f"the application is {application.status.name}: {action.value} is not a step allowed now; "
                f"next: {now or 'nothing (it is decided)'}",
                "OUT_OF_ORDER",
            )

    def _check(
        self,
        application: Application,
        action: Action,
        by: str,
        text: str | None,
        path: str,
        *,
        required: bool = True,
    ) -> tuple[str, str | None]:
        """The step must be allowed now: who takes it (``by``) and its text (the input field ``path``)."""
        self._require(application, action)
        problems = Problems()
        read = Reader(problems)
        name = read.text(by, ("by",), limit=NAME_LIMIT)
        value = read.text(text, (path,), limit=NOTE_LIMIT, required=required)
        problems.raise_if_any()
        assert name is not None
        return name, value

    def _record(
        self,
        application: Application,
        kind: StepKind,
        by: str | None,
        note: str | None,
        status: ApplicationStatus | None = None,
    ) -> Application:
        """Record the step taken, moving the application to ``status`` (if given)."""
        if status is not None:
            application.status = status
        now = datetime.now(UTC)
        application.steps.append(
            ApplicationStep(
                kind=kind,
                done_on=self.today,
                recorded_at=now,
                principal_id=self.principal.key_id,
                by_name=by or "",
                note=note,
            )
        )
        if application.due_provisional and application.status in PENDING:
            self._set_deadline(application)  # a calendar that now covers the year makes it final
        application.updated_at = now
        self.session.flush()
        return application

    def _set_deadline(self, application: Application) -> None:
        household = self._household_of(application)
        accepted = application.accepted_on
        assert accepted is not None
        name = WORKING_DAYS_EXTENDED if application.extension_reason is not None else WORKING_DAYS
        days = int(self._parameter(name, household.locality_code, accepted).value)
        deadline = add_working_days(accepted, days)
        application.working_days = days
        application.decision_due_on = deadline.on
        application.due_provisional = deadline.provisional

    def _parameter(self, name: str, locality_code: str, day: date) -> ParameterUse:
        use = self.catalogue.localities.resolve(name, locality_code, day)
        if use is None:
            raise fail(
                ("applicationId",),
                f"parameter {name} is not set for locality {locality_code} on {day}: add it to a locality pack",
                "PARAMETER_MISSING",
            )
        return use

    def _household_of(self, application: Application) -> Household:
        household = self.session.get(Household, application.household_id)
        assert household is not None
        return household

    def _living_members(self, household_id: int) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(Member)
                .where(
                    Member.household_id == household_id,
                    or_(Member.deceased_on.is_(None), Member.deceased_on > self.today),
                )
            )
            or 0
        )

    def _undecided_aid_types(self, household_id: int) -> dict[str, int]:
        """Aid type → the household's application for it that is not decided yet."""
        rows = self.session.execute(
            select(ApplicationAid.aid_type_code, Application.id)
            .join(Application, Application.id == ApplicationAid.application_id)
            .where(
                Application.household_id == household_id,
                Application.status.in_((ApplicationStatus.SUBMITTED, *PENDING)),
            )
        )
        return {code: application_id for code, application_id in rows}

    def _check_warning(self, problems: Problems, warning_id: int | None, household: Household) -> None:
        if warning_id is None:
            return
        warning = self.session.scalar(
            select(Warning).where(Warning.id == warning_id, visible_warnings(self.principal))
        )
        if warning is None:
            problems.add(("warningId",), "no warning with this id that you may see", "NOT_FOUND")
        elif warning.household_id != household.id:
            problems.add(("warningId",), "is a warning about another household", "MISMATCH")

    def _assessed_amounts(
        self, household: Household, codes: Sequence[str]
    ) -> dict[str, tuple[int | None, int | None]]:
        """Aid type → (monthly, one-off) fen of the household's assessment today; each must be eligible."""
        if not codes:
            return {}
        try:
            batch = load_batch(self.session, self.today, household_filter(household_ids=[household.id]))
            results = assess_batch(self.catalogue, batch)
        except RuleError as exc:
            raise fail(
                ("approve",), f"the household could not be assessed: {exc}", "ASSESSMENT_FAILED"
            ) from None
        problems = Problems()
        amounts: dict[str, tuple[int | None, int | None]] = {}
        for i, code in enumerate(codes):
            result = results.get(code)
            if result is None:
                problems.add(("approve", i), f"{code} is no longer an installed aid type", "UNKNOWN")
                continue
            if not bool(result.eligible[0]):
                why = "; ".join(reason.message for reason in result.reasons_for(0))
                problems.add(
                    ("approve", i),
                    f"{code} is not eligible under the household's assessment on {self.today} ({why}): refuse it, "
                    "or correct the household's circumstances (updateCircumstances) first",
                    "NOT_ELIGIBLE",
                )
                continue
            monthly = None if result.monthly_amount_fen is None else int(result.monthly_amount_fen[0])
            one_off = None if result.one_off_amount_fen is None else int(result.one_off_amount_fen[0])
            # an aid with no cash of its own (e.g. marginal-family status) goes on the chain at zero a month
            amounts[code] = (0, None) if monthly is None and one_off is None else (monthly, one_off)
        problems.raise_if_any()
        return amounts

    def _grant(
        self,
        household: Household,
        code: str,
        *,
        monthly_fen: int | None,
        one_off_fen: int | None,
        note: str,
        one_day: bool = False,
    ) -> int:
        """Put the aid on the chain (provided by its department); a one-day record for a one-off advance."""
        data: dict[str, Any] = {
            "aid_type_code": code,
            "provider": self.catalogue.aid_types[code].item.department,
            "monthly_amount_fen": monthly_fen,
            "one_off_amount_fen": one_off_fen,
            "started_on": self.today,
            "ended_on": self.today + timedelta(days=1) if one_day else None,
            "note": note,
        }
        record = grant_aid(
            self.session, household, data, principal=self.principal, aid_types=set(self.catalogue.aid_types)
        )
        self.granted.append(aid_event(record, household))
        return record.id

    def _flag(self, application: Application, step: StepKind) -> None:
        """Keep the integrity flags found now that the application does not carry yet."""
        known = {(f["code"], f["message"]) for f in application.flags}
        found = [
            {"code": str(flag.code), "message": flag.message, "step": step.name}
            for flag in household_flags(self.session, application.household_id, self.today)
            if (flag.code, flag.message) not in known
        ]
        if found:
            application.flags = [*application.flags, *found]


__all__ = ["Workflow"]
