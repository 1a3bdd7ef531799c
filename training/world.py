"""The simulated world behind the negotiation simulator: payers, the service catalogue, and the truth.

A ``World`` is fixed by its ``world_seed``: which payers exist, how each one behaves (initial pay level,
responsiveness by escalation level, settlement generosity, speed, documentation sensitivity, denial
propensity and mix, strength at Federal IDR) and which services are billed at what markup. Histories are
sampled from a world with a separate seed, so two histories of one world face the same payers.

``World.truth`` is the decision-time truth of one escalation attempt (a claim, the level tried, the
highest level before it, the allowed amount before it and the date it is made): the probability that it
succeeds, the expected final allowed amount given success, and the expected days to resolution.
``training.simulator`` draws every outcome from exactly these numbers (``World.sample_outcomes``), so a
policy can be scored against the world that generated its training data.

Every number that is calibrated to a published figure names its source next to it; the calibration is
checked in ``tests/training/test_simulator_calibration.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache

import holidays
import numpy as np
import pandas as pd

from features import reference
from features.schema import Level, parse_level

# --- Vocabularies -------------------------------------------------------------------------------------

#: Why the payer paid less than billed: the CARC categories of ``features.reference`` that a simulated
#: claim can carry as its primary reason. ``pricing`` is an underpayment (CO-45); ``level_of_service`` a
#: downcoded payment; the others deny the line outright.
CATEGORIES = ("pricing", "bundling", "level_of_service", "medical_necessity", "authorization", "administrative")
DENIED_CATEGORIES = frozenset({"bundling", "medical_necessity", "authorization", "administrative"})
PRICING, BUNDLING, LEVEL_OF_SERVICE, MEDICAL_NECESSITY, AUTHORIZATION, ADMINISTRATIVE = range(len(CATEGORIES))

#: Service groups: the code families of ``features.reference.code_family`` with ambulance split in air
#: and ground (the No Surprises Act covers air ambulances only). They follow the CPT ranges CMS uses for its
#: IDR tables, so the prevailing-offer ratios below apply to them directly.
GROUPS = (
    "em_ed",
    "critical_care",
    "anesthesia",
    "surgery",
    "radiology",
    "pathology",
    "ground_ambulance",
    "air_ambulance",
    "other",
)
AIR_AMBULANCE_CODES = frozenset({"A0430", "A0431", "A0435", "A0436"})

LEVELS = tuple(level.name for level in Level if level > Level.none)
RECONSIDERATION, WRITTEN_APPEAL, PEER_TO_PEER, EXTERNAL_REVIEW, LEGAL = (
    int(level) for level in Level if level > Level.none
)

# --- The service catalogue ------------------------------------------------------------------------------

#: Billed charge as a multiple of Medicare, by specialty. JAMA 2017 (Bai & Anderson, "Variation in the
#: ratio of physician charges to Medicare payments by specialty and region"): 2.5x across all physicians;
#: anesthesiology 5.8x, interventional radiology 4.5x, emergency medicine 4.0x, pathology 4.0x.
#: Specialties without a published figure bill at the all-physician 2.5x, except the three marked.
ALL_PHYSICIAN_BILLED_MULTIPLE = 2.5
BILLED_MULTIPLE = {
    "anesthesiology": 5.8,
    "interventional_radiology": 4.5,
    "emergency_medicine": 4.0,
    "pathology": 4.0,
    # assumed: radiology groups that take OON disputes bill near the other hospital-based specialties
    "diagnostic_radiology": 3.5,
    # assumed: ambulance suppliers are not physicians (not in JAMA 2017); air ambulance charges run
    # several times the Medicare base rate (GAO-19-292: median charges ~$36k-$40k)
    "ambulance": 3.0,
    "air_ambulance": 8.0,
}
#: Spread of one claim's charge around its specialty's multiple (lognormal sigma; mean-preserving).
BILLED_NOISE_SIGMA = 0.35


@dataclass(frozen=True)
class Service:
    cpt_code: str
    modifier: str | None
    specialty: str
    places: tuple[str, ...]  # place-of-service codes, drawn uniformly
    weight: float  # relative frequency among disputed OON claims
    emergency_share: float  # share of claims that are emergencies (at non-ED places of service)
    max_units: int = 1


#: Real CPT/HCPCS codes of the specialties that carry most OON disputes (CMS IDR: ED, radiology,
#: anesthesia, surgery, pathology, critical care, air ambulance). Modifier 26 = professional reading at a
#: facility; POS 23 ED, 21 inpatient, 22 outpatient hospital, 24 ASC, 11 office, 41/42 ambulance.
CATALOGUE: tuple[Service, ...] = (
    Service("99283", None, "emergency_medicine", ("23",), 6.0, 1.0),
    Service("99284", None, "emergency_medicine", ("23",), 10.0, 1.0),
    Service("99285", None, "emergency_medicine", ("23",), 12.0, 1.0),
    Service("99291", None, "emergency_medicine", ("23",), 3.0, 1.0),
    Service("99291", None, "critical_care", ("21",), 2.0, 1.0),
    Service("99292", None, "critical_care", ("21",), 1.0, 1.0, max_units=3),
    Service("00790", None, "anesthesiology", ("21", "22"), 3.0, 0.2),
    Service("00840", None, "anesthesiology", ("21",), 2.5, 0.35),
    Service("01400", None, "anesthesiology", ("22", "24"), 1.5, 0.0),
    Service("01402", None, "anesthesiology", ("21",), 1.5, 0.0),
    Service("00142", None, "anesthesiology", ("24", "22"), 1.5, 0.0),
    Service("01967", None, "anesthesiology", ("21",), 2.5, 0.3),
    Service("00731", None, "anesthesiology", ("22", "24"), 1.5, 0.0),
    Service("00811", None, "anesthesiology", ("24", "22"), 1.0, 0.0),
    Service("70450", "26", "diagnostic_radiology", ("23",), 4.0, 1.0),
    Service("71046", "26", "diagnostic_radiology", ("23", "21"), 2.5, 0.6),
    Service("74177", "26", "diagnostic_radiology", ("23", "21", "22"), 4.0, 0.6),
    Service("71275", "26", "diagnostic_radiology", ("23", "21"), 2.0, 0.7),
    Service("72148", "26", "diagnostic_radiology", ("22", "21"), 1.5, 0.1),
    Service("70553", None, "diagnostic_radiology", ("11",), 1.0, 0.0),
    Service("73721", None, "diagnostic_radiology", ("11",), 1.0, 0.0),
    Service("37243", None, "interventional_radiology", ("21", "22"), 1.0, 0.3),
    Service("36556", None, "interventional_radiology", ("23", "21"), 1.0, 0.6),
    Service("49083", None, "interventional_radiology", ("22", "21"), 1.0, 0.2),
    Service("47562", None, "general_surgery", ("21", "22"), 2.0, 0.3),
    Service("44970", None, "general_surgery", ("21",), 1.5, 0.9),
    Service("49505", None, "general_surgery", ("24", "22"), 1.2, 0.0),
    Service("27447", None, "orthopedic_surgery", ("21", "22"), 1.2, 0.0),
    Service("27130", None, "orthopedic_surgery", ("21",), 0.7, 0.0),
    Service("29881", None, "orthopedic_surgery", ("24", "22"), 1.2, 0.0),
    Service("63030", None, "neurosurgery", ("22", "21"), 1.0, 0.0),
    Service("43239", None, "gastroenterology", ("24", "22"), 1.5, 0.0),
    Service("64483", None, "pain_management", ("24", "11", "22"), 2.0, 0.0),
    Service("62323", None, "pain_management", ("24", "11"), 1.5, 0.0),
    Service("64493", None, "pain_management", ("24", "11"), 1.2, 0.0),
    Service("64635", None, "pain_management", ("24", "11"), 1.0, 0.0),
    Service("63650", None, "pain_management", ("24", "22"), 0.6, 0.0),
    Service("88305", "26", "pathology", ("22", "21"), 3.5, 0.0, max_units=3),
    Service("88307", "26", "pathology", ("21", "22"), 1.2, 0.0),
    Service("88342", "26", "pathology", ("22", "21"), 1.5, 0.0, max_units=2),
    Service("A0427", None, "ambulance", ("41",), 2.0, 1.0),
    Service("A0429", None, "ambulance", ("41",), 1.2, 1.0),
    Service("A0431", None, "air_ambulance", ("42",), 0.8, 1.0),
    Service("A0430", None, "air_ambulance", ("42",), 0.3, 1.0),
)

#: Places where a non-emergency service is still covered by the No Surprises Act when an OON clinician
#: works in an in-network facility (ancillary services cannot be waived by notice and consent).
FACILITY_PLACES = frozenset({"21", "22", "24"})

# --- Service-group economics ---------------------------------------------------------------------------


def _by_group(**values: float) -> np.ndarray:
    return np.array([values[group] for group in GROUPS], dtype="float64")


#: QPA (the payer's median in-network rate) as a multiple of Medicare. Assumed: commercial rates run
#: above Medicare for anesthesia and air ambulance; payers' QPAs for professional readings (radiology,
#: pathology) sit below Medicare, which is what lifts CMS's <$100 band to ~5.5x.
QPA_MULTIPLE = _by_group(
    em_ed=1.25,
    critical_care=1.2,
    anesthesia=1.7,
    surgery=1.1,
    radiology=0.65,
    pathology=0.7,
    ground_ambulance=1.4,
    air_ambulance=2.6,
    other=1.2,
)
#: How a payer's standard OON rate for the group compares with its general multiple of Medicare.
RATE_FACTOR = _by_group(
    em_ed=1.0,
    critical_care=1.0,
    anesthesia=1.3,
    surgery=1.0,
    radiology=1.0,
    pathology=1.0,
    ground_ambulance=1.2,
    air_ambulance=1.5,
    other=1.0,
)
#: Provider offers that prevail at Federal IDR, as multiples of the QPA: CMS Federal IDR supplemental
#: tables, median prevailing offer by specialty, 2024Q4 (ED 3.07, critical care 3.22, anesthesia 3.31,
#: radiology 5.11, surgery 13.02, pathology 4.13); air ambulance 2.24 = median of the CMS air ambulance
#: dispute line items 2023Q1-2024Q2. The award is capped at the billed charge.
IDR_PREVAILING_RATIO = _by_group(
    em_ed=3.07,
    critical_care=3.22,
    anesthesia=3.31,
    surgery=13.02,
    radiology=5.11,
    pathology=4.13,
    ground_ambulance=2.0,
    air_ambulance=2.24,
    other=3.0,
)
#: CMS supplemental tables by QPA band (2024Q4): <$100 5.5x ... >$10k 1.7x. Awards fall with the QPA; the
#: group ratio above applies at the group's typical QPA and moves by this elasticity around it.
IDR_RATIO_QPA_ELASTICITY = -0.15
IDR_TYPICAL_QPA = _by_group(
    em_ed=150,
    critical_care=250,
    anesthesia=500,
    surgery=700,
    radiology=50,
    pathology=40,
    ground_ambulance=700,
    air_ambulance=10_000,
    other=300,
)

# --- Success: logits by denial category x level ---------------------------------------------------------
# Rows follow CATEGORIES, columns the levels reconsideration .. legal. They make success depend on the
# category and the level jointly: missing-information (administrative) denials fold at reconsideration,
# medical-necessity denials turn at peer-to-peer, level-of-service and bundling answer to clinical notes,
# pricing disputes are won at IDR (NSA claims; see the external-review terms) and in court. The appeal
# column is set so that ~44% of simulated written appeals succeed (KFF 2023, ACA marketplace appeals), the
# external column so that ~32-46% of decided state external reviews do (state IRO reports 2019-23).
BASE_LOGIT = np.array(
    [
        # recon  appeal  p2p   external legal
        [-1.3, -1.2, -2.2, -1.1, -0.3],  # pricing
        [-0.8, -0.6, -1.0, 0.0, -1.2],  # bundling
        [-1.0, -0.7, 0.0, 0.1, -1.2],  # level_of_service
        [-1.8, -1.0, 0.4, 0.3, -1.0],  # medical_necessity
        [-0.8, -0.4, -0.6, 0.1, -1.0],  # authorization
        [1.2, 0.2, -1.2, -0.3, -1.4],  # administrative
    ]
)
#: A letter of medical necessity, by category x level: decisive where a clinician or an IRO reads it.
LETTER_LOGIT = np.array(
    [
        [0.0, 0.1, 0.0, 0.1, 0.1],
        [0.0, 0.2, 0.2, 0.2, 0.1],
        [0.1, 0.3, 0.4, 0.3, 0.1],
        [0.2, 1.0, 0.9, 1.1, 0.4],
        [0.1, 0.4, 0.4, 0.3, 0.1],
        [0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)
#: Clinical notes / operative report: they settle bundling and level-of-service disputes, and they are
#: the missing information of many administrative denials.
NOTES_LOGIT = np.array(
    [
        [0.1, 0.2, 0.0, 0.1, 0.1],
        [0.6, 1.0, 0.6, 0.5, 0.2],
        [0.6, 1.0, 0.8, 0.6, 0.2],
        [0.1, 0.4, 0.3, 0.5, 0.1],
        [0.1, 0.2, 0.1, 0.2, 0.0],
        [0.9, 0.5, 0.0, 0.0, 0.0],
    ]
)
#: Authorization denials: an authorization on file, or an emergency (which needs none), wins them.
AUTH_ON_FILE_LOGIT = 1.6
AUTH_EMERGENCY_LOGIT = 1.0
#: Network-gap leverage (no adequate in-network alternative), by level: it moves internal pricing talks.
NETWORK_GAP_LOGIT = np.array([0.7, 0.6, 0.2, 0.3, 0.4])
#: The open negotiation of an NSA claim happens under the threat of IDR: payers settle more of it.
NSA_OPEN_NEGOTIATION_LOGIT = 0.6
#: Dollars at stake (billed - allowed): payers wave small disputes through early and fight big ones.
SMALL_DISPUTE_DOLLARS, SMALL_DISPUTE_LOGIT = 250.0, 0.7
LARGE_DISPUTE_DOLLARS, LARGE_DISPUTE_LOGIT = 15_000.0, -0.6
DISPUTE_SIZE_SOFTNESS = 0.45  # width of both transitions, in log dollars
#: Stale claims (beyond ~6 months since service) lose ground at internal levels: filing limits, memory.
STALE_AFTER_YEARS, STALE_LOGIT_PER_YEAR = 0.5, -0.6
#: Legal: ERISA preempts state-law claims of self-funded plans; courts expect appeals to be exhausted.
LEGAL_SELF_FUNDED_LOGIT = -0.5
LEGAL_UNEXHAUSTED_LOGIT = -0.8
LEGAL_AFTER_EXTERNAL_LOSS_LOGIT = -0.4

# --- External review: eligibility and decisions --------------------------------------------------------
#: Federal IDR (NSA claims). CMS IDR 2023Q1-2024Q4: 17-29% of closed disputes found ineligible; IDR decides
#: payment amounts, not coverage denials; a dispute filed after internal appeals missed its 4-business-day
#: window after the open negotiation.
IDR_ELIGIBLE_LOGIT = 1.9
IDR_DENIAL_LOGIT = -2.8
IDR_LATE_LOGIT = -1.0
#: Provider-prevails adjustments around the payer's own IDR win rate.
IDR_NOTES_LOGIT = 0.2
IDR_LARGE_DISPUTE_LOGIT = -0.3
#: State external review (non-NSA claims): state IRO reports, a 4-state 2019-23 study: 32-46% overturned.
#: Self-funded ERISA plans escape state external review (many cases are turned away).
STATE_REVIEW_ELIGIBLE_LOGIT = 2.2
STATE_REVIEW_SELF_FUNDED_LOGIT = -1.6

# --- Settlement ------------------------------------------------------------------------------------------
#: Share of the remaining gap to billed that a success recovers beyond the payer's standard rate, by level.
#: Seed article 004: payers counter OON asks at 110-150% of Medicare; providers ask 80-90% of billed in
#: single-case agreements, a figure only litigation approaches.
GAP_SHARE = np.array([0.08, 0.15, 0.12, 0.25, 0.55])
#: The open negotiation of an NSA claim settles between the QPA and the expected IDR award.
NSA_OPEN_NEGOTIATION_GAP_SHARE = 0.25
#: Beta concentration of the recovered share around its mean: partial wins vary from claim to claim.
SETTLEMENT_CONCENTRATION = 6.0
MIN_RECOVERED_SHARE, MAX_RECOVERED_SHARE = 0.01, 0.97

# --- Days to resolution ----------------------------------------------------------------------------------
#: Expected calendar days by level: reconsideration takes weeks, written appeals 30-60 days, peer-to-peer
#: is scheduled within two weeks, state external review decides within 45 days, Federal IDR ~30 business
#: days after selection (CMS air ambulance dispute line items 2023-24: median 58 days), courts take months.
BASE_DAYS = np.array([21.0, 45.0, 12.0, 45.0, 240.0])
IDR_DAYS = 55.0
#: The NSA open negotiation runs 30 business days unless the payer settles before.
OPEN_NEGOTIATION_BUSINESS_DAYS = 30
OPEN_NEGOTIATION_SETTLED_SHARE = 0.6
#: Payers concede faster than they refuse; big disputes take longer.
DAYS_IF_SUCCESS, DAYS_IF_FAILURE = 0.85, 1.1
LARGE_DISPUTE_EXTRA_DAYS = 0.25
#: Gamma shape of days around their mean (the spread of resolution times).
DAYS_SHAPE = 3.0

#: Standard payer rates never reach billed: an underpaid claim always leaves something to dispute.
MAX_RATE_TO_BILLED = 0.95

# --- Payers --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayerSpec:
    payer_id: str
    kind: str  # commercial, blue, repricer, public (Medicaid/marketplace), integrated
    weight: float  # relative share of disputes where the payer operates
    home_states: tuple[str, ...] = ()  # empty = nationwide
    idr_provider_win: float | None = None  # observed provider win rate at Federal IDR, when known


#: Payers and their footprint. Weights: CMS IDR top non-initiating parties 2023-24 (UnitedHealthcare a
#: third of disputes; Aetna, MultiPlan, Anthem, BCBS Tennessee next) and each Blue's dominance at home.
#: ``idr_provider_win``: provider-prevails share of the CMS air ambulance dispute line items 2023Q1-2024Q4
#: per carrier group (Kaiser 66% ... Independence 99%): "win rates differ by payer (59% to 98%)".
PAYER_SPECS: tuple[PayerSpec, ...] = (
    PayerSpec("UNITEDHEALTHCARE", "commercial", 30.0, idr_provider_win=0.80),
    PayerSpec("AETNA", "commercial", 12.0, idr_provider_win=0.90),
    PayerSpec("CIGNA", "commercial", 8.0, idr_provider_win=0.81),
    PayerSpec("HUMANA", "commercial", 3.0),
    PayerSpec("CENTENE", "public", 4.0, idr_provider_win=0.96),
    PayerSpec("MOLINA", "public", 2.5),
    PayerSpec("OSCAR", "public", 1.5),
    PayerSpec("MULTIPLAN", "repricer", 9.0, idr_provider_win=0.79),
    PayerSpec("ZELIS", "repricer", 3.5, idr_provider_win=0.89),
    PayerSpec("CLEARHEALTH_STRATEGIES", "repricer", 4.0, idr_provider_win=0.75),
    PayerSpec(
        "KAISER", "integrated", 12.0, ("CA", "CO", "GA", "MD", "VA", "DC", "WA", "OR", "HI"), idr_provider_win=0.66
    ),
    PayerSpec(
        "ANTHEM",
        "blue",
        22.0,
        ("CA", "CO", "CT", "GA", "IN", "KY", "ME", "MO", "NV", "NH", "NY", "OH", "VA", "WI"),
        idr_provider_win=0.84,
    ),
    PayerSpec("BCBS_TX", "blue", 22.0, ("TX",), idr_provider_win=0.89),
    PayerSpec("BCBS_IL", "blue", 30.0, ("IL",), idr_provider_win=0.94),
    PayerSpec("BCBS_TN", "blue", 35.0, ("TN",), idr_provider_win=0.76),
    PayerSpec("BCBS_AZ", "blue", 25.0, ("AZ",), idr_provider_win=0.86),
    PayerSpec("BCBS_MI", "blue", 35.0, ("MI",), idr_provider_win=0.99),
    PayerSpec("BCBS_NC", "blue", 30.0, ("NC",), idr_provider_win=0.87),
    PayerSpec("BCBS_SC", "blue", 30.0, ("SC",)),
    PayerSpec("BCBS_AL", "blue", 40.0, ("AL",)),
    PayerSpec("BCBS_LA", "blue", 35.0, ("LA",)),
    PayerSpec("BCBS_MA", "blue", 30.0, ("MA",)),
    PayerSpec("FLORIDA_BLUE", "blue", 25.0, ("FL",), idr_provider_win=0.92),
    PayerSpec("INDEPENDENCE_BLUE_CROSS", "blue", 15.0, ("PA",), idr_provider_win=0.99),
    PayerSpec("HIGHMARK", "blue", 18.0, ("PA", "WV", "DE", "NY")),
    PayerSpec("HORIZON_BCBS_NJ", "blue", 30.0, ("NJ",)),
    PayerSpec("PREMERA", "blue", 25.0, ("WA", "AK"), idr_provider_win=0.66),
    PayerSpec("REGENCE", "blue", 20.0, ("OR", "WA", "ID", "UT"), idr_provider_win=0.89),
    PayerSpec("WELLMARK", "blue", 35.0, ("IA", "SD")),
    PayerSpec("EXCELLUS", "blue", 10.0, ("NY",)),
    PayerSpec("CARESOURCE", "public", 6.0, ("OH", "IN", "KY", "GA", "WV")),
    PayerSpec("EMBLEMHEALTH", "commercial", 10.0, ("NY",)),
    PayerSpec("HEALTHPARTNERS", "commercial", 15.0, ("MN",)),
    PayerSpec("MEDICA", "commercial", 10.0, ("MN", "NE", "IA", "WI")),
    PayerSpec("PRIORITY_HEALTH", "commercial", 8.0, ("MI",)),
    PayerSpec("GEISINGER", "integrated", 5.0, ("PA",)),
)
#: A regional payer still sees claims from members treated away from home (BlueCard and travellers).
AWAY_FROM_HOME_WEIGHT = 0.002

#: Where the disputed services are rendered: CMS Federal IDR initiations by state 2023-24 (Texas a third,
#: then Florida, Arizona, New Jersey, Tennessee, Georgia), blended with population so that every regional
#: payer's home market appears.
STATE_WEIGHTS = {
    "TX": 20.0, "FL": 9.0, "AZ": 6.0, "NJ": 5.0, "TN": 5.0, "GA": 5.0, "NY": 5.0, "CA": 4.0, "VA": 3.0,
    "IL": 3.0, "PA": 3.0, "MO": 2.5, "OH": 2.5, "NC": 2.5, "MI": 2.5, "IN": 2.0, "WA": 2.0, "MA": 2.0,
    "NV": 1.5, "LA": 1.5, "OK": 1.5, "SC": 1.5, "CO": 1.5, "AL": 1.0, "AR": 1.0, "KY": 1.0, "MD": 1.0,
    "MN": 1.0, "OR": 1.0, "MS": 0.8, "IA": 0.8, "NM": 0.6, "WI": 0.6, "UT": 0.6, "KS": 0.5, "CT": 0.5,
    "WV": 0.4, "ID": 0.3, "NE": 0.3, "DE": 0.2, "SD": 0.2, "AK": 0.2, "DC": 0.2, "HI": 0.2, "ME": 0.2,
    "NH": 0.2,
}  # fmt: skip

#: Plan type and funding mixes by payer kind. KFF Employer Health Benefits 2023: ~60-65% of covered
#: workers are in self-funded plans; government (Medicaid managed care) is a small share of OON disputes;
#: CMS IDR plan types 2023: self-insured group plans ~70% of disputes with a known plan type.
PLAN_TYPES = ("PPO", "HMO", "EPO", "POS", "HDHP", "INDIVIDUAL", "OTHER", "UNKNOWN")
FUNDINGS = ("fully_insured", "self_funded", "government", "unknown")
PLAN_MIX = {
    "commercial": (0.42, 0.14, 0.12, 0.08, 0.15, 0.06, 0.02, 0.01),
    "blue": (0.45, 0.15, 0.10, 0.06, 0.14, 0.07, 0.02, 0.01),
    "repricer": (0.35, 0.0, 0.05, 0.05, 0.10, 0.0, 0.15, 0.30),
    "public": (0.05, 0.35, 0.10, 0.0, 0.0, 0.45, 0.05, 0.0),
    "integrated": (0.08, 0.75, 0.05, 0.02, 0.08, 0.02, 0.0, 0.0),
}
FUNDING_MIX = {  # for group (employer) plans; individual plans are fully insured
    "commercial": (0.36, 0.60, 0.02, 0.02),
    "blue": (0.42, 0.54, 0.02, 0.02),
    "repricer": (0.0, 0.88, 0.0, 0.12),
    "public": (0.45, 0.05, 0.48, 0.02),
    "integrated": (0.55, 0.42, 0.02, 0.01),
}

#: Market mix of the primary reason a disputed OON claim was cut (CATEGORIES order): about 30% of the
#: worklist is denied outright (initial allowed 0), the rest underpaid or downcoded.
MARKET_CATEGORY_MIX = np.array([0.60, 0.06, 0.10, 0.10, 0.06, 0.08])
#: Initial payment as a multiple of Medicare (before RATE_FACTOR), by payer kind (seed 004: 110-150%).
PAY_MULTIPLE_RANGE = {
    "commercial": (1.2, 1.55),
    "blue": (1.3, 1.75),
    "repricer": (0.95, 1.25),
    "public": (1.0, 1.3),
    "integrated": (1.25, 1.5),
}
#: Market provider-prevails rate at IDR for payers without an observed one: CMS 2023Q1-2024Q4, 80-84%.
MARKET_IDR_PROVIDER_WIN = 0.82
#: CMS IDR: payers disclose the QPA on most NSA remittances; recoup's users see it ~85% of the time.
MARKET_QPA_DISCLOSURE = 0.85


@dataclass(frozen=True)
class PayerBehaviour:
    """Persistent behaviours, one array entry per payer plus a trailing market-average payer.

    Unknown payers are looked up at position -1 and so behave like the market.
    """

    ids: pd.Index
    kind: np.ndarray
    pay_multiple: np.ndarray  # standard OON rate / Medicare
    nsa_pay_ratio: np.ndarray  # initial payment / QPA on NSA claims
    qpa_factor: np.ndarray  # the payer's QPA / the market's
    qpa_disclosure: np.ndarray
    denial_propensity: np.ndarray
    category_mix: np.ndarray  # (payers + 1, categories)
    level_logit: np.ndarray  # (payers + 1, levels): responsiveness by level (not at Federal IDR)
    generosity: np.ndarray  # multiplies GAP_SHARE
    speed: np.ndarray  # multiplies days
    doc_sensitivity: np.ndarray  # multiplies documentation effects
    stubbornness: np.ndarray  # logit lost per earlier internal level the payer already refused
    idr_win_logit: np.ndarray  # logit of the provider-prevails rate at Federal IDR

    def frame(self) -> pd.DataFrame:
        """One row per payer (without the market row): the behaviours as a table for reports."""
        named = slice(0, len(self.ids))
        table = pd.DataFrame(
            {
                "kind": self.kind[named],
                "pay_multiple": self.pay_multiple[named],
                "nsa_pay_ratio": self.nsa_pay_ratio[named],
                "qpa_factor": self.qpa_factor[named],
                "qpa_disclosure": self.qpa_disclosure[named],
                "denial_propensity": self.denial_propensity[named],
                "generosity": self.generosity[named],
                "speed": self.speed[named],
                "doc_sensitivity": self.doc_sensitivity[named],
                "stubbornness": self.stubbornness[named],
                "idr_provider_win": sigmoid(self.idr_win_logit[named]),
            },
            index=self.ids,
        )
        for position, level in enumerate(LEVELS):
            table[f"{level}_logit"] = self.level_logit[named, position]
        return table


@cache
def business_days() -> np.busdaycalendar:
    """US business days (weekends and federal holidays off), as ``models.ladder`` counts NSA deadlines."""
    return np.busdaycalendar(holidays=sorted(holidays.US(years=range(2015, 2036))))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray | float) -> np.ndarray:
    return np.log(p) - np.log1p(-np.asarray(p))


def _with_market_row(values: np.ndarray) -> np.ndarray:
    return np.concatenate([values, values.mean(axis=0, keepdims=True)])


def _draw_payers(rng: np.random.Generator) -> PayerBehaviour:
    count = len(PAYER_SPECS)
    kinds = np.array([spec.kind for spec in PAYER_SPECS])
    low, high = (np.array([PAY_MULTIPLE_RANGE[kind][i] for kind in kinds]) for i in (0, 1))
    repricer = kinds == "repricer"
    public = kinds == "public"
    denial_propensity = rng.lognormal(0.0, 0.35, count) * np.where(public, 1.3, 1.0)
    category_mix = rng.dirichlet(60 * MARKET_CATEGORY_MIX, count)
    denied = np.array([category in DENIED_CATEGORIES for category in CATEGORIES])
    category_mix[:, denied] *= denial_propensity[:, None]
    category_mix /= category_mix.sum(axis=1, keepdims=True)
    observed_win = np.array([spec.idr_provider_win or np.nan for spec in PAYER_SPECS])
    drawn_win = rng.beta(MARKET_IDR_PROVIDER_WIN * 30, (1 - MARKET_IDR_PROVIDER_WIN) * 30, count)
    # the observed rates anchor each named payer; the world seed nudges them so worlds differ
    idr_win_logit = _logit(np.where(np.isnan(observed_win), drawn_win, observed_win)) + rng.normal(0, 0.15, count)
    return PayerBehaviour(
        ids=pd.Index([spec.payer_id for spec in PAYER_SPECS], dtype="str"),
        kind=np.append(kinds, "market"),
        pay_multiple=_with_market_row(rng.uniform(low, high)),
        nsa_pay_ratio=_with_market_row(rng.uniform(0.85, 1.0, count)),
        qpa_factor=_with_market_row(rng.lognormal(0.0, 0.12, count)),
        qpa_disclosure=_with_market_row(rng.beta(MARKET_QPA_DISCLOSURE * 40, (1 - MARKET_QPA_DISCLOSURE) * 40, count)),
        denial_propensity=_with_market_row(denial_propensity),
        category_mix=_with_market_row(category_mix),
        level_logit=_with_market_row(rng.normal(0.0, 0.3, (count, 1)) + rng.normal(0.0, 0.4, (count, 5))),
        generosity=_with_market_row(rng.lognormal(0.0, 0.25, count) * np.where(repricer, 0.8, 1.0)),
        speed=_with_market_row(rng.lognormal(0.0, 0.3, count)),
        doc_sensitivity=_with_market_row(rng.lognormal(0.0, 0.35, count)),
        stubbornness=_with_market_row(rng.uniform(0.1, 0.5, count)),
        idr_win_logit=_with_market_row(idr_win_logit),
    )


def _payer_state_weights(payers: pd.Index) -> pd.DataFrame:
    """P(payer | state): each payer's weight where it operates, normalised per state (states x payers)."""
    states = list(STATE_WEIGHTS)
    weights = np.empty((len(states), len(payers)))
    for column, spec in enumerate(PAYER_SPECS):
        home = np.array([not spec.home_states or state in spec.home_states for state in states])
        weights[:, column] = spec.weight * np.where(home, 1.0, AWAY_FROM_HOME_WEIGHT)
    weights /= weights.sum(axis=1, keepdims=True)
    return pd.DataFrame(weights, index=states, columns=payers)


