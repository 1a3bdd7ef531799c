"""Plain-word reasons from the success model's per-feature contributions.

A reason names what the claim *has* (its value of the feature, with the number), in correct grammar: the
verb agrees with the subject ("the clinical notes attached raise", "the charge at 4.2x Medicare lowers"),
and a flag or count at zero reads as its absence ("having no clinical notes attached lowers", "taking the
steps in order (none skipped) lowers"), never as something the claim did not do. Each feature's wording
is written once, in ``subject``; ``top_reasons`` formats each distinct shown value once per call, so a
worklist of a million claims formats a few thousand subjects, not millions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

from features.reference import CARC_CATEGORIES
from features.schema import ESCALATION_LEVELS

MIN_CONTRIBUTION = 0.05  # log-odds; smaller effects are noise, not reasons
OTHER_CATEGORY = "__other__"
MISSING_CATEGORY = "__missing__"
_LEVEL_WORDS = {int(level): level.name.replace("_", " ") for level in ESCALATION_LEVELS}
_LEVEL_WORDS[0] = "none"

#: Flags: (subject when the claim has it, subject when it has not, whether the first is plural).
FLAGS: dict[str, tuple[str, str, bool]] = {
    "has_clinical_notes": ("the clinical notes attached", "having no clinical notes attached", True),
    "has_medical_necessity_letter": (
        "the letter of medical necessity",
        "having no letter of medical necessity",
        False,
    ),
    "prior_authorization": ("the prior authorization", "having no prior authorization", False),
    "emergency": ("the service being an emergency", "the service not being an emergency", False),
    "nsa_eligible": ("No Surprises Act protection", "the lack of No Surprises Act protection", False),
    "network_gap": (
        "the network-gap leverage (no adequate in-network alternative)",
        "having an in-network alternative (no network-gap leverage)",
        False,
    ),
    "denied": ("the claim being denied outright", "the claim being partly paid rather than denied", False),
    "recovered_before": ("an earlier partial recovery", "having recovered nothing since the initial payment", False),
}
FLAGS.update(
    {
        f"carc_{name}": (
            f"the {name.replace('_', ' ')} adjustment codes on the claim",
            f"having no {name.replace('_', ' ')} adjustment codes",
            True,
        )
        for name in CARC_CATEGORIES
    }
)
#: Ratios shown as a multiple ("x") or a percentage ("%"): (subject with ``{}`` for the number, kind,
#: subject when the ratio is missing).
RATIOS: dict[str, tuple[str, str, str]] = {
    "billed_to_medicare": ("the charge at {} Medicare", "x", "the service having no Medicare rate"),
    "allowed_to_billed": ("the amount allowed so far at {} of the charge", "%", "the charge being unknown"),
    "allowed_to_medicare": ("the amount allowed so far at {} Medicare", "x", "the service having no Medicare rate"),
    "initial_to_billed": ("the initial payment at {} of the charge", "%", "the charge being unknown"),
    "qpa_to_billed": ("the QPA at {} of the charge", "%", "the QPA not being disclosed"),
    "qpa_to_medicare": ("the QPA at {} Medicare", "x", "the QPA or the Medicare rate being unknown"),
    "allowed_to_qpa": ("the amount allowed so far at {} the QPA", "x", "the QPA not being disclosed"),
    "idr_provider_win_rate": (
        "the payer's Federal IDR record (providers won {} of its disputes)",
        "%",
        "the payer having no Federal IDR record",
    ),
    "idr_default_rate": (
        "the payer's Federal IDR default-decision rate of {}",
        "%",
        "the payer having no Federal IDR record",
    ),
    "idr_median_offer_ratio": (
        "the payer's median prevailing Federal IDR offer of {} the QPA",
        "x",
        "the payer having no Federal IDR record",
    ),
}
#: Dollar amounts kept as log1p: (subject with ``{}`` for the amount, subject when missing).
AMOUNTS: dict[str, tuple[str, str]] = {
    "log_billed": ("the billed amount of {}", "the billed amount being unknown"),
    "log_medicare": ("the Medicare rate for the service ({})", "the service having no Medicare rate"),
    "log_dollars_at_stake": ("the {} still at stake", "the amount at stake being unknown"),
}
#: Categorical features: how the category is introduced.
CATEGORIES: dict[str, str] = {
    "plan_type": "the plan type",
    "funding": "the plan's funding",
    "state": "the state",
    "specialty": "the specialty",
    "place_of_service": "the place of service",
    "cpt_code": "the service code",
    "modifier": "the modifier",
    "code_family": "the kind of service",
    "denial_category": "the denial reason",
}


def _plural(count: float, one: str, many: str) -> str:
    return one if count == 1 else many


def _number(value: float, kind: str) -> str:
    if kind == "%":
        return f"{value * 100:.0f}%"
    return f"{value:.1f}x"


def _dollars(log_value: float) -> str:
    amount = math.expm1(log_value)
    return f"${amount:,.0f}" if amount < 1_000 else f"about ${float(f'{amount:.3g}'):,.0f}"


def subject(name: str, value: float, categories: Mapping[str, Sequence[str]] | None = None) -> tuple[str, bool]:
    """How feature ``name`` at ``value`` (as the model matrix holds it) reads as a sentence's subject, and
    whether that subject is plural. ``categories`` are the transformer's vocabularies (a categorical
    feature's value is its code in them)."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if name in FLAGS:
        present, absent, plural = FLAGS[name]
        return (present, plural) if not missing and value > 0 else (absent, False)
    if name in RATIOS:
        text, kind, unknown = RATIOS[name]
        return (unknown, False) if missing else (text.format(_number(value, kind)), False)
    if name in AMOUNTS:
        text, unknown = AMOUNTS[name]
        return (unknown, False) if missing else (text.format(_dollars(value)), False)
    if name == "level":
        return "the step itself", False
    if name == "prior_level":
        if missing or int(value) <= 0:
            return "the claim not having been escalated yet", False
        return f"the claim having already reached {_LEVEL_WORDS.get(int(value), 'a later level')}", False
    if name == "levels_skipped":
        if missing or value <= 0:
            return "taking the steps in order (none skipped)", False
        return f"skipping {int(value)} {_plural(value, 'step', 'steps')}", False
    if name == "units":
        if missing:
            return "the units billed being unknown", False
        return f"the {value:g} {_plural(value, 'unit', 'units')} billed", value != 1
    if name == "carc_count":
        if missing or value <= 0:
            return "having no adjustment codes", False
        return f"the {int(value)} {_plural(value, 'adjustment code', 'distinct adjustment codes')}", value != 1
    if name == "carc_unrecognised":
        if missing or value <= 0:
            return "having no unrecognised adjustment codes", False
        count = int(value)
        return f"the {count} unrecognised adjustment {_plural(count, 'code', 'codes')}", count != 1
    if name in ("days_since_service", "days_since_payment"):
        since = "the service" if name == "days_since_service" else "the initial payment"
        if missing:
            return f"the date of {since} being unknown", False
        days = int(value)
        return f"the {days:,} {_plural(days, 'day', 'days')} since {since}", days != 1
    if name == "idr_disputes":
        if missing:
            return "the payer having no Federal IDR record", False
        disputes = int(value)
        return f"the payer's {disputes:,} Federal IDR {_plural(disputes, 'dispute', 'disputes')}", disputes != 1
    if name == "payer_id" or name in CATEGORIES:
        category = _category(name, value, categories)
        if name == "payer_id":
            if category == OTHER_CATEGORY:
                return "the payer being rare in the history", False
            if category == MISSING_CATEGORY:
                return "the payer being unknown", False
            return "this payer's record" if category is None else f"{category}'s record", False
        intro = CATEGORIES[name]
        if category == OTHER_CATEGORY:
            return f"{intro} being rare in the history", False
        if category == MISSING_CATEGORY or (name == "denial_category" and category == "none"):
            return (f"having no {intro.removeprefix('the ')}" if name != "funding" else f"{intro} being unknown"), False
        return (intro if category is None else f"{intro} ({category.replace('_', ' ')})"), False
    # a feature without wording of its own (a new one): named by its column, with its value
    shown = "unknown" if missing else f"{value:g}"
    return f"the {name.replace('_', ' ')} ({shown})", False


