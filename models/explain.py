"""Plain-word reasons from the success model's per-feature contributions."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from features.reference import CARC_CATEGORIES

#: How each feature reads in a sentence. Features not listed are named by their column.
FEATURE_PHRASES = {
    "payer_id": "this payer's record",
    "plan_type": "the plan type",
    "funding": "the plan's funding",
    "state": "the state",
    "specialty": "the specialty",
    "place_of_service": "the place of service",
    "cpt_code": "the service code",
    "modifier": "the modifier",
    "code_family": "the kind of service",
    "denial_category": "the denial reason",
    "level": "the step itself",
    "prior_level": "how far the claim has already gone",
    "levels_skipped": "skipping steps",
    "log_billed": "the billed amount",
    "log_medicare": "the Medicare rate for the service",
    "log_dollars_at_stake": "the dollars at stake",
    "billed_to_medicare": "the charge relative to Medicare",
    "allowed_to_billed": "the amount already allowed relative to the charge",
    "allowed_to_medicare": "the amount already allowed relative to Medicare",
    "initial_to_billed": "the initial payment relative to the charge",
    "qpa_to_billed": "the QPA relative to the charge",
    "qpa_to_medicare": "the QPA relative to Medicare",
    "allowed_to_qpa": "the amount allowed relative to the QPA",
    "denied": "the claim being denied outright",
    "recovered_before": "an earlier partial recovery",
    "units": "the units billed",
    "days_since_service": "the time since the service",
    "days_since_payment": "the time since the initial payment",
    "emergency": "the emergency status",
    "nsa_eligible": "No Surprises Act protection",
    "network_gap": "the network-gap leverage",
    "has_medical_necessity_letter": "the letter of medical necessity",
    "has_clinical_notes": "the clinical notes",
    "prior_authorization": "the prior authorization",
    "carc_count": "the number of adjustment codes",
    "carc_unrecognised": "unrecognised adjustment codes",
}
FEATURE_PHRASES.update({f"carc_{name}": f"the {name.replace('_', ' ')} adjustment codes" for name in CARC_CATEGORIES})
MIN_CONTRIBUTION = 0.05  # log-odds; smaller effects are noise, not reasons


def top_reasons(
    contributions: np.ndarray, features: Sequence[str], levels: np.ndarray, top: int = 3
) -> list[list[str]]:
    """The ``top`` largest contributions of each row (columns named by ``features``) as sentences about the
    step in ``levels``, largest first; contributions under ``MIN_CONTRIBUTION`` are left out."""
    rows = np.arange(len(contributions))[:, None]
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :top]
    effects = contributions[rows, order]
    openings = _openings(tuple(features))[2 * order + (effects > 0)]
    shown = np.abs(effects) >= MIN_CONTRIBUTION
    steps = [str(level).replace("_", " ") for level in levels]
    # row by row in Python: for one claim far cheaper than object-array operations, for many about even
    return [
        [opening + step for opening, keep in zip(row_openings, row_shown, strict=True) if keep]
        for row_openings, row_shown, step in zip(openings.tolist(), shown.tolist(), steps, strict=True)
    ]


@cache
def _openings(features: tuple[str, ...]) -> np.ndarray:
    """Sentence openings by (feature, direction): index 2 * feature + (1 if it raises the chance)."""
    phrases = [FEATURE_PHRASES.get(name, name.replace("_", " ")) for name in features]
    return np.array(
        [
            f"{phrase[0].upper()}{phrase[1:]} {verb} the chance of success at "
            for phrase in phrases
            for verb in ("lowers", "raises")
        ],
        dtype=object,
    )