# --- Claim facts and attempts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimFacts:
    """What the truth needs of each row's claim, as aligned numpy arrays."""

    payer: np.ndarray  # position in the world's payers; -1 = unknown (market behaviour)
    group: np.ndarray
    category: np.ndarray
    nsa: np.ndarray
    emergency: np.ndarray
    self_funded: np.ndarray
    network_gap: np.ndarray
    letter: np.ndarray
    notes: np.ndarray
    prior_authorization: np.ndarray
    billed: np.ndarray
    qpa: np.ndarray  # the disclosed QPA, else the payer's QPA the world knows
    medicare: np.ndarray  # NaN-free: billed / 2.5 when the code has no Medicare price
    service_date: np.ndarray  # datetime64[D]

    def take(self, rows: np.ndarray) -> ClaimFacts:
        return ClaimFacts(**{name: getattr(self, name)[rows] for name in self.__dataclass_fields__})


@dataclass(frozen=True)
class Attempt:
    """One escalation attempt per row: the level tried, the level before it, the money, the date."""

    level: np.ndarray  # 1..5
    prior_level: np.ndarray  # 0..4
    allowed_before: np.ndarray
    date: np.ndarray  # datetime64[D]


@dataclass(frozen=True)
class Truth:
    """The world's answer for a batch of attempts; ``p_success = p_eligible x p_win``."""

    p_eligible: np.ndarray  # 1 except at external review, which can turn a dispute away
    p_win: np.ndarray
    recovered_share: np.ndarray  # mean share of (billed - allowed_before) recovered on success
    days_if_success: np.ndarray
    days_if_failure: np.ndarray
    allowed_before: np.ndarray
    billed: np.ndarray

    @property
    def p_success(self) -> np.ndarray:
        return self.p_eligible * self.p_win

    @property
    def expected_allowed(self) -> np.ndarray:
        return self.allowed_before + self.recovered_share * (self.billed - self.allowed_before)

    @property
    def expected_days(self) -> np.ndarray:
        p = self.p_success
        return p * self.days_if_success + (1 - p) * self.days_if_failure