def _category(name: str, value: float, categories: Mapping[str, Sequence[str]] | None) -> str | None:
    vocabulary = (categories or {}).get(name)
    if vocabulary is None or value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    code = int(value)
    return str(vocabulary[code]) if 0 <= code < len(vocabulary) else None


@lru_cache(maxsize=65_536)
def sentence(subject_text: str, plural: bool, raises: bool, step: str) -> str:
    """One reason: the subject, the verb agreeing with it, the step."""
    verb = ("raise" if raises else "lower") if plural else ("raises" if raises else "lowers")
    return f"{subject_text[0].upper()}{subject_text[1:]} {verb} the chance of success at {step}"


#: How ``subject`` rounds a feature's value for display (``_display_keys``)
_AS_IS, _TWO_DECIMALS, _ONE_DECIMAL, _THREE_DIGITS = range(4)


@lru_cache(maxsize=64)
def _display_kinds(features: tuple[str, ...]) -> np.ndarray:
    """Each feature's rounding for display: a ratio's by its kind, an amount's to three digits."""
    kinds = [
        (_TWO_DECIMALS if RATIOS[name][1] == "%" else _ONE_DECIMAL)
        if name in RATIOS
        else _THREE_DIGITS
        if name in AMOUNTS
        else _AS_IS
        for name in features
    ]
    return np.array(kinds, dtype="int64")


