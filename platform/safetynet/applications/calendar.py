"""Working days (工作日) on China's official calendar, including the adjusted working days (调休).

The holidays and the weekend days made working days come from the ``chinese-calendar`` package, which
carries each year's State Council notice (国务院办公厅关于部分节假日安排的通知) from 2004 to the last
year it knows (2026 in version 1.11).

**Days the calendar does not cover.** The holidays of a later year are not published yet: such a day
counts as a working day when it falls Monday to Friday, and a deadline that counted one is
*provisional* (:attr:`Deadline.provisional`, ``Application.decisionDueProvisional`` in the API). The
workflow recomputes a provisional due date at each later step of its application, so once a
``chinese-calendar`` that covers the year is installed the date becomes final.

**Counting** (期间计算): the day of acceptance is not counted; "within N working days of acceptance"
(自受理之日起N个工作日内) ends on the N-th working day after it, the due date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import chinese_calendar


@dataclass(frozen=True)
class Deadline:
    """A due date, and whether it counted days the official calendar does not cover yet."""

    on: date
    provisional: bool


def working_day(day: date) -> tuple[bool, bool]:
    """(is ``day`` a working day, does the official calendar cover it)."""
    try:
        return chinese_calendar.is_workday(day), True
    except NotImplementedError:  # a year the package has no holiday notice for
        return day.weekday() < 5, False


def add_working_days(start: date, count: int) -> Deadline:
    """The ``count``-th working day after ``start`` (``start`` itself is not counted)."""
    if count < 1:
        raise ValueError(f"count must be at least 1 working day, got {count}")
    day, left, provisional = start, count, False
    while left:
        day += timedelta(days=1)
        working, known = working_day(day)
        provisional = provisional or not known
        left -= working
    return Deadline(day, provisional)