def _flag(frame: pd.DataFrame, column: str, default: np.ndarray | bool) -> np.ndarray:
    """A bool column, with the contract's default where it is absent or blank."""
    fallback = pd.Series(default, index=frame.index)
    values = frame[column].where(frame[column].notna(), fallback) if column in frame else fallback
    return values.astype(bool).to_numpy()


def _dates(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values).to_numpy().astype("datetime64[D]")


def _levels(values: pd.Series) -> np.ndarray:
    codes, distinct = pd.factorize(values)
    parsed = np.array([int(parse_level(value)) if parse_level(value) is not None else -1 for value in distinct] + [-1])
    levels = parsed[codes]
    if (levels < 0).any():
        raise ValueError(f"unrecognised level in {values.name!r}: {values[levels < 0].iloc[0]!r}")
    return levels


def _first_present(frame: pd.DataFrame, *columns: str) -> pd.Series:
    for column in columns:
        if column in frame:
            return frame[column]
    raise KeyError(f"the frame needs one of the columns {', '.join(columns)}")


# --- Drift: payers that change their behaviour, payers new to the provider ------------------------------

_DRIFT_ITEM = re.compile(r"^(?P<payer>[^:@]+):(?P<what>[^@]+)@(?P<date>.*)$")


class DriftSpecError(ValueError):
    """A drift spec that does not follow ``Drift.parse``'s grammar; the message names the item and the rule."""


