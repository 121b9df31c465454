"""Overdue applications (审核确认超时): deadlines for the sweep's batch, and closing the warning.

The sweep raises the ``application_overdue`` warning through an ordinary warning-rule plugin
(``plugins/safetynet_warnings/application_overdue.py``), so it is updated rather than duplicated,
routed, announced and resumed like every other warning. The rule reads two batch columns that
:func:`deadline_columns` fills when ``store.columns.load_batch`` reads a batch: per household, the
accepted application not yet decided on the batch date that is due first, and its due date. Its basis
is ``application:<id>`` (:func:`basis_of`), so one application is one warning; deciding the
application resolves that warning (:func:`close_overdue_warning`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.engine import Connection

from safetynet.model import Resolution, WarningStatus
from safetynet.store.models import Application, Warning

#: The warning rule's code (the plugin defines the same string: a plugin does not import the core).
OVERDUE_RULE = "application_overdue"
_OPEN = (WarningStatus.OPEN, WarningStatus.ASSIGNED, WarningStatus.VERIFIED)


def basis_of(application_id: int) -> str:
    return f"application:{application_id}"


def deadline_columns(
    connection: Connection,
    in_batch: Callable[[Any], ColumnElement[bool]],
    household_ids: np.ndarray,
    as_of: date,
) -> tuple[np.ndarray, np.ndarray]:
    """For a batch's households (sorted ids): the id of the application due first among those accepted
    and not decided on ``as_of`` (0 where none), and its due date (``datetime64[D]``, NaT where none)."""
    n = len(household_ids)
    application_id = np.zeros(n, dtype=np.int64)
    due_on = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    rows = connection.execute(
        select(Application.household_id, Application.id, Application.decision_due_on)
        .where(
            in_batch(Application.household_id),
            Application.accepted_on <= as_of,
            Application.decision_due_on.is_not(None),
            or_(Application.decided_on.is_(None), Application.decided_on > as_of),
        )
        .order_by(Application.decision_due_on.desc(), Application.id.desc())  # the first due is written last
    ).all()
    for household_id, number, due in rows:
        i = int(np.searchsorted(household_ids, household_id))
        if i < n and household_ids[i] == household_id:
            application_id[i] = number
            due_on[i] = np.datetime64(due, "D")
    return application_id, due_on


def close_overdue_warning(
    session: Any, application: Application, resolution: Resolution, note: str
) -> list[int]:
    """Resolve the open ``application_overdue`` warning about this application, if there is one: its id."""
    now = datetime.now(UTC)
    closed = session.scalars(
        update(Warning)
        .where(
            Warning.household_id == application.household_id,
            Warning.rule == OVERDUE_RULE,
            Warning.basis == basis_of(application.id),
            Warning.status.in_(_OPEN),
        )
        .values(
            status=WarningStatus.RESOLVED,
            resolution=resolution,
            resolution_note=note,
            resolved_at=now,
            updated_at=now,
        )
        .returning(Warning.id)
    )
    return list(closed)
