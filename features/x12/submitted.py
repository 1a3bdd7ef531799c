"""837P/837I claims (x12sdk models) into what an 835 lacks: place of service, the service facility's state,
the rendering specialty, emergency indicators, billed modifiers and units, attachments, authorization.

Subscriber and patient loops (names, member ids, addresses, birth dates) are never read; x12sdk's
``claims()`` walks both branches of the HL hierarchy and this module touches only the claim loop, its
service lines and the provider loops. Field-by-field rules are documented in docs/x12.md.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from features.x12.reader import Transaction
from features.x12.remit import code

PROFESSIONAL = "005010X222A2"
#: PWK01 report types that put clinical documentation (operative note, chart notes) on file, and the one
#: recoup reads as a letter of medical necessity (a certification).
CLINICAL_NOTE_REPORTS = frozenset({"OB", "09", "M1", "DS", "DG"})
MEDICAL_NECESSITY_REPORTS = frozenset({"CT"})
#: 837I: the first two digits of the type of bill (CLM05-1 facility type + CLM05-2 classification) ->
#: place of service; an emergency-room revenue code (045x) makes an outpatient claim place 23.
BILL_TYPE_PLACES = {"11": "21", "12": "21", "13": "22", "14": "22", "83": "24", "85": "22"}
EMERGENCY_REVENUE_PREFIX = "045"


@dataclass
class SubmittedLine:
    procedure: str | None
    modifiers: tuple[str, ...]
    charge: float
    units: int | None
    place_of_service: str | None
    emergency: bool


@dataclass
class Submission:
    """What one 837 claim adds to its 835 adjudications."""

    file: str
    position: int
    claim_id: str
    charge: float
    place_of_service: str | None
    state: str | None
    specialty: str | None
    emergency: bool
    prior_authorization: bool
    has_clinical_notes: bool
    has_medical_necessity_letter: bool
    lines: tuple[SubmittedLine, ...]

    def line_for(self, procedure: str | None, charge: float | None) -> SubmittedLine | None:
        """The submitted line an 835 line answers: same code and charge, else same code, else same charge,
        else the highest billed line (payers recode and re-price lines)."""
        for matches in (
            lambda line: line.procedure == procedure and line.charge == charge,
            lambda line: line.procedure == procedure,
            lambda line: line.charge == charge,
        ):
            found = [line for line in self.lines if matches(line)]
            if found:
                return found[0]
        return max(self.lines, key=lambda line: line.charge, default=None)


@functools.cache
def taxonomy_specialties() -> dict[str, str]:
    """Provider taxonomy code -> recoup specialty, from the shipped table ``taxonomy_specialty.csv``."""
    with resources.files("features.data").joinpath("taxonomy_specialty.csv").open(encoding="utf-8") as handle:
        table = pd.read_csv(handle, dtype=str, comment="#")
    return dict(zip(table["taxonomy"].str.strip().str.upper(), table["specialty"].str.strip(), strict=True))


def _components(value: object, separator: str) -> list[str]:
    return [part.strip().upper() for part in (code(value) or "").split(separator)]


def _taxonomy(*prv_segments) -> str | None:
    for prv in prv_segments:
        if prv is not None and code(prv.reference_identification_qualifier) == "PXC":
            return code(prv.reference_identification)
    return None


def _state(*loops) -> str | None:
    for loop in loops:
        n4 = getattr(loop, "n4_segment", None) if loop is not None else None
        if n4 is not None and code(n4.state_province_code):
            return code(n4.state_province_code).upper()
    return None


def _professional_line(loop, separator: str) -> SubmittedLine:
    sv1 = loop.sv1_segment
    parts = _components(sv1.product_service_id_qualifier, separator)
    units = sv1.service_unit_count
    return SubmittedLine(
        procedure=parts[1] if len(parts) > 1 and parts[1] else None,
        modifiers=tuple(part for part in parts[2:6] if part),
        charge=float(sv1.line_item_charge_amount),
        units=int(units) if units == int(units) else None,
        place_of_service=code(sv1.place_of_service_code),
        emergency=code(sv1.emergency_indicator) == "Y",
    )


def _institutional_line(loop, separator: str) -> tuple[SubmittedLine, str]:
    sv2 = loop.sv2_segment
    parts = _components(sv2.composite_medical_procedure_identifier, separator)
    units = getattr(sv2, "service_unit_count", None)
    revenue = code(sv2.service_line_revenue_code) or ""
    line = SubmittedLine(
        procedure=parts[1] if len(parts) > 1 and parts[1] else None,
        modifiers=tuple(part for part in parts[2:6] if part),
        charge=float(sv2.line_item_charge_amount),
        units=int(units) if units is not None and units == int(units) and units >= 1 else None,
        place_of_service=None,
        emergency=revenue.zfill(4).startswith(EMERGENCY_REVENUE_PREFIX),
    )
    return line, revenue


def submissions(transaction: Transaction) -> Iterator[Submission]:
    """Every claim (CLM) of a validated 837P or 837I transaction."""
    separator = transaction.component_separator
    professional = transaction.version == PROFESSIONAL
    specialties = taxonomy_specialties()
    positions = iter(transaction.claim_positions)
    billing_loops = {id(loop.loop_2010aa): loop for loop in transaction.model.loop_2000a}
    for submitted in transaction.model.claims():
        billing = billing_loops[id(submitted.billing_provider)]
        billing_taxonomy = _taxonomy(billing.prv_segment)
        billing_state = _state(billing.loop_2010aa)
        claim = submitted.claim
        clm = claim.clm_segment
        position, _ = next(positions, (transaction.start, None))
        location = _components(clm.health_care_service_location_information, separator)
        refs = {code(ref.reference_identification_qualifier) for ref in claim.ref_segment or ()}
        reports = {code(pwk.report_type_code) for pwk in claim.pwk_segment or ()}
        if professional:
            lines = tuple(_professional_line(loop, separator) for loop in claim.loop_2400 or ())
            rendering = claim.loop_2310b
            line_taxonomies = [getattr(loop.loop_2420a, "prv_segment", None) for loop in claim.loop_2400 or ()]
            taxonomy = _taxonomy(getattr(rendering, "prv_segment", None), *line_taxonomies) or billing_taxonomy
            place = next((line.place_of_service for line in lines if line.place_of_service), None) or (
                location[0] or None
            )
            facility_state = _state(claim.loop_2310c)
            emergency = any(line.emergency for line in lines)
        else:
            parsed = [_institutional_line(loop, separator) for loop in claim.loop_2400 or ()]
            lines = tuple(line for line, _ in parsed)
            taxonomy = _taxonomy(getattr(claim.loop_2310a, "prv_segment", None)) or billing_taxonomy
            er_revenue = any(line.emergency for line in lines)
            bill_type = (location[0] if location else "")[:2]
            place = BILL_TYPE_PLACES.get(bill_type)
            if place == "22" and er_revenue:
                place = "23"
            facility_state = _state(claim.loop_2310e)
            admission = claim.cl1_segment
            emergency = er_revenue or (admission is not None and code(admission.admission_type_code) == "1")
        yield Submission(
            file=transaction.file,
            position=position,
            claim_id=code(clm.patient_control_number),
            charge=float(clm.total_claim_charge_amount),
            place_of_service=place.zfill(2) if place else None,
            state=facility_state or billing_state,
            specialty=specialties.get((taxonomy or "").upper()),
            emergency=emergency or place == "23",
            prior_authorization="G1" in refs,
            has_clinical_notes=bool(reports & CLINICAL_NOTE_REPORTS),
            has_medical_necessity_letter=bool(reports & MEDICAL_NECESSITY_REPORTS),
            lines=lines,
        )