@dataclass(frozen=True)
class BehaviourChange:
    """From ``start`` on, the payer's odds of success at ``level`` (None = every level) times ``odds_factor``."""

    payer_id: str
    level: int | None
    odds_factor: float
    start: date

    def __str__(self) -> str:
        level = "all" if self.level is None else Level(self.level).name
        return f"{self.payer_id}:{level}:{self.odds_factor:g}@{self.start.isoformat()}"


@dataclass(frozen=True)
class PayerEntry:
    """The payer has no claims serviced before ``start``: it is new to the provider from then on."""

    payer_id: str
    start: date

    def __str__(self) -> str:
        return f"{self.payer_id}:new@{self.start.isoformat()}"


@dataclass(frozen=True)
class Drift:
    """How a world departs from its persistent payer behaviours over time.

    As text (``parse``, ``str``): comma-separated items, each ``PAYER:LEVEL:FACTOR@DATE`` (a
    ``BehaviourChange``: LEVEL a level name, 1-5 or ``all``; FACTOR a positive odds multiplier, below 1 =
    tougher) or ``PAYER:new@DATE`` (a ``PayerEntry``). Several changes of one payer compound.
    """

    changes: tuple[BehaviourChange, ...] = ()
    entries: tuple[PayerEntry, ...] = ()

    def __str__(self) -> str:
        return ",".join(str(item) for item in (*self.changes, *self.entries))

    def __bool__(self) -> bool:
        return bool(self.changes or self.entries)

    @property
    def payer_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(item.payer_id for item in (*self.changes, *self.entries)))

    @classmethod
    def parse(cls, spec: str) -> Drift:
        """The drift a spec describes; a ``DriftSpecError`` naming the item, the value and the rule if bad."""
        changes, entries = [], []
        items = [item.strip() for item in spec.split(",")]
        if spec.strip() == "":
            return cls()
        for number, item in enumerate(items, start=1):
            where = f"drift item {number} {item!r}"
            match = _DRIFT_ITEM.match(item)
            if not match:
                raise DriftSpecError(f"{where}: expected PAYER:LEVEL:FACTOR@DATE or PAYER:new@DATE")
            payer = match["payer"].strip().upper()
            start = _spec_date(match["date"].strip(), where)
            what = match["what"].strip()
            if what.lower() == "new":
                if payer in {entry.payer_id for entry in entries}:
                    raise DriftSpecError(f"{where}: payer {payer} is already new from another date")
                entries.append(PayerEntry(payer, start))
                continue
            level_text, _, factor_text = what.rpartition(":")
            if not level_text:
                raise DriftSpecError(f"{where}: expected PAYER:LEVEL:FACTOR@DATE or PAYER:new@DATE")
            changes.append(
                BehaviourChange(payer, _spec_level(level_text, where), _spec_factor(factor_text, where), start)
            )
        return cls(tuple(changes), tuple(entries))


