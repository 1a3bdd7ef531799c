"""Per payer group, how providers fare against that payer at IDR (shrunk toward all payers)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.idr_payers import ALL_PAYERS


def _shrunk(successes: pd.Series, trials: pd.Series, prior: float, strength: float) -> pd.Series:
    """Empirical-Bayes (beta prior) rate: the group's rate pulled toward ``prior`` by ``strength`` rows."""
    return (successes + strength * prior) / (trials + strength)


def payer_idr_benchmarks(dataset: pd.DataFrame, prior_strength: float = 50) -> pd.DataFrame:
    """Per payer group: how providers fare against it at IDR (one row per group, first row all payers).

    Counts are dispute line items unless named ``disputes``. Rates and the median offer ratio come raw
    (``*_raw``) and shrunk toward all payers by ``prior_strength`` pseudo line items (the offer ratio in log
    space), so a group with a handful of disputes does not show an extreme. The median IDRE fee is over
    line items with a fee (default decisions carry none).
    """
    frame = dataset.assign(
        won=dataset["outcome"].eq("provider").astype(float),
        default_known=dataset["default_decision"].notna().astype(float),
        defaulted=dataset["default_decision"].fillna(False).astype(float),
        log_offer=np.log(dataset["prevailing_offer_ratio"].where(dataset["prevailing_offer_ratio"] > 0)),
        fee=dataset["idre_fee"].where(dataset["idre_fee"] > 0),
    )
    everyone = frame.assign(payer_group=ALL_PAYERS, payer_id=pd.NA)
    table = (
        pd.concat([everyone, frame])
        .groupby("payer_group", sort=False, dropna=True)
        .agg(
            payer_id=("payer_id", "first"),
            line_items=("won", "size"),
            disputes=("dispute_number", "nunique"),
            provider_wins=("won", "sum"),
            default_known=("default_known", "sum"),
            default_decisions=("defaulted", "sum"),
            offer_ratio_line_items=("log_offer", "count"),
            log_offer_median=("log_offer", "median"),
            median_days=("days_to_determination", "median"),
            median_idre_fee=("fee", "median"),
            first_quarter=("quarter", "min"),
            last_quarter=("quarter", "max"),
        )
    )
    market = table.loc[ALL_PAYERS]
    table["provider_win_rate_raw"] = table["provider_wins"] / table["line_items"]
    table["provider_win_rate"] = _shrunk(
        table["provider_wins"], table["line_items"], market["provider_wins"] / market["line_items"], prior_strength
    )
    table["default_decision_rate_raw"] = table["default_decisions"] / table["default_known"]
    market_default_rate = market["default_decisions"] / market["default_known"]
    table["default_decision_rate"] = _shrunk(
        table["default_decisions"], table["default_known"], market_default_rate, prior_strength
    )
    table["median_prevailing_offer_ratio_raw"] = np.exp(table["log_offer_median"])
    weight = table["offer_ratio_line_items"] / (table["offer_ratio_line_items"] + prior_strength)
    table["median_prevailing_offer_ratio"] = np.exp(
        weight * table["log_offer_median"].fillna(0) + (1 - weight) * market["log_offer_median"]
    )
    table = table.astype(
        {
            "line_items": int,
            "disputes": int,
            "provider_wins": int,
            "default_decisions": int,
            "offer_ratio_line_items": int,
        }
    )
    # the largest groups first; ties by name, so the same data always gives the same file, row for row
    ordered = (
        table.drop(index=ALL_PAYERS)
        .rename_axis("payer_group")
        .sort_values(["line_items", "payer_group"], ascending=[False, True], kind="stable")
    )
    columns = [
        "payer_id",
        "line_items",
        "disputes",
        "provider_wins",
        "provider_win_rate_raw",
        "provider_win_rate",
        "default_decisions",
        "default_decision_rate_raw",
        "default_decision_rate",
        "offer_ratio_line_items",
        "median_prevailing_offer_ratio_raw",
        "median_prevailing_offer_ratio",
        "median_days",
        "median_idre_fee",
        "first_quarter",
        "last_quarter",
    ]
    result = pd.concat([table.loc[[ALL_PAYERS]], ordered])[columns].reset_index()
    return result.assign(prior_strength=prior_strength)
