"""Negotiation histories and worklists sampled from a simulated world (``training.world``).

``simulate_history`` draws disputed OON claims and walks each one up the escalation ladder the way a
billing team does: selectively and imperfectly (a noisy heuristic, not the optimal policy). Every attempt's
result is drawn from ``World.evaluate``, the same truth ``World.truth`` reports, and the truth is written
beside each row in ``truth_`` columns. The work is vectorised over claims and iterates over escalation
rounds (a claim makes at most five attempts), so a million attempts take seconds.

``simulate_worklist`` draws fresh claims awaiting a decision, some already through reconsideration or a
written appeal, as scoring requests (no truth columns).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from features import reference
from features.schema import CLAIM_COLUMN_NAMES, LEVEL_NAMES
from training.world import (
    ADMINISTRATIVE,
    ALL_PHYSICIAN_BILLED_MULTIPLE,
    AUTHORIZATION,
    BILLED_MULTIPLE,
    BILLED_NOISE_SIGMA,
    BUNDLING,
    CATALOGUE,
    CATEGORIES,
    EXTERNAL_REVIEW,
    FACILITY_PLACES,
    FUNDING_MIX,
    FUNDINGS,
    GROUPS,
    LEGAL,
    LEVEL_OF_SERVICE,
    MEDICAL_NECESSITY,
    OPEN_NEGOTIATION_BUSINESS_DAYS,
    PEER_TO_PEER,
    PLAN_MIX,
    PLAN_TYPES,
    PRICING,
    QPA_MULTIPLE,
    RECONSIDERATION,
    STATE_WEIGHTS,
    WRITTEN_APPEAL,
    Attempt,
    ClaimFacts,
    World,
    business_days,
    sigmoid,
)

HISTORY_COLUMNS = ("level", "submitted_date", "resolved_date", "outcome", "final_allowed_amount", "prior_level")
TRUTH_COLUMNS = (
    "truth_p_success",
    "truth_expected_allowed",
    "truth_expected_days",
    "truth_ineligible",
    "truth_world",  # ``World.describe()`` of the world that drew the row
)

# --- How claims look -----------------------------------------------------------------------------------

#: Reason codes per category (DESIGN.md grouping) with their relative frequency on remittances.
CARC_BY_CATEGORY = {
    "pricing": (("CO-45", 0.85), ("CO-131", 0.05), ("CO-147", 0.05), ("CO-242", 0.05)),
    "bundling": (("CO-97", 0.7), ("CO-234", 0.1), ("CO-236", 0.1), ("CO-4", 0.05), ("CO-59", 0.05)),
    "level_of_service": (("CO-150", 0.8), ("CO-151", 0.2)),
    "medical_necessity": (("CO-50", 0.7), ("CO-96", 0.1), ("CO-204", 0.1), ("CO-167", 0.05), ("CO-11", 0.05)),
    "authorization": (("CO-197", 0.85), ("CO-B7", 0.15)),
    "administrative": (("CO-16", 0.6), ("CO-252", 0.2), ("CO-109", 0.1), ("CO-18", 0.05), ("CO-29", 0.05)),
}
#: Patient share lines on paid claims (deductible, coinsurance, copay) and other-payer adjustments.
PATIENT_SHARE_RATE = 0.45
PATIENT_SHARE_CODES = (("PR-2", 0.6), ("PR-1", 0.3), ("PR-3", 0.1))
OTHER_PAYER_RATE = 0.02
#: QPA disclosure is an NSA remittance requirement; a few payers print one on other claims too.
NON_NSA_QPA_DISCLOSURE = 0.03
QPA_NOISE_SIGMA = 0.2
#: A downcoded claim is paid at the lower level: ~60% of the billed level's rate (99285 paid as 99283).
DOWNCODED_PAY_SHARE = 0.6
INITIAL_PAY_NOISE_SIGMA, NSA_INITIAL_PAY_NOISE_SIGMA = 0.15, 0.05
MAX_INITIAL_TO_BILLED = 0.92
#: Non-emergency services at an in-network facility: NSA covers ancillary clinicians (anesthesia,
#: radiology, pathology) whatever the patient signed; other OON clinicians there often obtain consent.
ANCILLARY_NSA_RATE, OTHER_FACILITY_NSA_RATE = 0.8, 0.25
ANCILLARY_GROUPS = frozenset({"anesthesia", "radiology", "pathology"})
NETWORK_GAP_RATE = 0.07
SCARCE_SPECIALTIES = frozenset({"neurosurgery", "pain_management", "air_ambulance"})
SCARCE_NETWORK_GAP_RATE = 0.2
DAYS_TO_INITIAL_PAYMENT, MAX_DAYS_TO_INITIAL_PAYMENT = 28.0, 100

# --- How the billing team escalates (a heuristic, not the optimum) --------------------------------------

#: First attempt on a claim: reconsideration mostly; some teams file a written appeal at once; a
#: medical-necessity denial often goes straight to a peer-to-peer request.
FIRST_LEVEL_WEIGHTS = np.array([0.78, 0.17, 0.04, 0.0, 0.003])
FIRST_P2P_IF_CLINICAL = 0.2
FIRST_RECONSIDERATION_IF_ADMINISTRATIVE = 0.3  # a missing document is sent back at once
#: Escalation propensity after a resolved attempt (logit): more when more dollars and a larger share of
#: the charge are still unpaid, less after each attempt and after a win; a per-claim persistence term
#: stands for the team's attention and the claim's story.
CONTINUE_INTERCEPT = -0.5
CONTINUE_PER_LOG_DOLLAR = 0.45
CONTINUE_PER_UNPAID_SHARE = 1.6
CONTINUE_PER_ATTEMPT = -0.35
CONTINUE_AFTER_WIN = -1.0
CONTINUE_TO_LEGAL = -1.2
PERSISTENCE_SIGMA = 0.8
WITHDRAW_RATE = 0.02
BIG_DISPUTE = 20_000.0
IDR_TYPICAL_MARKUP = 3.0  # billed / allowed of a typical NSA underpayment
#: Days between a resolution and the next submission; an IDR dispute starts within the 4 business days
#: after the open negotiation (30 business days) ends.
NEXT_SUBMISSION_DAYS, LEGAL_PREPARATION_DAYS = 14.0, 45.0
FIRST_SUBMISSION_DAYS = 20.0
#: Internal appeals must start within 180 days of the initial payment; the NSA open negotiation within
#: 30 business days of it.
INTERNAL_DEADLINE_DAYS, NSA_NEGOTIATION_START_DAYS = 170, 38


def _next_level_weights(current: np.ndarray, facts: ClaimFacts, allowed: np.ndarray) -> np.ndarray:
    """Relative propensity of each level 1..5 as the next attempt (columns), zero where not eligible.

    Teams mostly climb to the written appeal; clinical disputes (medical necessity, level of service) ask
    for a peer-to-peer; external review follows the internal levels; big disputes and exhausted ladders go
    to court more often.
    """
    paid = allowed > 0
    clinical = np.isin(facts.category, (MEDICAL_NECESSITY, LEVEL_OF_SERVICE))
    big = (facts.billed - allowed) > BIG_DISPUTE
    count = len(current)
    weights = np.zeros((count, 5))
    after_reconsideration = current == RECONSIDERATION
    after_appeal = current == WRITTEN_APPEAL
    weights[:, WRITTEN_APPEAL - 1] = 1.0
    weights[:, PEER_TO_PEER - 1] = np.where(after_appeal, 0.25 + 0.9 * clinical, 0.08 + 0.5 * clinical)
    # NSA pricing disputes go to IDR after the open negotiation, the more so the further the payment is
    # below the charge; denials need an appeal (or review) first, and IDR after internal appeals is late
    markup = np.clip(facts.billed / np.maximum(allowed, 1.0) / IDR_TYPICAL_MARKUP, 0.3, 3.0)
    weights[:, EXTERNAL_REVIEW - 1] = np.where(
        after_reconsideration,
        facts.nsa * np.where(paid, 1.6 * markup, 0.1),
        np.where(facts.nsa, 0.4, 0.8 + 0.4 * ~paid) + 1.0 * (current == PEER_TO_PEER),
    )
    weights[:, LEGAL - 1] = 0.03 + 0.08 * big + 0.1 * (current >= PEER_TO_PEER)
    levels = np.arange(1, 6)
    eligible = levels[None, :] > current[:, None]
    external_ok = (facts.nsa & (current >= RECONSIDERATION)) | (current >= WRITTEN_APPEAL)
    eligible[:, EXTERNAL_REVIEW - 1] &= external_ok
    return weights * eligible


def _first_level_weights(facts: ClaimFacts) -> np.ndarray:
    weights = np.tile(FIRST_LEVEL_WEIGHTS, (len(facts.billed), 1))
    weights[:, PEER_TO_PEER - 1] += FIRST_P2P_IF_CLINICAL * (facts.category == MEDICAL_NECESSITY)
    administrative = facts.category == ADMINISTRATIVE
    weights[:, RECONSIDERATION - 1] += FIRST_RECONSIDERATION_IF_ADMINISTRATIVE * administrative
    return weights


def _choose(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One level per row (1-based) drawn in proportion to ``weights``."""
    cumulative = weights.cumsum(axis=1)
    draw = rng.random(len(weights)) * cumulative[:, -1]
    return (draw[:, None] >= cumulative).sum(axis=1) + 1


