"""835 claim payments (x12sdk models) into flat adjudication records: what one CLP says about one claim.

Only the payer, payee, claim, service line, adjustment, remark, amount and date segments are read. The
patient and subscriber segments (NM1*QC/IL and any address or demographic segment) are never touched.
Field-by-field rules are documented in docs/x12.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

from features.reference import NSA_REMARK_CODES
from features.x12.reader import Problem, Transaction

#: CLP02 codes.
REVERSAL = "22"
DENIED = "4"
#: Claim-level AMT qualifier read as the qualifying payment amount (X12 5010 has no QPA qualifier; see
#: docs/x12.md for why AU, "coverage amount", is the convention recoup reads).
QPA_AMOUNT_QUALIFIER = "AU"
#: CLP06 claim filing indicator -> (plan_type, funding), only where the code determines them.
FILING_INDICATORS: dict[str, tuple[str | None, str | None]] = {
    "12": ("PPO", None),
    "13": ("POS", None),
    "14": ("EPO", None),
    "15": ("OTHER", None),  # indemnity insurance
    "16": ("HMO", "government"),  # HMO Medicare risk
    "HM": ("HMO", None),
    "MA": (None, "government"),
    "MB": (None, "government"),
    "MC": (None, "government"),
    "CH": (None, "government"),
    "VA": (None, "government"),
    "TV": (None, "government"),
    "OF": (None, "government"),
}


def code(value: object) -> str | None:
    """A segment value as text: enum members by value, blanks as None."""
    if value is None:
        return None
    text = (value.value if isinstance(value, Enum) else str(value)).strip()
    return text or None


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _day(value: object) -> date | None:
    if isinstance(value, date):
        return value
    text = code(value)
    if text and len(text) == 8 and text.isdigit():
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            return None
    return None


@dataclass
class Line:
    """One SVC service line."""

    procedure: str | None  # the billed code: SVC06 when the payer recoded the line, else SVC01
    modifiers: tuple[str, ...]
    charge: float
    allowed: float
    allowed_given: bool  # AMT*B6 was on the line
    units: int | None
    service_date: date | None
    remarks: tuple[str, ...]


@dataclass
class Adjudication:
    """One CLP: one payer decision on one claim."""

    file: str
    position: int
    claim_id: str
    status: str
    claim_charge: float
    paid: float
    filing_indicator: str | None
    payer_claim_number: str | None
    original_reference: str | None  # REF*F8: the payer claim number this one corrects
    payer_name: str | None
    payer_code: str | None
    payee_state: str | None
    payment_date: date | None
    service_date: date | None
    claim_allowed: float  # whole-claim allowed amount
    qpa: float | None
    carc_codes: tuple[str, ...]  # group-reason pairs, claim then line level, in file order, distinct
    remarks: tuple[str, ...]
    prior_authorization: bool
    lines: tuple[Line, ...]

    @property
    def is_reversal(self) -> bool:
        return self.status == REVERSAL

    @property
    def primary_line(self) -> Line | None:
        """The highest billed line (the first of equals)."""
        return max(self.lines, key=lambda line: line.charge, default=None)

    @property
    def nsa_remark(self) -> bool:
        return not NSA_REMARK_CODES.isdisjoint(self.remarks)

    @property
    def plan_type(self) -> str | None:
        return FILING_INDICATORS.get(self.filing_indicator or "", (None, None))[0]

    @property
    def funding(self) -> str | None:
        return FILING_INDICATORS.get(self.filing_indicator or "", (None, None))[1]


def _pairs(cas_segments) -> list[tuple[str, str, float]]:
    """(group, reason, amount) of every reason/amount pair of CAS segments (up to six each)."""
    pairs = []
    for cas in cas_segments or ():
        group = code(cas.adjustment_group_code)
        for number in range(1, 7):
            reason = code(getattr(cas, f"adjustment_reason_code_{number}", None))
            if reason:
                amount = getattr(cas, f"monetary_amount_{number}", None)
                pairs.append((group, reason.upper(), _money(amount) or 0.0))
    return pairs


def _patient_share(pairs) -> float:
    return sum(amount for group, _, amount in pairs if group == "PR")


def _line(loop, separator: str, status: str) -> tuple[Line, list[tuple[str, str, float]]]:
    svc = loop.svc_segment
    billed = code(svc.composite_medical_procedure_identifier_2) or code(svc.composite_medical_procedure_identifier_1)
    parts = (billed or "").split(separator)
    procedure = parts[1].strip().upper() if len(parts) > 1 and parts[1].strip() else None
    modifiers = tuple(part.strip().upper() for part in parts[2:6] if part.strip())
    pairs = _pairs(loop.cas_segment)
    allowed = next(
        (_money(amt.monetary_amount) for amt in loop.amt_segment or () if code(amt.amount_qualifier_code) == "B6"),
        None,
    )
    allowed_given = allowed is not None
    if allowed is None:
        allowed = _money(svc.line_item_provider_payment_amount) + _patient_share(pairs)
    if status == DENIED:
        allowed = 0.0
    units = svc.original_units_of_service_count or svc.units_of_service_paid_count
    dates = {code(dtm.date_time_qualifier): _day(dtm.production_date) for dtm in loop.dtm_segment or ()}
    remarks = tuple(
        code(lq.form_identifier).upper() for lq in loop.lq_segment or () if code(lq.code_list_qualifier_code) == "HE"
    )
    line = Line(
        procedure=procedure,
        modifiers=modifiers,
        charge=_money(svc.line_item_charge_amount),
        allowed=allowed,
        allowed_given=allowed_given,
        units=int(units) if units is not None and units == int(units) and units >= 1 else None,
        service_date=dates.get("472") or dates.get("150"),
        remarks=remarks,
    )
    return line, pairs


def _distinct(values) -> tuple:
    return tuple(dict.fromkeys(values))


def adjudications(transaction: Transaction, problems: list[Problem]) -> Iterator[Adjudication]:
    """Every CLP of a validated 835 transaction, with the transaction's payer, payee and payment date;
    defects that do not stop the import are appended to ``problems``."""
    model = transaction.model
    header = model.header
    payer = model.loop_1000a
    payer_code = code(payer.n1_segment.identification_code) or next(
        (
            code(ref.reference_identification)
            for ref in payer.ref_segment or ()
            if code(ref.reference_identification_qualifier) == "2U"
        ),
        None,
    )
    payee_n4 = model.loop_1000b.n4_segment
    payee_state = code(payee_n4.state_province_code) if payee_n4 is not None else None
    production = header.dtm_segment
    payment_date = _day(header.bpr_segment.eft_effective_date) or (
        _day(production.production_date)
        if production is not None and code(production.date_time_qualifier) == "405"
        else None
    )
    if code(header.bpr_segment.eft_effective_date) and _day(header.bpr_segment.eft_effective_date) is None:
        problems.append(
            Problem(
                transaction.file,
                "BPR16 is not a valid date (CCYYMMDD); DTM*405 gives the payment date",
                transaction.start,
                detail=code(header.bpr_segment.eft_effective_date),
                severity="warning",
            )
        )
    positions = iter(transaction.claim_positions)
    separator = transaction.component_separator
    for paid_claim in model.claims():
        claim = paid_claim.claim
        clp = claim.clp_segment
        position, _ = next(positions, (transaction.start, None))
        status = code(clp.claim_status_code)
        claim_pairs = _pairs(claim.cas_segment)
        lines, line_pairs = [], []
        for loop in claim.loop_2110 or ():
            line, pairs = _line(loop, separator, status)
            lines.append(line)
            line_pairs += pairs
        refs = {
            code(ref.reference_identification_qualifier): code(ref.reference_identification)
            for ref in claim.ref_segment or ()
        }
        dates = {code(dtm.date_time_qualifier): _day(dtm.production_date) for dtm in claim.dtm_segment or ()}
        amounts = {code(amt.amount_qualifier_code): _money(amt.monetary_amount) for amt in claim.amt_segment or ()}
        moa = claim.moa_segment
        claim_remarks = (
            [] if moa is None else [code(getattr(moa, f"claim_payment_remark_code_{number}")) for number in range(1, 6)]
        )
        line_dates = [line.service_date for line in lines if line.service_date is not None]
        paid = _money(clp.claim_payment_amount)
        if lines and all(line.allowed_given for line in lines):
            claim_allowed = sum(line.allowed for line in lines)
        else:  # what the payer paid plus what it left to the patient: charge minus CO/PI/OA adjustments
            claim_allowed = paid + _patient_share(claim_pairs + line_pairs)
        if status == DENIED:
            claim_allowed = 0.0
        yield Adjudication(
            file=transaction.file,
            position=position,
            claim_id=code(clp.patient_control_number),
            status=status,
            claim_charge=_money(clp.total_claim_charge_amount),
            paid=paid,
            filing_indicator=code(clp.claim_filing_indicator_code),
            payer_claim_number=code(clp.payer_claim_control_number),
            original_reference=refs.get("F8"),
            payer_name=code(paid_claim.payer_name),
            payer_code=payer_code,
            payee_state=payee_state,
            payment_date=payment_date,
            service_date=dates.get("232") or (min(line_dates) if line_dates else None),
            claim_allowed=claim_allowed,
            qpa=amounts.get(QPA_AMOUNT_QUALIFIER),
            carc_codes=_distinct(f"{group}-{reason}" for group, reason, _ in claim_pairs + line_pairs),
            remarks=_distinct(
                remark.upper() for remark in [*claim_remarks, *(r for line in lines for r in line.remarks)] if remark
            ),
            prior_authorization="G1" in refs,
            lines=tuple(lines),
        )
