"""Federal business days by the OPM rules, checked against dates counted by hand and against `holidays`."""

from __future__ import annotations

import datetime as dt

import holidays
import numpy as np
import pytest

from models.calendar import add_business_days, federal_holidays, is_business_day


def day(text: str) -> np.datetime64:
    return np.datetime64(text, "D")


def test_the_2026_calendar_is_opms():
    assert list(federal_holidays(2026)) == [
        dt.date(2026, 1, 1),
        dt.date(2026, 1, 19),  # third Monday of January
        dt.date(2026, 2, 16),
        dt.date(2026, 5, 25),  # last Monday of May
        dt.date(2026, 6, 19),
        dt.date(2026, 7, 3),  # July 4 is a Saturday: observed on the Friday before
        dt.date(2026, 9, 7),
        dt.date(2026, 10, 12),
        dt.date(2026, 11, 11),
        dt.date(2026, 11, 26),  # fourth Thursday of November
        dt.date(2026, 12, 25),
    ]


def test_a_saturday_new_years_day_is_observed_on_the_last_day_of_the_year_before():
    # January 1, 2028 is a Saturday
    assert dt.date(2027, 12, 31) in federal_holidays(2028)
    assert not is_business_day(np.array([day("2027-12-31")]))[0]


@pytest.mark.parametrize(("year", "observed"), [(2029, None), (2033, "2033-01-20"), (2045, "2045-01-20")])
def test_inauguration_day(year, observed):
    """January 20 after a presidential election (not moved off a Saturday: 2029-01-20 is one)."""
    named = {day.isoformat() for day, name in federal_holidays(year).items() if name == "Inauguration Day"}
    assert named == ({observed} if observed else set())
    assert "Inauguration Day" not in federal_holidays(year, inauguration_day=False).values()


def test_inauguration_day_on_a_sunday_moves_to_monday():
    # January 20, 2013 was a Sunday: the holiday was Monday the 21st, the same day as Dr. King's birthday
    assert dt.date(2013, 1, 21) in federal_holidays(2013)
    # January 20, 2041 is a Sunday, Dr. King's birthday falls on the 21st
    assert federal_holidays(2041)[dt.date(2041, 1, 21)] in ("Inauguration Day", "Birthday of Martin Luther King, Jr.")


def test_business_days_skip_inauguration_day_unless_told_not_to():
    start = np.array([day("2033-01-19")])  # a Wednesday; Thursday the 20th is Inauguration Day
    assert add_business_days(start, 1)[0] == day("2033-01-21")
    assert add_business_days(start, 1, inauguration_day=False)[0] == day("2033-01-20")


def test_thirty_business_days_across_christmas_and_new_year():
    # from Monday 2026-12-21 as day 1, counted by hand: Dec 21-24 (4), 28-31 (8), Jan 4-8 (13),
    # Jan 11-15 (18), Jan 19-22 (22; Monday the 18th is Dr. King's birthday), Jan 25-29 (27), Feb 1-3 (30)
    assert add_business_days(np.array([day("2026-12-21")]), 29)[0] == day("2027-02-03")


def test_a_window_crossing_observed_christmas_and_new_year_on_fridays():
    # open negotiation starts Monday 2027-11-29 (day 1); Friday Dec 24 and Friday Dec 31 are observed
    # holidays (Dec 25 and Jan 1 are Saturdays); Thanksgiving is already past. Day 30: Tue 2028-01-11.
    # Federal IDR then has 4 business days: Jan 12, 13, 14 and, after Dr. King's birthday, Tue Jan 18.
    start = np.array([day("2027-11-29")])
    assert add_business_days(start, 29)[0] == day("2028-01-11")
    assert add_business_days(start, 33)[0] == day("2028-01-18")


def test_far_years_are_computed_by_rule():
    # 2199: Christmas is a Wednesday, Thanksgiving the 28th; 2200 comes after the contract's last year
    assert federal_holidays(2199)[dt.date(2199, 11, 28)] == "Thanksgiving Day"
    assert add_business_days(np.array([day("2199-12-24")]), 1)[0] == day("2199-12-26")
    assert add_business_days(np.array([day("2199-12-31")]), 1)[0] == day("2200-01-02")  # Jan 1 2200 is a Wednesday


def test_a_weekend_start_rolls_forward_and_nat_stays_nat():
    out = add_business_days(np.array([day("2026-06-13"), np.datetime64("NaT")], dtype="datetime64[D]"), 0)
    assert out[0] == day("2026-06-15") and np.isnat(out[1])


def test_the_rules_agree_with_the_holidays_package_wherever_it_has_data():
    """`holidays` (0.109) computes the statutory US holidays only through 2100 and leaves out Inauguration
    Day; on every weekday of 1971-2100 its calendar and ours name the same days off."""
    ours = {
        holiday
        for year in range(1971, 2102)
        for holiday in federal_holidays(year, inauguration_day=False)
        if 1971 <= holiday.year <= 2100
    }
    theirs = {holiday for holiday in holidays.US(years=range(1971, 2101)) if holiday.weekday() < 5}
    assert ours == theirs
    assert not holidays.US(years=2101)  # why the calendar cannot be the package's
