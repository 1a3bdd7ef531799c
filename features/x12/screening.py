"""Underpayment screening of imported claims: which are worth working.

Each claim is ``denied`` (allowed 0), ``underpaid`` (allowed below its benchmark), ``paid_as_expected``
or ``not_out_of_network`` (its payer is marked in network in the payer map). The benchmark is the QPA
where the remit discloses one, else the payer's multiple (default 1.5) of the 2025 state Medicare amount
from ``features.reference.medicare_amount``. A claim with neither (a code Medicare does not price) cannot
be judged and is kept as an underpayment candidate with its own reason, so nothing leaves unseen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import reference

OUTCOMES = ("denied", "underpaid", "paid_as_expected", "not_out_of_network")
CANDIDATES = frozenset({"denied", "underpaid"})


def screen(claims: pd.DataFrame, medicare_multiple: np.ndarray, in_network: np.ndarray) -> pd.DataFrame:
    """``outcome`` and ``reason`` for each typed contract claim (same index), given each row's payer
    settings."""
    medicare_multiple = np.asarray(medicare_multiple, dtype="float64")
    in_network = np.asarray(in_network, dtype=bool)
    allowed = claims["initial_allowed_amount"].to_numpy(dtype="float64")
    qpa = pd.to_numeric(claims["qpa_amount"], errors="coerce").to_numpy(dtype="float64")
    medicare = reference.medicare_amount(
        claims["cpt_code"], claims["modifier"], claims["place_of_service"], claims["state"], claims["units"]
    ).to_numpy()
    has_qpa = ~np.isnan(qpa)
    benchmark = np.where(has_qpa, qpa, medicare_multiple * medicare)
    unpriced = np.isnan(benchmark)
    multiple_text = np.array([f"{value:g}" for value in medicare_multiple], dtype=object)
    conditions = [in_network, allowed <= 0, unpriced, allowed < benchmark, np.full(len(claims), True)]
    outcomes = ["not_out_of_network", "denied", "underpaid", "underpaid", "paid_as_expected"]
    below = np.where(has_qpa, "allowed below the QPA", "allowed below " + multiple_text + " x state Medicare")
    at_or_above = np.where(
        has_qpa, "allowed at or above the QPA", "allowed at or above " + multiple_text + " x state Medicare"
    )
    reasons = [
        np.full(len(claims), "payer marked in network in the payer map"),
        np.full(len(claims), "allowed amount 0"),
        np.full(len(claims), "no benchmark (no QPA, code has no Medicare price): kept for review"),
        below,
        at_or_above,
    ]
    return pd.DataFrame(
        {
            "outcome": np.select(conditions, outcomes, default="paid_as_expected"),
            "reason": np.select(conditions, reasons, default=""),
        },
        index=claims.index,
    )


def candidates(claims: pd.DataFrame, screening: pd.DataFrame) -> pd.DataFrame:
    """The claims worth working (``CANDIDATES``), in their order, indexed 0..n-1."""
    return claims[screening["outcome"].isin(CANDIDATES).to_numpy()].reset_index(drop=True)