# --- Claims ------------------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, table: tuple[tuple[str, float], ...], count: int) -> np.ndarray:
    values, weights = zip(*table, strict=True)
    weights = np.asarray(weights) / np.sum(weights)
    return np.asarray(values, dtype=object)[rng.choice(len(values), count, p=weights)]


def _claim_ids(count: int, rng: np.random.Generator) -> np.ndarray:
    # an odd multiplier is a bijection modulo 2**40: unique, opaque ids with a seed-dependent offset
    offset = np.uint64(rng.integers(1 << 40))
    scrambled = np.arange(count, dtype=np.uint64) * np.uint64(0x9E3779B97) + offset
    return np.char.mod("C%010X", scrambled % np.uint64(1 << 40)).astype(object)


def _draw_claims(
    world: World, service_dates: np.ndarray, rng: np.random.Generator, payers_on: np.ndarray | None = None
) -> pd.DataFrame:
    """Disputed OON claims (contract claim columns) for the given service dates, from the payers the
    provider deals with on ``payers_on`` (default the service dates)."""
    count = len(service_dates)
    payers = world.payers
    states = np.array(list(STATE_WEIGHTS))
    state_p = np.array(list(STATE_WEIGHTS.values())) / sum(STATE_WEIGHTS.values())
    state = rng.choice(len(states), count, p=state_p)
    which, tables = world.payer_weights_on(service_dates if payers_on is None else payers_on)
    draw = rng.random(count)
    payer = np.empty(count, dtype="int64")
    for position, table in enumerate(tables):
        rows = np.flatnonzero(which == position)
        payer[rows] = (draw[rows, None] >= table.cumsum(axis=1)[state[rows]]).sum(axis=1)
    payer = np.minimum(payer, len(payers.ids) - 1)

    weights = np.array([service.weight for service in CATALOGUE])
    service = rng.choice(len(CATALOGUE), count, p=weights / weights.sum())
    catalogue = pd.DataFrame([vars(entry) for entry in CATALOGUE])
    places = catalogue["places"].to_numpy()[service]
    place_count = np.array([len(options) for options in places])
    pick = (rng.random(count) * place_count).astype(int)
    place = np.array([options[i] for options, i in zip(places, pick, strict=True)], dtype=object)
    specialty = catalogue["specialty"].to_numpy()[service]
    units = 1 + (rng.random(count) * catalogue["max_units"].to_numpy()[service]).astype(int)
    cpt = catalogue["cpt_code"].to_numpy()[service]
    modifier = catalogue["modifier"].to_numpy()[service]
    group_names = np.asarray(GROUPS, dtype=object)[world.service_groups(pd.Series(cpt))]
    emergency = np.isin(place, ("23", "41", "42")) | (
        rng.random(count) < catalogue["emergency_share"].to_numpy()[service]
    )

    kinds = payers.kind[payer]
    plan = np.empty(count, dtype=object)
    funding = np.empty(count, dtype=object)
    for kind in np.unique(kinds):
        rows = np.flatnonzero(kinds == kind)
        plan[rows] = np.asarray(PLAN_TYPES, dtype=object)[rng.choice(len(PLAN_TYPES), len(rows), p=PLAN_MIX[kind])]
        funding[rows] = np.asarray(FUNDINGS, dtype=object)[rng.choice(len(FUNDINGS), len(rows), p=FUNDING_MIX[kind])]
    funding[plan == "INDIVIDUAL"] = "fully_insured"

    facility_nsa_rate = np.where(
        np.isin(group_names, list(ANCILLARY_GROUPS)), ANCILLARY_NSA_RATE, OTHER_FACILITY_NSA_RATE
    )
    nsa = np.where(
        emergency,
        group_names != "ground_ambulance",
        np.isin(place, list(FACILITY_PLACES)) & (rng.random(count) < facility_nsa_rate),
    )
    nsa &= funding != "government"  # Medicaid managed care is outside the NSA's IDR

    category = (rng.random(count)[:, None] >= payers.category_mix[payer].cumsum(axis=1)).sum(axis=1)
    category = np.minimum(category, len(CATEGORIES) - 1)
    surgical = np.isin(group_names, ("surgery",))
    # what is on file: a letter of medical necessity mostly after such a denial and for surgery; operative
    # reports and chart notes for surgery and coding disputes; authorizations for scheduled care (an
    # authorization denial usually means there was none)
    letter = rng.random(count) < 0.06 + 0.4 * (category == MEDICAL_NECESSITY) + 0.15 * surgical
    notes = rng.random(count) < 0.45 + 0.2 * surgical + 0.15 * np.isin(category, (BUNDLING, LEVEL_OF_SERVICE))
    prior_authorization = rng.random(count) < np.where(emergency, 0.03, np.where(category == AUTHORIZATION, 0.3, 0.65))
    network_gap = rng.random(count) < np.where(
        np.isin(specialty, list(SCARCE_SPECIALTIES)), SCARCE_NETWORK_GAP_RATE, NETWORK_GAP_RATE
    )

    medicare = reference.medicare_amount(
        pd.Series(cpt), pd.Series(modifier), pd.Series(place), pd.Series(states[state]), pd.Series(units)
    ).to_numpy()
    multiple = np.array([BILLED_MULTIPLE.get(name, ALL_PHYSICIAN_BILLED_MULTIPLE) for name in specialty])
    billed = np.maximum(
        1.0, np.round(medicare * multiple * rng.lognormal(-(BILLED_NOISE_SIGMA**2) / 2, BILLED_NOISE_SIGMA, count))
    )
    group = world.service_groups(pd.Series(cpt))
    qpa = (
        medicare
        * QPA_MULTIPLE[group]
        * payers.qpa_factor[payer]
        * rng.lognormal(-(QPA_NOISE_SIGMA**2) / 2, QPA_NOISE_SIGMA, count)
    )
    disclosed = rng.random(count) < np.where(nsa, payers.qpa_disclosure[payer], NON_NSA_QPA_DISCLOSURE)
    paid = world.standard_rate(payer, group, nsa, medicare, qpa, billed)
    # NSA initial payments sit on the QPA; other payers' pricing tools vary more
    noise_sigma = np.where(nsa, NSA_INITIAL_PAY_NOISE_SIGMA, INITIAL_PAY_NOISE_SIGMA)
    paid = paid * rng.lognormal(-(noise_sigma**2) / 2, noise_sigma)
    paid = np.where(category == LEVEL_OF_SERVICE, DOWNCODED_PAY_SHARE * paid, paid)
    denied = ~np.isin(category, (PRICING, LEVEL_OF_SERVICE))
    initial = np.where(denied, 0.0, np.round(np.minimum(paid, MAX_INITIAL_TO_BILLED * billed), 2))

    payment_lag = np.clip(
        np.rint(rng.gamma(4.0, DAYS_TO_INITIAL_PAYMENT / 4.0, count)), 5, MAX_DAYS_TO_INITIAL_PAYMENT
    ).astype(int)
    return pd.DataFrame(
        {
            "claim_id": _claim_ids(count, rng),
            "payer_id": payers.ids.to_numpy()[payer],
            "plan_type": plan,
            "funding": funding,
            "state": states[state],
            "place_of_service": place,
            "cpt_code": cpt,
            "modifier": modifier,
            "units": units,
            "specialty": specialty,
            "emergency": emergency,
            "nsa_eligible": nsa,
            "network_gap": network_gap,
            "service_date": service_dates,
            "initial_payment_date": service_dates + payment_lag.astype("timedelta64[D]"),
            "billed_amount": billed,
            "initial_allowed_amount": initial,
            "qpa_amount": np.where(disclosed, np.round(qpa, 2), np.nan),
            "carc_codes": _carc_codes(category, initial > 0, rng),
            "has_medical_necessity_letter": letter,
            "has_clinical_notes": notes,
            "prior_authorization": prior_authorization,
        }
    )


