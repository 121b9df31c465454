"""A warning on every aid decision for a flagged household (近亲属备案, 失信).

:class:`DecisionWatch` is the core's own ``safetynet_aid_granted`` hook implementation, registered by
the runtime (it is not a plugin and cannot be disabled). Every aid granted — ``grantAid``, a warning
resolved as ENROLLED, an approved application, a department's or partner's feedback — to a household
with integrity flags raises a warning per kind of flag, rule ``near_relative_decision`` or
``dishonesty_decision``, ORANGE, routed to civil affairs and to the department of the aid type. While
such a warning is open, further decisions are added to its evidence instead of raising another. Once
committed, the warnings raised or extended go to the live feed of the ``warnings`` subscription
(:func:`safetynet.monitoring.warning_feed.announce`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from safetynet.hookspecs import hookimpl
from safetynet.model import AidEvent, Reason, WarningEvent, WarningLevel, WarningStatus
from safetynet.monitoring import warning_feed
from safetynet.monitoring.evidence import code_and_message, stored_reason
from safetynet.plugins import notify
from safetynet.store.models import Warning, WarningRoute

from .flags import FlagCode, IntegrityFlag, household_flags

if TYPE_CHECKING:
    from safetynet.runtime import Runtime

log = logging.getLogger(__name__)

#: The name the runtime registers :class:`DecisionWatch` under in the plugin manager.
CORE_GOVERNANCE = "core.governance"

RULES = {FlagCode.NEAR_RELATIVE: "near_relative_decision", FlagCode.DISHONESTY: "dishonesty_decision"}
LEVEL = WarningLevel.ORANGE
CIVIL_AFFAIRS = "civil_affairs"
OPEN = (WarningStatus.OPEN, WarningStatus.ASSIGNED, WarningStatus.VERIFIED)
#: Two decisions at once for one household may both try to open its warning: the loser retries once.
ATTEMPTS = 2


@dataclass(frozen=True)
class _Raised:
    warning_id: int
    rule: str
    evidence: tuple[Reason, ...]
    raised_at: datetime


class DecisionWatch:
    """Raises the integrity warnings for aid decisions (see the module)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @hookimpl
    def safetynet_aid_granted(self, event: AidEvent) -> Any:
        return self.check(event)

    async def check(self, event: AidEvent) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.runtime.database.async_session() as session, session.begin():
                    changed, raised = await session.run_sync(lambda s: self._warn(s, event))
                break
            except IntegrityError:
                if attempt == ATTEMPTS:
                    raise
                log.info("integrity warning for household %s raced another; retrying", event.household_id)
        warning_feed.announce(self.runtime, changed)
        for new in raised:
            await notify(
                self.runtime.plugins,
                "safetynet_warning_raised",
                event=WarningEvent(
                    warning_id=new.warning_id,
                    household_id=event.household_id,
                    locality_code=event.locality_code,
                    rule=new.rule,
                    level=LEVEL,
                    evidence=new.evidence,
                    raised_at=new.raised_at,
                ),
            )

    def _warn(self, session: Session, event: AidEvent) -> tuple[list[int], list[_Raised]]:
        """Raise or extend one warning per kind of flag: the ids of them all, and the newly raised ones."""
        by_code: dict[str, list[IntegrityFlag]] = {}
        for flag in household_flags(session, event.household_id, self.runtime.today()):
            by_code.setdefault(flag.code, []).append(flag)
        changed, raised = [], []
        for code, flags in by_code.items():
            warning_id, new = self._warn_one(session, event, RULES[FlagCode(code)], flags)
            changed.append(warning_id)
            if new is not None:
                raised.append(new)
        return changed, raised

    def _warn_one(
        self, session: Session, event: AidEvent, rule: str, flags: Sequence[IntegrityFlag]
    ) -> tuple[int, _Raised | None]:
        """The warning raised or extended, and its event when newly raised."""
        now = datetime.now(UTC)
        decision = Reason(
            code="AID_DECISION",
            message=(
                f"aid record {event.record_id}: {event.aid_type_code} from {event.provider}, "
                f"starting {event.started_on}"
            ),
        )
        reasons = [decision, *(Reason(code=flag.code, message=flag.message) for flag in flags)]
        existing = session.scalar(
            select(Warning)
            .where(Warning.household_id == event.household_id, Warning.rule == rule, Warning.status.in_(OPEN))
            .options(selectinload(Warning.routes))
            .with_for_update()
        )
        departments = self._departments(event)
        if existing is not None:
            known = {code_and_message(e) for e in existing.evidence}
            existing.evidence = [
                *existing.evidence,
                *(stored_reason(r) for r in reasons if (r.code, r.message) not in known),
            ]
            existing.aid_type_code = event.aid_type_code
            existing.basis = f"aid_record:{event.record_id}"
            routed = set(existing.routed_to)
            existing.routes.extend(WarningRoute(department=d) for d in departments if d not in routed)
            return existing.id, None
        warning = Warning(
            household_id=event.household_id,
            rule=rule,
            level=LEVEL,
            status=WarningStatus.OPEN,
            raised_at=now,
            visit_due_by=now + timedelta(days=self._visit_days(event.locality_code)),
            evidence=[stored_reason(r) for r in reasons],
            member_id=flags[0].member_id,
            aid_type_code=event.aid_type_code,
            basis=f"aid_record:{event.record_id}",
            notified_level=LEVEL,
            routes=[WarningRoute(department=d) for d in departments],
        )
        session.add(warning)
        session.flush()
        return warning.id, _Raised(warning.id, rule, tuple(reasons), now)

    def _departments(self, event: AidEvent) -> list[str]:
        """Civil affairs, and the department responsible for the aid type (if it is installed)."""
        provided = self.runtime.catalogue.aid_types.get(event.aid_type_code)
        departments = {CIVIL_AFFAIRS, provided.item.department if provided else CIVIL_AFFAIRS}
        return sorted(departments)

    def _visit_days(self, locality_code: str) -> float:
        """The locality's visit deadline for the level (``warning.visit_days.orange``)."""
        name = f"warning.visit_days.{LEVEL.name.lower()}"
        use = self.runtime.localities.resolve(name, locality_code, self.runtime.today())
        if use is None:
            raise LookupError(f"no locality above {locality_code} sets {name}")
        return float(use.value)
