"""Federal business days: weekdays except the federal holidays of the OPM calendar, computed by rule.

The No Surprises Act deadlines count business days (45 CFR 149.510). The holidays are those of
5 U.S.C. 6103(a) with the weekend rule OPM applies (a holiday on a Saturday is observed on the Friday
before, one on a Sunday on the Monday after; Executive Order 11582), and Inauguration Day (5 U.S.C.
6103(c): January 20 after a presidential election, the 21st when the 20th is a Sunday, not moved off a
Saturday), which OPM's calendar lists for the Washington, DC area. They are computed for whatever years
the dates need, so the calendar has no end: the `holidays` package stops at 2100 and leaves out
Inauguration Day, and holidays granted once by executive order cannot be computed by any rule.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np

_MONDAY, _THURSDAY, _SATURDAY, _SUNDAY = 0, 3, 5, 6


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> dt.date:
    """The ``nth`` (1-based; -1 = last) ``weekday`` of a month."""
    if nth > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: dt.date) -> dt.date:
    if day.weekday() == _SATURDAY:
        return day - dt.timedelta(days=1)
    if day.weekday() == _SUNDAY:
        return day + dt.timedelta(days=1)
    return day


def federal_holidays(year: int, *, inauguration_day: bool = True) -> dict[dt.date, str]:
    """The days federal offices close for the holidays of ``year`` (observed dates), with their names.

    An observed day may fall in the year before: New Year's Day on a Saturday is observed on December 31.
    """
    fixed = {"New Year's Day": (1, 1), "Independence Day": (7, 4), "Christmas Day": (12, 25)}
    if year >= 2021:  # Juneteenth National Independence Day Act, Pub. L. 117-17
        fixed["Juneteenth National Independence Day"] = (6, 19)
    if year >= 1978 or year < 1971:  # Uniform Monday Holiday Act moved it to October 1971-1977
        fixed["Veterans Day"] = (11, 11)
    days = {_observed(dt.date(year, month, day)): name for name, (month, day) in fixed.items()}
    floating = {
        "Washington's Birthday": (2, _MONDAY, 3),
        "Memorial Day": (5, _MONDAY, -1),
        "Labor Day": (9, _MONDAY, 1),
        "Columbus Day": (10, _MONDAY, 2),
        "Thanksgiving Day": (11, _THURSDAY, 4),
    }
    if year >= 1986:
        floating["Birthday of Martin Luther King, Jr."] = (1, _MONDAY, 3)
    if 1971 <= year < 1978:
        floating["Veterans Day"] = (10, _MONDAY, 4)
    days |= {_nth_weekday(year, month, weekday, nth): name for name, (month, weekday, nth) in floating.items()}
    if inauguration_day and year % 4 == 1 and year >= 1965:
        day = dt.date(year, 1, 20)
        if day.weekday() == _SUNDAY:
            day += dt.timedelta(days=1)
        if day.weekday() != _SATURDAY and day not in days:
            days[day] = "Inauguration Day"
    return dict(sorted(days.items()))


@cache
def business_calendar(first_year: int, last_year: int, inauguration_day: bool = True) -> np.busdaycalendar:
    """Weekdays except the federal holidays observed in ``first_year``..``last_year`` (made once per span:
    numpy reads the holiday list on every use)."""
    observed = {
        day
        for year in range(first_year, last_year + 2)  # the next year's New Year's Day may be observed on Dec 31
        for day in federal_holidays(year, inauguration_day=inauguration_day)
        if first_year <= day.year <= last_year
    }
    return np.busdaycalendar(holidays=np.array(sorted(observed), dtype="datetime64[D]"))


def _span(dates: np.ndarray, margin_years: int) -> tuple[int, int]:
    years = dates[~np.isnat(dates)].astype("datetime64[Y]").astype("int64") + 1970
    if not len(years):
        return 2000, 2000
    # spans are rounded out to decades so that calls with nearby dates share one cached calendar
    return int(years.min() - margin_years) // 10 * 10, (int(years.max() + margin_years) // 10 + 1) * 10


def add_business_days(dates: np.ndarray, days: int | np.ndarray, *, inauguration_day: bool = True) -> np.ndarray:
    """``dates`` (datetime64[D]) moved forward by ``days`` federal business days; a date that is not a
    business day first rolls forward to the next one, so ``days=0`` gives the first business day on or
    after the date. NaT stays NaT."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    reach = int(np.abs(days).max(initial=0))  # the method: ``np.max``'s dispatch costs twice the reduction
    calendar = business_calendar(*_span(dates, 1 + reach // 200), inauguration_day)
    return np.busday_offset(dates, days, roll="forward", busdaycal=calendar)


def is_business_day(dates: np.ndarray, *, inauguration_day: bool = True) -> np.ndarray:
    dates = np.asarray(dates, dtype="datetime64[D]")
    return np.is_busday(dates, busdaycal=business_calendar(*_span(dates, 0), inauguration_day))
