"""The data contract: every column of the claim and history tables, declared once.

Table validation (``features.validation``) and the API request models (``features.requests``) are both
generated from these declarations, so the file reader and the HTTP endpoint can never disagree about what
a valid claim is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from features.values import MAX_AMOUNT


class Level(IntEnum):
    """The escalation ladder, in the order a claim climbs it."""

    none = 0
    reconsideration = 1
    written_appeal = 2
    peer_to_peer = 3
    external_review = 4
    legal = 5


ESCALATION_LEVELS: tuple[Level, ...] = tuple(level for level in Level if level > Level.none)
LEVEL_NAMES: tuple[str, ...] = tuple(level.name for level in Level)
ESCALATION_LEVEL_NAMES: tuple[str, ...] = tuple(level.name for level in ESCALATION_LEVELS)


class Kind(StrEnum):
    STRING = "string"
    CODE = "code"
    CHOICE = "choice"
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    DATE = "date"
    LEVEL = "level"


PLAN_TYPES = ("PPO", "HMO", "EPO", "POS", "HDHP", "INDIVIDUAL", "OTHER", "UNKNOWN")
FUNDING_TYPES = ("fully_insured", "self_funded", "government", "unknown")
OUTCOMES = ("overturned", "partially_overturned", "settled", "upheld", "withdrawn", "pending")
SUCCESS_OUTCOMES = frozenset({"overturned", "partially_overturned", "settled"})
RESOLVED_OUTCOMES = frozenset({"overturned", "partially_overturned", "settled", "upheld"})
US_STATES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC",
    "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
    "PR", "VI", "GU", "AS", "MP",
)  # fmt: skip

#: Columns that only the simulator writes. They describe the simulated world and must never become
#: features: the transformer refuses any column with this prefix.
TRUTH_PREFIX = "truth_"


@dataclass(frozen=True)
class Column:
    """One column of the contract.

    ``default`` is a literal, or ``"=other_column"`` to copy another column of the same row.
    ``minimum`` with ``exclusive`` gives ``> minimum``; without it ``>= minimum``. ``maximum`` is inclusive.
    """

    name: str
    kind: Kind
    required: bool
    description: str
    default: object = None
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    exclusive: bool = False
    maximum: float | None = None
    pattern: str | None = None
    pattern_rule: str | None = None
    upper: bool = False
    example: object = None

    @property
    def rule(self) -> str:
        """The human rule for the column's values, as quoted in validation errors."""
        if self.pattern_rule:
            return self.pattern_rule
        if self.kind is Kind.CHOICE or self.kind is Kind.LEVEL:
            return "must be one of " + ", ".join(self.choices or ())
        if self.kind is Kind.DATE:
            return "must be an ISO date (YYYY-MM-DD) between 1900 and 2199"
        if self.kind is Kind.BOOL:
            return "must be true or false"
        if self.kind in (Kind.INT, Kind.FLOAT):
            noun = "a whole number" if self.kind is Kind.INT else "a number"
            bounds = []
            if self.minimum is not None:
                bounds.append(f"{'>' if self.exclusive else '>='} {self.minimum:g}")
            if self.maximum is not None:
                bounds.append(f"<= {self.maximum:,.0f}")
            return f"must be {noun} {' and '.join(bounds)}" if bounds else f"must be {noun}"
        return "must be a non-empty string without control characters"