def _carc_codes(category: np.ndarray, paid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    count = len(category)
    codes = np.empty(count, dtype=object)
    for position, name in enumerate(CATEGORIES):
        rows = np.flatnonzero(category == position)
        codes[rows] = _pick(rng, CARC_BY_CATEGORY[name], len(rows))
    patient_share = paid & (rng.random(count) < PATIENT_SHARE_RATE)
    share_codes = _pick(rng, PATIENT_SHARE_CODES, int(patient_share.sum()))
    codes[patient_share] = codes[patient_share] + "," + share_codes
    other_payer = rng.random(count) < OTHER_PAYER_RATE
    codes[other_payer] = codes[other_payer] + ",OA-23"
    return codes


# --- Histories ---------------------------------------------------------------------------------------------

#: Services of the last months before ``end`` are not disputed yet: the history's claims are older.
RECENT_SERVICE_DAYS = 120


def simulate_history(
    n_claims: int,
    seed: int = 0,
    world: World | None = None,
    start: date = date(2023, 1, 1),
    end: date = date(2025, 12, 31),
) -> pd.DataFrame:
    """A negotiation history as of ``end``: one row per escalation attempt of ``n_claims`` disputed claims
    serviced from ``start``, in the contract's columns plus ``prior_level`` and the ``truth_`` columns.

    Attempts still open at ``end`` are pending; a few are withdrawn. Same arguments, same table.
    """
    world = world or World()
    rng = np.random.default_rng(seed)
    first_day, last_day = np.datetime64(start, "D"), np.datetime64(end, "D")
    service_span = max(1, int((last_day - first_day).astype(int)) - RECENT_SERVICE_DAYS)
    service_dates = first_day + rng.integers(0, service_span, n_claims).astype("timedelta64[D]")
    claims = _draw_claims(world, service_dates, rng)
    facts = world.claim_facts(claims)
    paid_on = claims["initial_payment_date"].to_numpy().astype("datetime64[D]")
    submitted = np.minimum(paid_on + _first_submission_delay(facts, rng), last_day)
    initial_allowed = claims["initial_allowed_amount"].to_numpy()
    first_level = _choose(_first_level_weights(facts), rng)
    attempts = _walk_the_ladder(world, facts, initial_allowed, first_level, submitted, last_day, rng)
    return _history_table(world, claims, attempts)


def _first_submission_delay(facts: ClaimFacts, rng: np.random.Generator) -> np.ndarray:
    count = len(facts.billed)
    nsa_delay = rng.integers(2, NSA_NEGOTIATION_START_DAYS + 1, count)
    other_delay = np.minimum(np.rint(rng.gamma(2.0, FIRST_SUBMISSION_DAYS / 2.0, count)), INTERNAL_DEADLINE_DAYS)
    return np.where(facts.nsa, nsa_delay, other_delay).astype("timedelta64[D]")


def _walk_the_ladder(
    world: World,
    facts: ClaimFacts,
    initial_allowed: np.ndarray,
    first_level: np.ndarray,
    first_submitted: np.ndarray,
    last_day: np.datetime64,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Every claim's attempts, one escalation round at a time; the arrays of all rounds concatenated."""
    count = len(facts.billed)
    persistence = rng.normal(0.0, PERSISTENCE_SIGMA, count)
    claim = np.arange(count)
    level, prior = first_level, np.zeros(count, dtype="int64")
    allowed = initial_allowed
    submitted = first_submitted
    rounds: list[dict[str, np.ndarray]] = []
    for attempt_number in range(LEGAL):
        if not len(claim):
            break
        claim_facts = facts.take(claim)
        attempt = Attempt(level=level, prior_level=prior, allowed_before=allowed, date=submitted)
        truth = world.evaluate(claim_facts, attempt)
        result = world.draw(truth, claim_facts, attempt, rng)
        resolved = submitted + result["days"].astype("timedelta64[D]")
        withdrawn = rng.random(len(claim)) < WITHDRAW_RATE
        resolved = np.where(withdrawn, submitted + rng.integers(3, 40, len(claim)).astype("timedelta64[D]"), resolved)
        pending = resolved > last_day
        withdrawn &= ~pending
        success = result["success"] & ~withdrawn & ~pending
        final = np.where(success, result["final_allowed_amount"], allowed)
        rounds.append(
            {
                "claim": claim,
                "level": level,
                "prior_level": prior,
                "submitted_date": submitted,
                "resolved_date": np.where(pending, np.datetime64("NaT"), resolved),
                "outcome": np.where(pending, "pending", np.where(withdrawn, "withdrawn", result["outcome"])),
                "final_allowed_amount": np.where(pending, np.nan, final),
                "truth_p_success": truth.p_success,
                "truth_expected_allowed": truth.expected_allowed,
                "truth_expected_days": truth.expected_days,
                "truth_ineligible": result["ineligible"] & (level == EXTERNAL_REVIEW) & ~withdrawn & ~pending,
            }
        )
        next_level = _choose_next(
            level, claim_facts, final, success, attempt_number, persistence[claim], withdrawn | pending, rng
        )
        goes_on = next_level > 0
        next_submitted = _next_submission(resolved, level, next_level, claim_facts, rng)
        goes_on &= next_submitted <= last_day
        claim, prior, allowed = claim[goes_on], level[goes_on], final[goes_on]
        level, submitted = next_level[goes_on], next_submitted[goes_on]
    return {name: np.concatenate([one[name] for one in rounds]) for name in rounds[0]}


def _choose_next(
    level: np.ndarray,
    facts: ClaimFacts,
    allowed: np.ndarray,
    success: np.ndarray,
    attempt_number: int,
    persistence: np.ndarray,
    stopped: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """The next level each claim's team attempts, or 0 when it stops (gives up, is paid enough, or ran out
    of levels)."""
    weights = _next_level_weights(level, facts, allowed)
    can_go_on = ~stopped & (weights.sum(axis=1) > 0)
    next_level = np.where(can_go_on, _choose(np.where(can_go_on[:, None], weights, 1.0), rng), 0)
    dollars = np.maximum(facts.billed - allowed, 1.0)
    logit = (
        CONTINUE_INTERCEPT
        + CONTINUE_PER_LOG_DOLLAR * np.log(dollars / 1000.0)
        + CONTINUE_PER_UNPAID_SHARE * (dollars / facts.billed - 0.5)
        + CONTINUE_PER_ATTEMPT * attempt_number
        + CONTINUE_AFTER_WIN * success
        + CONTINUE_TO_LEGAL * (next_level == LEGAL)
        + persistence
    )
    return np.where(can_go_on & (rng.random(len(level)) < sigmoid(logit)), next_level, 0)


def _next_submission(
    resolved: np.ndarray, level: np.ndarray, next_level: np.ndarray, facts: ClaimFacts, rng: np.random.Generator
) -> np.ndarray:
    count = len(level)
    wait = np.rint(
        rng.gamma(2.0, np.where(next_level == LEGAL, LEGAL_PREPARATION_DAYS, NEXT_SUBMISSION_DAYS) / 2.0, count)
    )
    later = resolved + np.maximum(1, wait).astype("timedelta64[D]")
    idr_window = np.busday_offset(resolved, rng.integers(1, 5, count), roll="forward", busdaycal=business_days())
    after_open_negotiation = facts.nsa & (level == RECONSIDERATION) & (next_level == EXTERNAL_REVIEW)
    return np.where(after_open_negotiation, idr_window, later)


def _history_table(world: World, claims: pd.DataFrame, attempts: dict[str, np.ndarray]) -> pd.DataFrame:
    order = np.lexsort((attempts["submitted_date"], attempts["claim"]))
    rows = claims.iloc[attempts["claim"][order]].reset_index(drop=True)
    level_names = np.asarray(LEVEL_NAMES, dtype=object)
    table = {name: rows[name] for name in CLAIM_COLUMN_NAMES}
    table.update(
        {
            "level": level_names[attempts["level"][order]],
            "submitted_date": attempts["submitted_date"][order],
            "resolved_date": attempts["resolved_date"][order],
            "outcome": attempts["outcome"][order],
            "final_allowed_amount": attempts["final_allowed_amount"][order],
            "prior_level": level_names[attempts["prior_level"][order]],
        }
    )
    table.update({name: attempts[name][order] for name in TRUTH_COLUMNS if name in attempts})
    # which world drew the rows, so that evaluation values policies under the same truth
    table["truth_world"] = pd.Categorical.from_codes(np.zeros(len(order), dtype="int8"), [world.describe()])
    return _typed(pd.DataFrame(table))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """Contract types: text columns as strings, dates as datetime64 dates."""
    for name in table.columns:
        if name.endswith("_date"):
            table[name] = pd.to_datetime(table[name]).astype("datetime64[ns]")
        elif table[name].dtype == object:
            table[name] = table[name].astype("str")
    return table


# --- Worklists --------------------------------------------------------------------------------------------

#: Where worklist claims stand: most were just paid or denied; some are back from a reconsideration or a
#: written appeal (a quarter of those filed the appeal without a reconsideration).
WORKLIST_LEVEL_SHARES = np.array([0.70, 0.22, 0.08])
APPEAL_WITHOUT_RECONSIDERATION = 0.25
#: Days from the last event (initial payment or last resolution) to ``as_of``. Most NSA claims back from
#: a failed open negotiation are still inside the 4-business-day window to start IDR.
DAYS_SINCE_PAYMENT, DAYS_SINCE_RESOLUTION = (3, 90), (3, 60)
IDR_WINDOW_SHARE = 0.6


def simulate_worklist(
    n_claims: int, seed: int = 1, world: World | None = None, as_of: date = date(2026, 1, 15)
) -> pd.DataFrame:
    """Claims awaiting a decision on ``as_of``: the contract's claim columns plus ``current_level``,
    ``current_allowed_amount``, ``current_level_date`` and ``as_of_date`` (no truth columns)."""
    world = world or World()
    rng = np.random.default_rng(seed)
    as_of_day = np.datetime64(as_of, "D")
    # the timeline is drawn on provisional dates, then each claim's is shifted into place before as_of
    provisional = as_of_day - 3650 + rng.integers(0, 7, n_claims).astype("timedelta64[D]")
    claims = _draw_claims(world, provisional, rng, payers_on=np.full(n_claims, as_of_day))
    facts = world.claim_facts(claims)
    current = rng.choice(len(WORKLIST_LEVEL_SHARES), n_claims, p=WORKLIST_LEVEL_SHARES)
    path = _WorklistPath(world, facts, claims, rng)
    first_submission = path.last_event + _first_submission_delay(facts, rng)
    skipped = (current == WRITTEN_APPEAL) & (rng.random(n_claims) < APPEAL_WITHOUT_RECONSIDERATION)
    path.attempt(np.flatnonzero((current >= RECONSIDERATION) & ~skipped), RECONSIDERATION, first_submission)
    wait = np.maximum(1, rng.poisson(NEXT_SUBMISSION_DAYS, n_claims)).astype("timedelta64[D]")
    path.attempt(
        np.flatnonzero(current == WRITTEN_APPEAL),
        WRITTEN_APPEAL,
        np.where(skipped, first_submission, path.last_event + wait),
    )

    low, high = np.where((current == 0)[:, None], DAYS_SINCE_PAYMENT, DAYS_SINCE_RESOLUTION).T
    shift = as_of_day - rng.integers(low, high + 1).astype("timedelta64[D]") - path.last_event
    # an open negotiation that just ran out: as_of falls 1-3 business days after its 30 business days
    in_idr_window = np.flatnonzero(
        path.failed_open_negotiation & (current == RECONSIDERATION) & (rng.random(n_claims) < IDR_WINDOW_SHARE)
    )
    negotiation_end = np.busday_offset(
        as_of_day, -rng.integers(1, 4, len(in_idr_window)), roll="backward", busdaycal=business_days()
    )
    started = np.busday_offset(negotiation_end, -OPEN_NEGOTIATION_BUSINESS_DAYS, busdaycal=business_days())
    shift[in_idr_window] = started - path.level_date[in_idr_window]
    for name in ("service_date", "initial_payment_date"):
        claims[name] = claims[name].to_numpy().astype("datetime64[D]") + shift
    worklist = claims.assign(
        current_level=np.asarray(LEVEL_NAMES, dtype=object)[current],
        current_allowed_amount=path.allowed,
        current_level_date=path.level_date + shift,
        as_of_date=as_of_day,
    )
    return _typed(worklist)


class _WorklistPath:
    """The attempts that brought worklist claims to their current level, drawn from the world's truth."""

    def __init__(self, world: World, facts: ClaimFacts, claims: pd.DataFrame, rng: np.random.Generator):
        count = len(claims)
        self.world, self.facts, self.rng = world, facts, rng
        self.allowed = claims["initial_allowed_amount"].to_numpy().copy()
        self.level = np.zeros(count, dtype="int64")
        self.level_date = np.full(count, np.datetime64("NaT"), dtype="datetime64[D]")
        self.last_event = claims["initial_payment_date"].to_numpy().astype("datetime64[D]")
        self.failed_open_negotiation = np.zeros(count, dtype=bool)

    def attempt(self, rows: np.ndarray, level: int, submitted: np.ndarray) -> None:
        facts = self.facts.take(rows)
        attempt = Attempt(
            level=np.full(len(rows), level),
            prior_level=self.level[rows],
            allowed_before=self.allowed[rows],
            date=submitted[rows],
        )
        result = self.world.draw(self.world.evaluate(facts, attempt), facts, attempt, self.rng)
        self.allowed[rows] = np.where(result["success"], result["final_allowed_amount"], self.allowed[rows])
        self.level[rows] = level
        self.level_date[rows] = submitted[rows]
        self.last_event[rows] = submitted[rows] + result["days"].astype("timedelta64[D]")
        self.failed_open_negotiation[rows] = facts.nsa & (level == RECONSIDERATION) & ~result["success"]