def _spec_date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DriftSpecError(f"{where}: date {text!r} is not an ISO date (YYYY-MM-DD)") from None


def _spec_level(text: str, where: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    level = parse_level(text.strip())
    if level is None or level <= Level.none:
        names = ", ".join(LEVELS)
        raise DriftSpecError(f"{where}: level {text!r} is not one of {names}, all (or 1-5)")
    return int(level)


def _spec_factor(text: str, where: str) -> float:
    try:
        factor = float(text)
    except ValueError:
        factor = float("nan")
    if not (np.isfinite(factor) and factor > 0):
        raise DriftSpecError(f"{where}: factor {text!r} must be a positive number (the odds multiplier)")
    return factor


# --- The world -------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class World:
    """Payers, services and the truth of every escalation attempt, fixed by ``world_seed`` and ``drift``."""

    world_seed: int = 2026
    drift: Drift = Drift()
    payers: PayerBehaviour = field(init=False, repr=False)
    payer_state_weights: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        payers = _draw_payers(np.random.default_rng(self.world_seed))
        object.__setattr__(self, "payers", payers)
        object.__setattr__(self, "payer_state_weights", _payer_state_weights(payers.ids))
        unknown = [payer for payer in self.drift.payer_ids if payer not in payers.ids]
        if unknown:
            raise DriftSpecError(
                f"drift names payer {unknown[0]}, which this world does not have; its payers: {', '.join(payers.ids)}"
            )

    def describe(self) -> str:
        """The world in one line (``World.described`` reads it back): the seed, then the drift if any."""
        return f"{self.world_seed} {self.drift}".strip()

    @classmethod
    def described(cls, text: str) -> World:
        seed, _, drift = str(text).strip().partition(" ")
        return cls(int(seed), Drift.parse(drift))

    def payer_weights_on(self, dates: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """P(payer | state) in force on each date, as (table per row, tables of states x payers): a payer
        new to the provider weighs nothing before its date (``PayerEntry``)."""
        starts = {entry.payer_id: np.datetime64(entry.start, "D") for entry in self.drift.entries}
        epochs = np.unique(list(starts.values())).astype("datetime64[D]")
        which = np.searchsorted(epochs, np.asarray(dates).astype("datetime64[D]"), side="right")
        base = self.payer_state_weights.to_numpy()
        tables = []
        for passed in range(len(epochs) + 1):  # how many of the entry dates have passed
            entered = [
                payer not in starts or (passed > 0 and starts[payer] <= epochs[passed - 1]) for payer in self.payers.ids
            ]
            weights = base * np.array(entered)
            totals = weights.sum(axis=1, keepdims=True)
            if (totals <= 0).any():
                raise DriftSpecError("drift leaves a state with no payer at all: not every payer can be new")
            tables.append(weights / totals)
        return which, tables

    def odds_shift(self, payer: np.ndarray, level: np.ndarray, on: np.ndarray) -> np.ndarray:
        """The log odds ``BehaviourChange``s add to each attempt of ``payer`` at ``level`` made ``on``."""
        shift = np.zeros(len(payer))
        for change in self.drift.changes:
            hit = (payer == self.payers.ids.get_loc(change.payer_id)) & (on >= np.datetime64(change.start, "D"))
            if change.level is not None:
                hit &= level == change.level
            shift += np.log(change.odds_factor) * hit
        return shift

    # -- reading frames

    def claim_facts(self, frame: pd.DataFrame) -> ClaimFacts:
        """The claim columns of ``frame`` (contract names; defaults as in the contract) as truth inputs."""
        index = frame.index
        payer = self.payers.ids.get_indexer(frame["payer_id"].astype("str").str.strip().str.upper())
        units = frame.get("units")
        modifier = frame["modifier"] if "modifier" in frame else pd.Series(None, index=index, dtype="str")
        medicare = reference.medicare_amount(
            frame["cpt_code"], modifier, frame["place_of_service"], frame["state"], units
        ).to_numpy()
        billed = frame["billed_amount"].to_numpy(dtype="float64")
        medicare = np.where(np.isfinite(medicare) & (medicare > 0), medicare, billed / ALL_PHYSICIAN_BILLED_MULTIPLE)
        group = self.service_groups(frame["cpt_code"])
        emergency = _flag(frame, "emergency", False)
        nsa = _flag(frame, "nsa_eligible", emergency)
        carc = frame["carc_codes"] if "carc_codes" in frame else pd.Series(None, index=index, dtype="str")
        initial = frame["initial_allowed_amount"].to_numpy(dtype="float64")
        category = self._categories(carc, denied=initial <= 0)
        disclosed = (
            frame["qpa_amount"].to_numpy(dtype="float64", na_value=np.nan)
            if "qpa_amount" in frame
            else np.full(len(frame), np.nan)
        )
        payer_qpa = medicare * QPA_MULTIPLE[group] * self.payers.qpa_factor[payer]
        funding = frame["funding"].astype("str") if "funding" in frame else pd.Series("", index=index)
        return ClaimFacts(
            payer=payer,
            group=group,
            category=category,
            nsa=nsa,
            emergency=emergency,
            self_funded=(funding == "self_funded").to_numpy(),
            network_gap=_flag(frame, "network_gap", False),
            letter=_flag(frame, "has_medical_necessity_letter", False),
            notes=_flag(frame, "has_clinical_notes", False),
            prior_authorization=_flag(frame, "prior_authorization", False),
            billed=billed,
            qpa=np.where(np.isfinite(disclosed), disclosed, payer_qpa),
            medicare=medicare,
            service_date=_dates(frame["service_date"]),
        )

    @staticmethod
    def service_groups(cpt_code: pd.Series) -> np.ndarray:
        family = reference.code_family(cpt_code).to_numpy(dtype=object)
        air = cpt_code.astype("str").str.strip().str.upper().isin(AIR_AMBULANCE_CODES).to_numpy()
        family = np.where(family == "ambulance", np.where(air, "air_ambulance", "ground_ambulance"), family)
        positions = pd.Index(GROUPS).get_indexer(family)
        return np.where(positions >= 0, positions, GROUPS.index("other"))

    @staticmethod
    def _categories(carc_codes: pd.Series, denied: np.ndarray) -> np.ndarray:
        """The claim's category; claims whose codes name none are pricing disputes, or administrative
        denials when nothing was paid."""
        positions = pd.Index(CATEGORIES).get_indexer(reference.denial_category(carc_codes).to_numpy())
        fallback = np.where(denied, ADMINISTRATIVE, PRICING)
        return np.where(positions >= 0, positions, fallback)

    @staticmethod
    def attempts(frame: pd.DataFrame) -> Attempt:
        """The attempt columns of ``frame``. Scoring frames may give ``current_level`` for ``prior_level``
        and ``current_allowed_amount`` for ``allowed_before``; the date is ``attempt_date``,
        ``submitted_date`` or ``as_of_date``, the first present."""
        return Attempt(
            level=_levels(frame["level"]),
            prior_level=_levels(_first_present(frame, "prior_level", "current_level")),
            allowed_before=_first_present(frame, "allowed_before", "current_allowed_amount").to_numpy(dtype="float64"),
            date=_dates(_first_present(frame, "attempt_date", "submitted_date", "as_of_date")),
        )

    # -- the truth

    def truth(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``p_success``, ``expected_allowed`` (E[final allowed | success], dollars) and ``expected_days``
        (E[days to resolution]) of each attempt row of ``frame``: typed contract rows (as validated) plus
        the attempt columns of ``attempts``."""
        truth = self.evaluate(self.claim_facts(frame), self.attempts(frame))
        return pd.DataFrame(
            {
                "p_success": truth.p_success,
                "expected_allowed": truth.expected_allowed,
                "expected_days": truth.expected_days,
            },
            index=frame.index,
        )

    def sample_outcomes(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """One draw of each attempt's result: ``success``, ``outcome``, ``final_allowed_amount``, ``days``
        and ``ineligible`` (turned away by external review)."""
        facts, attempts = self.claim_facts(frame), self.attempts(frame)
        drawn = self.draw(self.evaluate(facts, attempts), facts, attempts, rng)
        return pd.DataFrame(drawn, index=frame.index)

    def evaluate(self, facts: ClaimFacts, attempts: Attempt) -> Truth:
        """The truth of each attempt, on arrays aligned with ``facts`` and ``attempts``."""
        level = attempts.level - 1  # column of the per-level tables
        allowed = attempts.allowed_before
        payer = self.payers
        at_stake = np.maximum(facts.billed - allowed, 0.0)
        small = sigmoid((np.log(SMALL_DISPUTE_DOLLARS) - np.log1p(at_stake)) / DISPUTE_SIZE_SOFTNESS)
        large = sigmoid((np.log1p(at_stake) - np.log(LARGE_DISPUTE_DOLLARS)) / DISPUTE_SIZE_SOFTNESS)
        years = (attempts.date - facts.service_date).astype("float64") / 365.25
        internal = attempts.level <= PEER_TO_PEER
        external = attempts.level == EXTERNAL_REVIEW
        legal = attempts.level == LEGAL
        idr = external & facts.nsa
        open_negotiation = facts.nsa & (attempts.level == RECONSIDERATION)
        cat = facts.category
        documents = payer.doc_sensitivity[facts.payer] * (
            facts.letter * LETTER_LOGIT[cat, level] + facts.notes * NOTES_LOGIT[cat, level]
        )

        logit = (
            BASE_LOGIT[cat, level]
            + payer.level_logit[facts.payer, level]
            + documents
            + (cat == AUTHORIZATION)
            * (AUTH_ON_FILE_LOGIT * facts.prior_authorization + AUTH_EMERGENCY_LOGIT * facts.emergency)
            + facts.network_gap * NETWORK_GAP_LOGIT[level] * (cat == PRICING)
            + NSA_OPEN_NEGOTIATION_LOGIT * (open_negotiation & (cat == PRICING))
            + SMALL_DISPUTE_LOGIT * small * (attempts.level <= WRITTEN_APPEAL)
            + LARGE_DISPUTE_LOGIT * large * (attempts.level >= WRITTEN_APPEAL)
            + STALE_LOGIT_PER_YEAR * np.clip(years - STALE_AFTER_YEARS, 0, 2) * internal
            # a payer that already refused at an internal level is harder at the next one
            - payer.stubbornness[facts.payer] * np.minimum(attempts.prior_level, PEER_TO_PEER) * internal
            + legal
            * (
                LEGAL_SELF_FUNDED_LOGIT * facts.self_funded
                + LEGAL_UNEXHAUSTED_LOGIT * (attempts.prior_level < WRITTEN_APPEAL)
                + LEGAL_AFTER_EXTERNAL_LOSS_LOGIT * (attempts.prior_level == EXTERNAL_REVIEW)
            )
        )
        # Federal IDR: the arbiter picks one of two offers; the payer's record there is its own.
        idr_logit = payer.idr_win_logit[facts.payer] + IDR_NOTES_LOGIT * facts.notes + IDR_LARGE_DISPUTE_LOGIT * large
        drifted = self.odds_shift(facts.payer, attempts.level, attempts.date)
        p_win = sigmoid(np.where(idr, idr_logit, logit) + drifted)
        eligible_logit = np.where(
            facts.nsa,
            IDR_ELIGIBLE_LOGIT
            + IDR_DENIAL_LOGIT * (allowed <= 0)
            + IDR_LATE_LOGIT * (attempts.prior_level >= WRITTEN_APPEAL),
            STATE_REVIEW_ELIGIBLE_LOGIT + STATE_REVIEW_SELF_FUNDED_LOGIT * facts.self_funded,
        )
        p_eligible = np.where(external, sigmoid(eligible_logit), 1.0)
        p_win = np.where(at_stake > 0, p_win, 0.0)  # nothing left to recover

        share = self._recovered_share(facts, attempts, at_stake)
        days = BASE_DAYS[level] * np.where(idr, IDR_DAYS / BASE_DAYS[EXTERNAL_REVIEW - 1], 1.0)
        days = days * payer.speed[facts.payer] * (1 + LARGE_DISPUTE_EXTRA_DAYS * large)
        days_if_success, days_if_failure = days * DAYS_IF_SUCCESS, days * DAYS_IF_FAILURE
        negotiation_end = np.busday_offset(
            attempts.date, OPEN_NEGOTIATION_BUSINESS_DAYS, roll="forward", busdaycal=business_days()
        )
        negotiation_days = (negotiation_end - attempts.date).astype("float64")
        settled_early = OPEN_NEGOTIATION_SETTLED_SHARE * negotiation_days * payer.speed[facts.payer]
        days_if_success = np.where(open_negotiation, settled_early, days_if_success)
        days_if_failure = np.where(open_negotiation, negotiation_days, days_if_failure)
        return Truth(
            p_eligible=p_eligible,
            p_win=p_win,
            recovered_share=share,
            days_if_success=days_if_success,
            days_if_failure=days_if_failure,
            allowed_before=allowed,
            billed=facts.billed,
        )

    def standard_rate(
        self,
        payer: np.ndarray,
        group: np.ndarray,
        nsa: np.ndarray,
        medicare: np.ndarray,
        qpa: np.ndarray,
        billed: np.ndarray,
    ) -> np.ndarray:
        """What the payer pays a clean claim: near the QPA for NSA claims, its own multiple of Medicare
        otherwise; never more than ``MAX_RATE_TO_BILLED`` of billed."""
        rate = np.where(
            nsa, qpa * self.payers.nsa_pay_ratio[payer], medicare * self.payers.pay_multiple[payer] * RATE_FACTOR[group]
        )
        return np.minimum(rate, MAX_RATE_TO_BILLED * billed)

    def _recovered_share(self, facts: ClaimFacts, attempts: Attempt, at_stake: np.ndarray) -> np.ndarray:
        """Mean share of (billed - allowed before) a success recovers.

        Internal levels, state review and court: the payer first pays its standard rate (an overturned
        denial), then a level- and payer-dependent share of what remains to billed. Federal IDR: the
        prevailing offer, a group- and QPA-dependent multiple of the QPA, capped at billed.
        """
        level = attempts.level - 1
        allowed, billed = attempts.allowed_before, facts.billed
        floor = np.maximum(
            allowed, self.standard_rate(facts.payer, facts.group, facts.nsa, facts.medicare, facts.qpa, billed)
        )
        share = GAP_SHARE[level] * self.payers.generosity[facts.payer]
        open_negotiation = facts.nsa & (attempts.level == RECONSIDERATION)
        share = np.where(open_negotiation, NSA_OPEN_NEGOTIATION_GAP_SHARE, share)
        target = floor + np.minimum(share, 1.0) * (billed - floor)
        ratio = (
            IDR_PREVAILING_RATIO[facts.group] * (facts.qpa / IDR_TYPICAL_QPA[facts.group]) ** IDR_RATIO_QPA_ELASTICITY
        )
        idr_award = np.minimum(billed, np.maximum(facts.qpa * ratio, floor))
        target = np.where((attempts.level == EXTERNAL_REVIEW) & facts.nsa, idr_award, target)
        with np.errstate(divide="ignore", invalid="ignore"):
            recovered = (target - allowed) / at_stake
        return np.clip(np.nan_to_num(recovered, nan=MIN_RECOVERED_SHARE), MIN_RECOVERED_SHARE, MAX_RECOVERED_SHARE)

    # -- sampling

    @staticmethod
    def draw(truth: Truth, facts: ClaimFacts, attempts: Attempt, rng: np.random.Generator) -> dict:
        """Sample each attempt from its truth: eligibility, then the decision, then amount and days.

        The recovered share is Beta-distributed around its mean, so E[final | success] is exactly the
        truth's ``expected_allowed``, every success lands above ``allowed_before`` and at most at billed.
        """
        count = len(truth.p_win)
        eligible = rng.random(count) < truth.p_eligible
        success = eligible & (rng.random(count) < truth.p_win)
        mean = truth.recovered_share
        recovered = rng.beta(mean * SETTLEMENT_CONCENTRATION, (1 - mean) * SETTLEMENT_CONCENTRATION)
        gap = truth.billed - truth.allowed_before
        final = np.where(success, truth.allowed_before + recovered * gap, truth.allowed_before)
        final = np.round(final, 2)
        # rounding to cents must not erase a tiny win
        success &= final > truth.allowed_before
        mean_days = np.where(success, truth.days_if_success, truth.days_if_failure)
        days = np.maximum(1, np.rint(rng.gamma(DAYS_SHAPE, mean_days / DAYS_SHAPE))).astype("int64")
        open_negotiation = facts.nsa & (attempts.level == RECONSIDERATION)
        # an open negotiation that fails runs its full 30 business days
        days = np.where(open_negotiation & ~success, np.rint(truth.days_if_failure).astype("int64"), days)
        return {
            "success": success,
            "outcome": _outcome_labels(success, recovered, mean, facts, attempts, rng),
            "final_allowed_amount": final,
            "days": days,
            "ineligible": ~eligible,
        }


#: Share of IDR and court wins that end in a settlement rather than a decision.
IDR_SETTLED_SHARE, LEGAL_SETTLED_SHARE = 0.1, 0.8


def _outcome_labels(
    success: np.ndarray,
    recovered: np.ndarray,
    mean: np.ndarray,
    facts: ClaimFacts,
    attempts: Attempt,
    rng: np.random.Generator,
) -> np.ndarray:
    """How a result is recorded: a win above its expected share is a full overturn, below it partial;
    NSA open negotiations, most lawsuits and some IDR disputes end in settlements."""
    level = attempts.level
    settled_draw = rng.random(len(success))
    settled = (
        (facts.nsa & (level == RECONSIDERATION))
        | ((level == EXTERNAL_REVIEW) & facts.nsa & (settled_draw < IDR_SETTLED_SHARE))
        | ((level == LEGAL) & (settled_draw < LEGAL_SETTLED_SHARE))
    )
    full = (recovered >= mean) | ((level == EXTERNAL_REVIEW) & facts.nsa)
    won = np.where(settled, "settled", np.where(full, "overturned", "partially_overturned"))
    return np.where(success, won, "upheld").astype(object)