CLAIM_COLUMNS: tuple[Column, ...] = (
    Column("claim_id", Kind.STRING, True, "Opaque claim id (no patient data).", example="C-000123"),
    Column(
        "payer_id",
        Kind.STRING,
        True,
        "Payer as the billing system names it; trimmed and upper-cased.",
        upper=True,
        example="AETNA",
    ),
    Column(
        "plan_type",
        Kind.CHOICE,
        False,
        "Plan product type.",
        default="UNKNOWN",
        choices=PLAN_TYPES,
        upper=True,
        example="PPO",
    ),
    Column(
        "funding",
        Kind.CHOICE,
        False,
        "Plan funding; self-funded ERISA plans escape state law.",
        default="unknown",
        choices=FUNDING_TYPES,
        example="self_funded",
    ),
    Column(
        "state",
        Kind.CHOICE,
        True,
        "Two-letter USPS code of where the service was rendered.",
        choices=US_STATES,
        upper=True,
        pattern_rule="must be a two-letter USPS state code",
        example="TX",
    ),
    Column(
        "place_of_service",
        Kind.CODE,
        True,
        "Two-digit CMS place-of-service code.",
        pattern=r"\d{2}",
        pattern_rule="must be a two-digit CMS place-of-service code",
        example="23",
    ),
    Column(
        "cpt_code",
        Kind.CODE,
        True,
        "Primary CPT/HCPCS code of the service line.",
        pattern=r"[0-9A-Z]{4}[0-9A-Z]",
        pattern_rule="must be a 5-character CPT/HCPCS code",
        upper=True,
        example="99285",
    ),
    Column(
        "modifier",
        Kind.CODE,
        False,
        "Primary modifier, e.g. 26, TC, 22, 59.",
        pattern=r"[0-9A-Z]{2}",
        pattern_rule="must be a 2-character modifier",
        upper=True,
        example=None,
    ),
    Column("units", Kind.INT, False, "Service units.", default=1, minimum=1, example=1),
    Column(
        "specialty",
        Kind.STRING,
        False,
        "Rendering specialty in snake_case.",
        pattern=r"[a-z][a-z0-9_]*",
        pattern_rule="must be snake_case (a-z, 0-9, _)",
        example="emergency_medicine",
    ),
    Column("emergency", Kind.BOOL, True, "Emergency service.", example=True),
    Column(
        "nsa_eligible",
        Kind.BOOL,
        False,
        "No Surprises Act applies (Federal IDR is available).",
        default="=emergency",
        example=True,
    ),
    Column(
        "network_gap",
        Kind.BOOL,
        False,
        "No adequate in-network alternative (gap-exception leverage).",
        default=False,
        example=False,
    ),
    Column("service_date", Kind.DATE, True, "Date of service.", example="2026-03-02"),
    Column(
        "initial_payment_date",
        Kind.DATE,
        False,
        "Date of the initial adjudication or remittance.",
        example="2026-04-01",
    ),
    Column(
        "billed_amount",
        Kind.FLOAT,
        True,
        "Provider's charge.",
        minimum=0,
        exclusive=True,
        maximum=MAX_AMOUNT,
        example=2400.0,
    ),
    Column(
        "initial_allowed_amount",
        Kind.FLOAT,
        True,
        "Payer's initial allowed amount (0 = denied).",
        minimum=0,
        maximum=MAX_AMOUNT,
        example=310.0,
    ),
    Column(
        "qpa_amount",
        Kind.FLOAT,
        False,
        "Qualifying payment amount, when the payer disclosed it.",
        minimum=0,
        exclusive=True,
        maximum=MAX_AMOUNT,
        example=350.0,
    ),
    Column(
        "carc_codes",
        Kind.STRING,
        False,
        "Comma-separated CARC group-code pairs, e.g. CO-45,PR-2.",
        pattern=r"(CO|PR|OA|PI|CR)-[0-9A-Z]{1,4}(, *(CO|PR|OA|PI|CR)-[0-9A-Z]{1,4})*",
        pattern_rule="must be comma-separated group-code pairs such as CO-45,PR-2",
        upper=True,
        example="CO-45",
    ),
    Column(
        "has_medical_necessity_letter",
        Kind.BOOL,
        False,
        "A letter of medical necessity is on file.",
        default=False,
        example=False,
    ),
    Column(
        "has_clinical_notes",
        Kind.BOOL,
        False,
        "Operative report or chart notes are attached.",
        default=False,
        example=True,
    ),
    Column("prior_authorization", Kind.BOOL, False, "Prior authorization was obtained.", default=False, example=False),
)

HISTORY_COLUMNS: tuple[Column, ...] = (
    Column(
        "level",
        Kind.LEVEL,
        True,
        "The escalation level attempted (name or 1-5).",
        choices=ESCALATION_LEVEL_NAMES,
        example="written_appeal",
    ),
    Column("submitted_date", Kind.DATE, True, "When the attempt was submitted.", example="2026-04-20"),
    Column("resolved_date", Kind.DATE, False, "When the attempt was resolved; empty = pending.", example="2026-06-01"),
    Column("outcome", Kind.CHOICE, True, "Result of the attempt.", choices=OUTCOMES, example="settled"),
    Column(
        "final_allowed_amount",
        Kind.FLOAT,
        False,
        "Total allowed after this attempt (when resolved).",
        minimum=0,
        maximum=MAX_AMOUNT,
        example=1300.0,
    ),
    Column(
        "prior_level",
        Kind.LEVEL,
        False,
        "Highest earlier level of the same claim (derived if absent).",
        choices=LEVEL_NAMES,
        example="reconsideration",
    ),
)

REQUEST_COLUMNS: tuple[Column, ...] = (
    Column(
        "current_level",
        Kind.LEVEL,
        False,
        "Highest level the claim has already been through.",
        default="none",
        choices=LEVEL_NAMES,
        example="none",
    ),
    Column(
        "current_allowed_amount",
        Kind.FLOAT,
        False,
        "Allowed amount now (default: the initial one).",
        default="=initial_allowed_amount",
        minimum=0,
        maximum=MAX_AMOUNT,
        example=310.0,
    ),
    Column("current_level_date", Kind.DATE, False, "When the current level was submitted.", example=None),
    Column("as_of_date", Kind.DATE, False, "Date the decision is made for (default: today).", example="2026-04-10"),
)

CLAIM_COLUMN_NAMES = tuple(column.name for column in CLAIM_COLUMNS)
HISTORY_TABLE: tuple[Column, ...] = CLAIM_COLUMNS + HISTORY_COLUMNS
REQUEST_TABLE: tuple[Column, ...] = CLAIM_COLUMNS + REQUEST_COLUMNS


def parse_level(value: object) -> Level | None:
    """A level from its name or number (``"written_appeal"``, ``2``, ``"2"``); None when it is neither."""
    if isinstance(value, Level):
        return value
    text = str(value).strip().lower()
    if text in Level.__members__:
        return Level[text]
    try:
        number = float(text)
    except ValueError:
        return None
    if number.is_integer() and 0 <= number <= Level.legal:
        return Level(int(number))
    return None
