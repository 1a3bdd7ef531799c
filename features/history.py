"""Per-attempt facts derived from a validated history: what came before each attempt, and its result."""

from __future__ import annotations

import pandas as pd

from features.schema import RESOLVED_OUTCOMES, SUCCESS_OUTCOMES


def derive_attempts(history: pd.DataFrame) -> pd.DataFrame:
    """Add ``prior_level``, ``allowed_before``, ``resolved`` and ``success`` to validated history rows.

    Attempts of a claim are ordered by submission date, then level. ``prior_level`` is the highest level
    attempted earlier (a value given in the file wins). ``allowed_before`` is the initial allowed amount
    for the first attempt, then the last known final allowed amount of an earlier attempt. Success is a
    favourable outcome that actually raised the allowed amount.
    """
    attempts = history.sort_values(["claim_id", "submitted_date", "level"], kind="stable").copy()
    by_claim = attempts.groupby("claim_id", sort=False)
    earlier_max = by_claim["level"].cummax().groupby(attempts["claim_id"], sort=False).shift(1)
    derived_prior = earlier_max.fillna(0).astype("int64")
    given_prior = attempts.get("prior_level")
    attempts["prior_level"] = (
        given_prior.fillna(derived_prior).astype("int64") if given_prior is not None else derived_prior
    )
    last_known = by_claim["final_allowed_amount"].shift(1)
    last_known = last_known.groupby(attempts["claim_id"], sort=False).ffill()
    attempts["allowed_before"] = last_known.fillna(attempts["initial_allowed_amount"]).astype("float64")
    attempts["resolved"] = attempts["outcome"].isin(RESOLVED_OUTCOMES)
    attempts["success"] = (
        attempts["outcome"].isin(SUCCESS_OUTCOMES) & (attempts["final_allowed_amount"] > attempts["allowed_before"])
    ).astype(bool)
    return attempts.sort_index()


def resolved_attempts(attempts: pd.DataFrame) -> pd.DataFrame:
    """Attempts that carry an outcome: pending and withdrawn ones are excluded from outcome models."""
    return attempts[attempts["resolved"]]
