"""The states of an application and which step may come next (the workflow's state machine, pure).

::

    SUBMITTED ─accept→ ACCEPTED ─investigate→ INVESTIGATED ─economic check→ CHECKED
        ─appraise (or skip)→ APPRAISED ─start notice→ IN_NOTICE ─decide→ APPROVED | PARTLY_APPROVED | REFUSED

    先行救助: ADVANCE_GRANTED ─complete the paperwork→ APPROVED

A refusal may also come straight after the economic check or the appraisal (a household found not
eligible is not put on public notice, which announces proposed approvals); an approval needs the
notice, and no decision comes before the notice period ends. The deadline may be extended once, at
any step from acceptance until the decision.
"""

from __future__ import annotations

from enum import Enum


class ApplicationStatus(Enum):
    SUBMITTED = "SUBMITTED"  # 申请: applied, not yet accepted
    ACCEPTED = "ACCEPTED"  # 受理: the decision deadline runs from here
    INVESTIGATED = "INVESTIGATED"  # 入户调查 recorded
    CHECKED = "CHECKED"  # 经济状况核对 recorded
    APPRAISED = "APPRAISED"  # 民主评议 held, or skipped when undisputed
    IN_NOTICE = "IN_NOTICE"  # 公示 started
    APPROVED = "APPROVED"  # 审核确认: every aid type approved
    PARTLY_APPROVED = "PARTLY_APPROVED"  # some aid types approved, the others refused
    REFUSED = "REFUSED"  # every aid type refused
    ADVANCE_GRANTED = "ADVANCE_GRANTED"  # 先行救助: aid given at once, paperwork to complete


class StepKind(Enum):
    """What a recorded step did."""

    APPLIED = "APPLIED"
    ACCEPTED = "ACCEPTED"
    INVESTIGATED = "INVESTIGATED"
    ECONOMIC_CHECKED = "ECONOMIC_CHECKED"
    APPRAISED = "APPRAISED"
    APPRAISAL_SKIPPED = "APPRAISAL_SKIPPED"
    NOTICE_STARTED = "NOTICE_STARTED"
    EXTENDED = "EXTENDED"
    DECIDED = "DECIDED"
    ADVANCE_GRANTED = "ADVANCE_GRANTED"
    PAPERWORK_COMPLETED = "PAPERWORK_COMPLETED"


class AidOutcome(Enum):
    """The decision on one aid type of an application."""

    APPROVED = "APPROVED"
    REFUSED = "REFUSED"


class Action(Enum):
    """A step that can be taken, named by its GraphQL mutation."""

    ACCEPT = "acceptApplication"
    INVESTIGATE = "recordInvestigation"
    ECONOMIC_CHECK = "recordEconomicCheck"
    APPRAISE = "recordAppraisal"
    START_NOTICE = "startPublicNotice"
    DECIDE = "decideApplication"
    EXTEND = "extendApplication"
    COMPLETE_ADVANCE = "completeAdvance"


S = ApplicationStatus
DECIDED = (S.APPROVED, S.PARTLY_APPROVED, S.REFUSED)
#: Accepted and waiting for the decision: the deadline runs (an application can be overdue).
PENDING = (S.ACCEPTED, S.INVESTIGATED, S.CHECKED, S.APPRAISED, S.IN_NOTICE)
#: Statuses where only a refusal may be decided (no public notice yet).
REFUSAL_ONLY = (S.CHECKED, S.APPRAISED)

_NEXT: dict[ApplicationStatus, tuple[Action, ...]] = {
    S.SUBMITTED: (Action.ACCEPT,),
    S.ACCEPTED: (Action.INVESTIGATE, Action.EXTEND),
    S.INVESTIGATED: (Action.ECONOMIC_CHECK, Action.EXTEND),
    S.CHECKED: (Action.APPRAISE, Action.DECIDE, Action.EXTEND),
    S.APPRAISED: (Action.START_NOTICE, Action.DECIDE, Action.EXTEND),
    S.IN_NOTICE: (Action.DECIDE, Action.EXTEND),
    S.ADVANCE_GRANTED: (Action.COMPLETE_ADVANCE,),
}


def next_actions(status: ApplicationStatus, *, extended: bool) -> tuple[Action, ...]:
    """The steps allowed now (the deadline is extended at most once)."""
    return tuple(a for a in _NEXT.get(status, ()) if not (a is Action.EXTEND and extended))


def describe(action: Action, status: ApplicationStatus) -> str:
    """``decideApplication (refusal only)`` where only a refusal is possible."""
    if action is Action.DECIDE and status in REFUSAL_ONLY:
        return f"{action.value} (refusal only)"
    return action.value
