"""Payer profiles: how each payer behaves, from the history. They travel inside the model bundle."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.reference import code_family, medicare_amount
from features.schema import Level
from models.bundle import PayerProfiles

SHRINKAGE_ATTEMPTS = 20


def build_payer_profiles(attempts: pd.DataFrame) -> PayerProfiles:
    """Per payer: volume and initial pay levels; per payer and level: counts, shrunk rates, medians."""
    claims = attempts.drop_duplicates("claim_id")
    medicare = medicare_amount(
        claims["cpt_code"], claims["modifier"], claims["place_of_service"], claims["state"], claims["units"]
    )
    claims = claims.assign(
        initial_pct_billed=claims["initial_allowed_amount"] / claims["billed_amount"],
        initial_pct_medicare=claims["initial_allowed_amount"] / medicare.where(medicare > 0),
        denied=claims["initial_allowed_amount"] <= 0,
    )
    summary = claims.groupby("payer_id").agg(
        claims=("claim_id", "size"),
        denial_rate=("denied", "mean"),
        median_initial_pct_of_billed=("initial_pct_billed", "median"),
        median_initial_pct_of_medicare=("initial_pct_medicare", "median"),
    )
    # what the payer initially allows for each kind of service: the brief's "typical allowed" benchmark
    by_family = (
        claims.assign(code_family=code_family(claims["cpt_code"]).to_numpy())
        .groupby(["payer_id", "code_family"])
        .agg(
            claims=("claim_id", "size"),
            median_initial_allowed=("initial_allowed_amount", "median"),
            median_initial_pct_of_billed=("initial_pct_billed", "median"),
            median_initial_pct_of_medicare=("initial_pct_medicare", "median"),
        )
        .reset_index()
    )
    summary["attempts"] = attempts.groupby("payer_id").size()
    summary["first_service_date"] = claims.groupby("payer_id")["service_date"].min()
    summary["last_service_date"] = claims.groupby("payer_id")["service_date"].max()

    resolved = attempts[attempts["resolved"]].assign(
        settlement_pct_of_billed=lambda f: np.where(
            f["success"], f["final_allowed_amount"] / f["billed_amount"], np.nan
        )
    )
    market = resolved.groupby("level")["success"].mean()
    by_level = (
        resolved.groupby(["payer_id", "level"])
        .agg(
            attempts=("success", "size"),
            successes=("success", "sum"),
            median_settlement_pct_of_billed=("settlement_pct_of_billed", "median"),
            median_days=("days_to_resolution", "median"),
        )
        .reset_index()
    )
    prior = market.reindex(by_level["level"]).to_numpy()
    by_level["success_rate"] = by_level["successes"] / by_level["attempts"]
    by_level["success_rate_shrunk"] = (by_level["successes"] + SHRINKAGE_ATTEMPTS * prior) / (
        by_level["attempts"] + SHRINKAGE_ATTEMPTS
    )
    by_level["market_success_rate"] = prior
    by_level["level"] = by_level["level"].map(lambda level: Level(int(level)).name)
    return PayerProfiles(summary.reset_index(), by_level, by_family)