def _display_keys(kinds: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values rounded as ``subject`` shows them (each by its feature's ``_display_kinds``), so that values
    shown alike are formatted once."""
    keys = values.copy()
    for kind, decimals in ((_TWO_DECIMALS, 2), (_ONE_DECIMAL, 1)):
        where = kinds == kind
        if where.any():  # a claim's few reasons often have no feature of a kind
            keys[where] = np.round(values[where], decimals)
    where = kinds == _THREE_DIGITS
    if where.any():
        amounts = np.expm1(values[where])
        with np.errstate(divide="ignore", invalid="ignore"):
            digits = np.where(amounts >= 1_000, 2 - np.floor(np.log10(np.abs(amounts))), 0)
        rounded = np.round(amounts * 10.0**digits) / 10.0**digits
        keys[where] = np.log1p(np.where(np.isfinite(rounded), rounded, amounts))
    return keys


def _distinct_pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (first, second) pairs (``second`` float, NaN equal to NaN): the position of one entry
    of each, and each entry's pair as an index into them. One sort for every pair at once."""
    order = np.lexsort((second, first))
    ones, twos = first[order], second[order]
    same = (ones[1:] == ones[:-1]) & ((twos[1:] == twos[:-1]) | (np.isnan(twos[1:]) & np.isnan(twos[:-1])))
    starts = np.concatenate([[True], ~same])
    inverse = np.empty(len(order), dtype="int64")
    inverse[order] = np.cumsum(starts) - 1
    return order[starts], inverse


def top_reasons(
    contributions: np.ndarray,
    features: Sequence[str],
    levels: np.ndarray,
    values: np.ndarray,
    categories: Mapping[str, Sequence[str]] | None = None,
    top: int = 3,
) -> list[list[str]]:
    """The ``top`` largest contributions of each row (columns named by ``features``) as sentences about the
    step in ``levels``, largest first; ``values`` is the model matrix the contributions were computed on.
    Contributions under ``MIN_CONTRIBUTION`` are left out."""
    rows = np.arange(len(contributions))[:, None]
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :top]
    effects = contributions[rows, order]
    shown_values = values[rows, order]
    shown = np.abs(effects) >= MIN_CONTRIBUTION
    reasons: list[list[str]] = [[] for _ in range(len(contributions))]
    shown_features = order[shown]
    if not len(shown_features):
        return reasons
    # each distinct (feature, value as shown) worded once, for all rows together
    keys = _display_keys(_display_kinds(tuple(features))[shown_features], shown_values[shown])
    distinct, subject_of = _distinct_pairs(shown_features, keys)
    worded = [
        subject(features[feature], value, categories)
        for feature, value in zip(shown_features[distinct].tolist(), keys[distinct].tolist(), strict=True)
    ]
    steps = [str(level).replace("_", " ") for level in levels.tolist()]
    # and each distinct sentence written once: a worklist repeats few, and a lookup costs a fraction of one
    written: dict[tuple[int, bool, str], str] = {}
    row_of = np.nonzero(shown)[0]  # the shown entries row by row, largest first: as ``order[shown]``
    for row, number, raises in zip(row_of.tolist(), subject_of.tolist(), (effects[shown] > 0).tolist(), strict=True):
        key = (number, raises, steps[row])
        text = written.get(key)
        if text is None:
            text = written[key] = sentence(*worded[number], raises, steps[row])
        reasons[row].append(text)
    return reasons
