"""The per-value rules of the contract, written once: which values a column of each kind accepts.

A value arrives as JSON (the API), as CSV text, or typed by Parquet. The rules are the same whichever way
it came, so that the API and the file validator can never give one value two verdicts (a table of cases
in ``tests/features/test_values.py`` runs through both paths):

- **Missing**: null, NaN, or text that is empty or blank. A required column then says "is required".
- **Text** (strings, codes, choices): text, trimmed, without control characters (none belongs in an
  id or a code, and a ranked CSV could not give one back). A whole number (a JSON integer or a whole float, a
  Parquet integer or a whole float) is read as its decimal digits: ``place_of_service`` 23 is ``"23"``
  (01 cannot be told from 1 once stored as a number, so ``1`` breaks the two-digit rule rather than being
  padded). A fractional number or a boolean breaks the column's rule.
- **Yes/no**: a boolean, the numbers 1 and 0, or the words true/false, t/f, yes/no, y/n, 1/0 in any case.
  Anything else (``"on"``, ``"x"``, 2) breaks the rule.
- **Numbers**: a number, or text that reads as a decimal number (``1200.50``, ``-3``, ``1e3``: ASCII
  digits, an optional sign, point and exponent; no thousands separators). It must be finite; booleans are
  not numbers. Whole-number columns need a whole value. Amounts are at most ``MAX_AMOUNT``.
- **Dates**: text of the ISO 8601 calendar form ``YYYY-MM-DD`` exactly (zero-padded: ``2026-3-2`` breaks
  the rule), a Parquet date or timestamp (its day), between ``EARLIEST_DATE`` and ``LATEST_DATE``. A
  number is not a date.

The scalar functions here are the rules for one value (the API's request models call them);
``features.validation`` applies the same rules to whole columns at once, through the same patterns and
word lists, and falls back to these functions for columns of mixed Python objects.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from numbers import Integral, Real

import numpy as np
import pandas as pd

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
#: A decimal number as text: ASCII digits, an optional sign, decimal point and exponent.
NUMBER_PATTERN = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
#: An ISO 8601 calendar date, zero-padded.
DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
#: The largest amount a claim's amount fields may hold, in US dollars: no single out-of-network claim
#: line comes near $100M, and a larger figure (1e300, say) is a unit or parsing error upstream.
MAX_AMOUNT = 100_000_000.0
#: Floats above this may not hold every digit of a whole number (2**53)
MAX_EXACT_FLOAT = float(2**53)
EARLIEST_DATE, LATEST_DATE = pd.Timestamp("1900-01-01"), pd.Timestamp("2199-12-31")
_EARLIEST_DAY, _LATEST_DAY = EARLIEST_DATE.date(), LATEST_DATE.date()

#: Characters no text value may hold (C0 controls and DEL)
CONTROL_PATTERN = r"[\x00-\x1f\x7f]"

_NUMBER = re.compile(NUMBER_PATTERN)
_CONTROL = re.compile(CONTROL_PATTERN)
_DATE = re.compile(DATE_PATTERN)


class BrokenRule(ValueError):
    """The value breaks its column's rule (the caller words it with the column's rule text)."""


def is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _whole(value: object) -> int | None:
    """``value`` as an int when it is a (non-boolean) whole number, else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real) and math.isfinite(value) and float(value).is_integer() and abs(value) < MAX_EXACT_FLOAT:
        return int(value)
    return None


def text_value(value: object) -> str:
    """A text column's value: text trimmed, or a whole number's digits."""
    if isinstance(value, str):
        text = value.strip()
        if _CONTROL.search(text):
            raise BrokenRule(value)
        return text
    whole = _whole(value)
    if whole is None:
        raise BrokenRule(value)
    return str(whole)


def bool_value(value: object) -> bool:
    """A yes/no column's value."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise BrokenRule(value)
    whole = _whole(value)
    if whole in (0, 1):
        return bool(whole)
    raise BrokenRule(value)


def number_value(value: object) -> float:
    """A number column's value (finite; the caller checks the column's bounds)."""
    if type(value) is float or type(value) is int:  # what JSON gives, without the abstract-class checks
        number = _float(value)
    elif isinstance(value, (bool, np.bool_)):
        raise BrokenRule(value)
    elif isinstance(value, str):
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            raise BrokenRule(value)
        number = float(text)
    elif isinstance(value, Real):
        number = _float(value)
    else:
        raise BrokenRule(value)
    if not math.isfinite(number):
        raise BrokenRule(value)
    return number


def _float(value: Real) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond float's range (JSON allows any number of digits): not a number here
        raise BrokenRule(value) from None


def date_value(value: object) -> date:
    """A date column's value, within the supported range."""
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str) and _DATE.fullmatch(text := value.strip()):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise BrokenRule(value) from None
    else:
        raise BrokenRule(value)
    if not _EARLIEST_DAY <= day <= _LATEST_DAY:
        raise BrokenRule(value)
    return day
