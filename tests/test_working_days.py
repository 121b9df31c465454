"""Working days on China's official calendar (chinese-calendar): holidays, adjusted working days (调休),
and the provisional Monday–Friday count for years the calendar does not cover yet.

The expected dates are worked out by hand from the State Council's 2026 holiday notice: Mid-Autumn
Festival 25–27 September (Fri–Sun), National Day 1–7 October (Thu–Wed), with Sunday 20 September and
Saturday 10 October made working days.
"""

from __future__ import annotations

from datetime import date

import pytest

from safetynet.applications.calendar import Deadline, add_working_days, working_day


def test_twenty_working_days_across_the_2026_national_day_holiday():
    # Accepted Friday 18 September 2026 (not counted). Working days after it, by hand:
    #  1 Sun 20 Sep (adjusted)   2–5 Mon 21–Thu 24 Sep    (25–27 Sep Mid-Autumn)
    #  6–8 Mon 28–Wed 30 Sep     (1–7 Oct National Day)   9–10 Thu 8–Fri 9 Oct
    # 11 Sat 10 Oct (adjusted)  12–16 Mon 12–Fri 16 Oct  17–20 Mon 19–Thu 22 Oct
    assert add_working_days(date(2026, 9, 18), 20) == Deadline(date(2026, 10, 22), provisional=False)
    # Counting Monday–Friday only would give 16 October; holidays without the adjusted days 26 October.


def test_extended_to_45_working_days():
    # From the 20th (22 Oct), 25 more Monday–Friday days with no holiday: 23 Oct … 26 Nov.
    assert add_working_days(date(2026, 9, 18), 45) == Deadline(date(2026, 11, 26), provisional=False)


def test_an_adjusted_working_sunday_and_saturday_count():
    assert add_working_days(date(2026, 9, 18), 1).on == date(2026, 9, 20)  # Sunday, worked
    assert add_working_days(date(2026, 10, 9), 1).on == date(2026, 10, 10)  # Saturday, worked
    assert working_day(date(2026, 9, 20)) == (True, True)
    assert working_day(date(2026, 10, 10)) == (True, True)


def test_holidays_on_weekdays_do_not_count():
    assert working_day(date(2026, 10, 5)) == (False, True)  # Monday of the National Day week
    assert add_working_days(date(2026, 9, 30), 1).on == date(2026, 10, 8)
    assert add_working_days(date(2026, 9, 24), 1).on == date(2026, 9, 28)  # over Mid-Autumn


def test_a_year_the_calendar_does_not_cover_counts_monday_to_friday_and_is_provisional():
    assert working_day(date(2027, 3, 1)) == (True, False)  # a Monday, holidays unknown
    assert working_day(date(2027, 3, 6)) == (False, False)  # a Saturday
    # Accepted Thursday 24 December 2026: 25, 28–31 Dec are known working days (5); then 1 Jan 2027
    # (a Friday: the New Year holiday is not published yet, so it counts) and 14 more weekdays.
    assert add_working_days(date(2026, 12, 24), 20) == Deadline(date(2027, 1, 21), provisional=True)
    # Within covered years a deadline is final.
    assert not add_working_days(date(2026, 11, 2), 20).provisional


def test_at_least_one_working_day():
    with pytest.raises(ValueError, match="at least 1"):
        add_working_days(date(2026, 9, 18), 0)
