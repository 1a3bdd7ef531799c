"""The simulator's claims as X12: 835 remittances and 837P claims written through x12sdk, plus an appeals log.

``write_x12(history, directory)`` turns a simulated negotiation history (``training.simulator``) into
what a billing system would hold: ``remits/`` (835 005010X221A1, one file per payer and month, one
transaction per payment date), ``claims/`` (837P 005010X222A2, one file per payer and month) and
``appeals.csv`` (one row per attempt, in the history's order, in a billing team's spelling). Every
transaction is validated by x12sdk's models and serialized by its ``write_transactions``.

What the X12 carries, field by field, is docs/x12.md; what it cannot carry (``network_gap``, a plan type
or funding CLP06 has no code for, the final amount of an attempt) travels in the appeals log, whose
final amounts are left out on purpose: the import must find them in the re-adjudication 835s. A
successful attempt is written the way payers correct a claim: a reversal (CLP02 = 22) of the standing
adjudication and a corrected one (REF*F8 naming the reversed one) on the resolution date.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd
from x12sdk.io import write_transactions
from x12sdk.support import count_segments
from x12sdk.v5010.x12_835_005010X221A1.transaction_set import HealthCareClaimPayment
from x12sdk.v5010.x12_837_005010X222A2.transaction_set import HealthCareClaimProfessional

from features.history import derive_attempts
from features.schema import parse_level
from features.x12 import sdk
from features.x12.parallel import map_calls
from features.x12.submitted import taxonomy_specialties

sdk.install()

#: plan_type -> the CLP06 code that says it; government funding without one of these says MC (Medicaid).
PLAN_FILING_INDICATORS = {"PPO": "12", "POS": "13", "EPO": "14", "OTHER": "15", "HMO": "HM"}
MUTUALLY_DEFINED = "ZZ"
MEDICAID = "MC"
#: Remark written on No Surprises Act claims (one of the codes the import reads as NSA evidence).
NSA_REMARK = "N864"
QPA_QUALIFIER = "AU"
#: Patient share on a paid claim, when its CARC codes carry a PR pair: this share of the allowed amount.
PATIENT_SHARE = Decimal("0.2")
CREATED = datetime.datetime(2026, 1, 1, 12, 0)  # fixed, so the same history gives the same bytes
SENDER, RECEIVER = "RECOUPSIM", "RECOUPPROVIDER"
PAYEE_NPI, PAYEE_NAME, PAYEE_STATE = "1234567893", "SIMULATED PHYSICIANS GROUP", "DC"
#: Appeals log headers as a billing team writes them (the import's alias table reads them back).
LOG_HEADERS = {
    "claim_id": "Claim ID",
    "level": "Appeal Level",
    "submitted_date": "Date Submitted",
    "resolved_date": "Date Resolved",
    "outcome": "Result",
}
#: Claim columns the X12 cannot carry for every claim, written to the log for the import to fill.
LOG_CLAIM_COLUMNS = ("plan_type", "funding", "network_gap")


@dataclass
class X12Files:
    remits: list[Path]
    claims: list[Path]
    appeals: Path | None  # None for a worklist (no attempts)
    claims_written: int
    adjudications: int


def _money(value: float) -> str:
    return f"{Decimal(str(round(float(value), 2))):.2f}"


def _date(value) -> str:
    return pd.Timestamp(value).strftime("%Y%m%d")


def _filing_indicator(plan_type: str, funding: str) -> str:
    if plan_type in PLAN_FILING_INDICATORS:
        return PLAN_FILING_INDICATORS[plan_type]
    return MEDICAID if funding == "government" else MUTUALLY_DEFINED


def _pairs(carc_codes: str | None) -> list[tuple[str, str]]:
    return [tuple(code.strip().split("-", 1)) for code in (carc_codes or "").split(",") if code.strip()]


def _adjustments(pairs, charge: Decimal, allowed: Decimal) -> tuple[list[dict], Decimal]:
    """CAS segments for ``pairs`` (in their order) balancing charge - paid, and the paid amount.

    The PR pairs share the patient's part of the allowed amount, the others the amount not allowed; every
    pair gets a non-zero amount (x12sdk rejects zero), the first of each kind the remainder.
    """
    patient = [pair for pair in pairs if pair[0] == "PR"]
    payer = [pair for pair in pairs if pair[0] != "PR"]
    share = (allowed * PATIENT_SHARE).quantize(Decimal("0.01")) if patient and allowed > 0 else Decimal("0")
    amounts = {}
    for group, total in ((patient, share), (payer, charge - allowed)):
        if not group:
            continue
        cents = Decimal("0.01")
        for pair in group[1:]:
            amounts[pair] = cents
        amounts[group[0]] = total - cents * (len(group) - 1)
    cas = [
        {
            "adjustment_group_code": group,
            "adjustment_reason_code_1": reason,
            "monetary_amount_1": _money(amounts[(group, reason)]),
        }
        for group, reason in pairs
        if amounts.get((group, reason), Decimal("0")) > 0
    ]
    return cas, allowed - share


def _remit_claim(claim, charge: float, allowed: float, status: str, icn: str, corrects: str | None, sign: int):
    """One Loop 2100 (dict) for a claim: its service line, adjustments, remarks, QPA."""
    charge_d, allowed_d = Decimal(_money(charge)), Decimal(_money(allowed))
    pairs = _pairs(claim.carc_codes) if corrects is None else ([("CO", "45")] if allowed_d < charge_d else [])
    cas, paid = _adjustments(pairs, charge_d, allowed_d)
    if sign < 0:
        for segment in cas:
            segment["monetary_amount_1"] = _money(-float(segment["monetary_amount_1"]))
    procedure = f"HC:{claim.cpt_code}" + (f":{claim.modifier}" if isinstance(claim.modifier, str) else "")
    line = {
        "svc_segment": {
            "composite_medical_procedure_identifier_1": procedure,
            "line_item_charge_amount": _money(sign * charge),
            "line_item_provider_payment_amount": _money(sign * float(paid)),
            "units_of_service_paid_count": str(int(claim.units)),
        },
        "dtm_segment": [{"date_time_qualifier": "472", "production_date": _date(claim.service_date)}],
        "cas_segment": cas,
        "amt_segment": [{"amount_qualifier_code": "B6", "monetary_amount": _money(sign * allowed)}],
    }
    if claim.nsa_eligible:
        line["lq_segment"] = [{"code_list_qualifier_code": "HE", "form_identifier": NSA_REMARK}]
    loop = {
        "clp_segment": {
            "patient_control_number": claim.claim_id,
            "claim_status_code": status,
            "total_claim_charge_amount": _money(sign * charge),
            "claim_payment_amount": _money(sign * float(paid)),
            "claim_filing_indicator_code": _filing_indicator(claim.plan_type, claim.funding),
            "payer_claim_control_number": icn,
        },
        "nm1_segment": [
            {
                "entity_identifier_code": "QC",
                "entity_type_qualifier": "1",
                "name_last_or_organization_name": "SIMULATED",
                "name_first": "PATIENT",
            }
        ],
        "loop_2110": [line],
    }
    refs = [{"reference_identification_qualifier": "F8", "reference_identification": corrects}] if corrects else []
    if refs:
        loop["ref_segment"] = refs
    if pd.notna(claim.qpa_amount) and sign > 0:
        loop["amt_segment"] = [{"amount_qualifier_code": QPA_QUALIFIER, "monetary_amount": _money(claim.qpa_amount)}]
    return loop, sign * paid


def _remit_transaction(payer: str, day, claim_loops: list[dict], total_paid: Decimal, control: int):
    control_number = f"{control:04d}"
    structure = {
        "header": {
            "st_segment": {"transaction_set_identifier_code": "835", "transaction_set_control_number": control_number},
            "bpr_segment": {
                "transaction_handling_code": "I",
                "total_actual_provider_payment_amount": _money(max(total_paid, Decimal("0"))),
                "credit_debit_flag_code": "C",
                "payment_method_code": "CHK",
                "eft_effective_date": _date(day),
            },
            "trn_segment": {
                "trace_type_code": "1",
                "reference_identification_1": f"{control:010d}",
                "originating_company_identifier": "1999999999",
            },
        },
        "loop_1000a": {
            "n1_segment": {"entity_identifier_code": "PR", "name": payer.replace("_", " ")},
            "n3_segment": {"address_information_1": "1 PAYER PLAZA"},
            "n4_segment": {"city_name": "HARTFORD", "state_province_code": "CT", "postal_code": "06101"},
        },
        "loop_1000b": {
            "n1_segment": {
                "entity_identifier_code": "PE",
                "name": PAYEE_NAME,
                "identification_code_qualifier": "XX",
                "identification_code": PAYEE_NPI,
            },
            "n3_segment": {"address_information_1": "2 CLINIC ROAD"},
            "n4_segment": {"city_name": "CAPITAL CITY", "state_province_code": PAYEE_STATE, "postal_code": "20001"},
        },
        "loop_2000": [{"lx_segment": {"assigned_number": "1"}, "loop_2100": claim_loops}],
    }
    return HealthCareClaimPayment.model_validate(_with_footer(structure, control_number))


def _with_footer(structure: dict, control_number: str) -> dict:
    """``structure`` with its SE: SE01 counted by x12sdk's own ``count_segments``."""
    placeholder = {"transaction_segment_count": 1, "transaction_set_control_number": control_number}
    footer = {"se_segment": placeholder}
    count = count_segments({**structure, "footer": footer})
    return {**structure, "footer": {"se_segment": {**placeholder, "transaction_segment_count": count}}}


def _professional_claim(claim, taxonomies: dict[str, str]) -> dict:
    modifier = f":{claim.modifier}" if isinstance(claim.modifier, str) else ""
    line = {
        "lx_segment": {"assigned_number": "1"},
        "sv1_segment": {
            "product_service_id_qualifier": f"HC:{claim.cpt_code}{modifier}",
            "line_item_charge_amount": _money(claim.billed_amount),
            "unit_basis_measurement_code": "UN",
            "service_unit_count": str(int(claim.units)),
            "place_of_service_code": claim.place_of_service,
            "composite_diagnosis_code_pointer": "1",
            "emergency_indicator": "Y" if claim.emergency else None,
        },
        "dtp_segment": [
            {
                "date_time_qualifier": "472",
                "date_time_period_format_qualifier": "D8",
                "date_time_period": _date(claim.service_date),
            }
        ],
    }
    loop = {
        "clm_segment": {
            "patient_control_number": claim.claim_id,
            "total_claim_charge_amount": _money(claim.billed_amount),
            "health_care_service_location_information": f"{claim.place_of_service}:B:1",
            "provider_or_supplier_signature_indicator": "Y",
            "provider_accept_assignment_code": "A",
            "benefit_assignment_certification_indicator": "Y",
            "release_of_information_code": "Y",
        },
        "hi_segment": [{"health_care_code_1": ["ABK", "R69"]}],
        "loop_2310b": {
            "nm1_segment": {
                "entity_identifier_code": "82",
                "entity_type_qualifier": "1",
                "name_last_or_organization_name": "CLINICIAN",
                "name_first": "SIMULATED",
                "identification_code_qualifier": "XX",
                "identification_code": "1999999984",
            },
            "prv_segment": {
                "provider_code": "PE",
                "reference_identification_qualifier": "PXC",
                "reference_identification": taxonomies[claim.specialty],
            },
        },
        "loop_2310c": {
            "nm1_segment": {
                "entity_identifier_code": "77",
                "entity_type_qualifier": "2",
                "name_last_or_organization_name": "SIMULATED FACILITY",
            },
            "n3_segment": {"address_information_1": "3 HOSPITAL DRIVE"},
            "n4_segment": {"city_name": "CAPITAL CITY", "state_province_code": claim.state, "postal_code": "00000"},
        },
        "loop_2400": [line],
    }
    attachments = (("OB", claim.has_clinical_notes), ("CT", claim.has_medical_necessity_letter))
    reports = [code for code, on_file in attachments if on_file]
    if reports:
        loop["pwk_segment"] = [{"report_type_code": code, "report_transmission_code": "BM"} for code in reports]
    if claim.prior_authorization:
        loop["ref_segment"] = [{"reference_identification_qualifier": "G1", "reference_identification": "AUTH"}]
    return loop


def _submission(payer: str, claims: list[dict], control: int):
    control_number = f"{control:04d}"
    subscribers = []
    for number, claim_loop in enumerate(claims, start=2):
        subscribers.append(
            {
                "hl_segment": {
                    "hierarchical_id_number": str(number),
                    "hierarchical_parent_id_number": "1",
                    "hierarchical_level_code": "22",
                    "hierarchical_child_code": "0",
                },
                "sbr_segment": {
                    "payer_responsibility_code": "P",
                    "individual_relationship_code": "18",
                    "claim_filing_indicator_code": "CI",
                },
                "loop_2010ba": {
                    "nm1_segment": {
                        "entity_identifier_code": "IL",
                        "entity_type_qualifier": "1",
                        "name_last_or_organization_name": "SIMULATED",
                        "name_first": "SUBSCRIBER",
                        "identification_code_qualifier": "MI",
                        "identification_code": "SIMULATED",
                    }
                },
                "loop_2010bb": {
                    "nm1_segment": {
                        "entity_identifier_code": "PR",
                        "entity_type_qualifier": "2",
                        "name_last_or_organization_name": payer.replace("_", " "),
                        "identification_code_qualifier": "PI",
                        "identification_code": "SIMPAYER",
                    }
                },
                "loop_2300": [claim_loop],
            }
        )
    structure = {
        "header": {
            "st_segment": {
                "transaction_set_identifier_code": "837",
                "transaction_set_control_number": control_number,
                "implementation_convention_reference": "005010X222A2",
            },
            "bht_segment": {
                "hierarchical_structure_code": "0019",
                "transaction_set_purpose_code": "00",
                "submitter_transactional_identifier": control_number,
                "transaction_set_creation_date": _date(CREATED),
                "transaction_set_creation_time": "1200",
                "transaction_type_code": "CH",
            },
        },
        "loop_1000a": {
            "nm1_segment": {
                "entity_identifier_code": "41",
                "entity_type_qualifier": "2",
                "name_last_or_organization_name": PAYEE_NAME,
                "identification_code_qualifier": "46",
                "identification_code": "123456789",
            },
            "per_segment": [
                {
                    "contact_function_code": "IC",
                    "name": "BILLING",
                    "communication_number_qualifier_1": "TE",
                    "communication_number_1": "5555550100",
                }
            ],
        },
        "loop_1000b": {
            "nm1_segment": {
                "entity_identifier_code": "40",
                "entity_type_qualifier": "2",
                "name_last_or_organization_name": payer.replace("_", " "),
                "identification_code_qualifier": "46",
                "identification_code": "SIMPAYER",
            }
        },
        "loop_2000a": [
            {
                "hl_segment": {
                    "hierarchical_id_number": "1",
                    "hierarchical_level_code": "20",
                    "hierarchical_child_code": "1",
                },
                "loop_2010aa": {
                    "nm1_segment": {
                        "entity_identifier_code": "85",
                        "entity_type_qualifier": "2",
                        "name_last_or_organization_name": PAYEE_NAME,
                        "identification_code_qualifier": "XX",
                        "identification_code": PAYEE_NPI,
                    },
                    "n3_segment": {"address_information_1": "2 CLINIC ROAD"},
                    "n4_segment": {
                        "city_name": "CAPITAL CITY",
                        "state_province_code": PAYEE_STATE,
                        "postal_code": "20001",
                    },
                    "ref_segment": [
                        {"reference_identification_qualifier": "EI", "reference_identification": "123456789"}
                    ],
                },
                "loop_2000b": subscribers,
            }
        ],
    }
    return HealthCareClaimProfessional.model_validate(_with_footer(structure, control_number))


def _events(history: pd.DataFrame) -> list[tuple]:
    """(payer, date, order, claim row, allowed, status, icn, corrects, sign) for every CLP to write: each
    claim's initial adjudication, then for each successful attempt a reversal and a correction."""
    claims = history.drop_duplicates("claim_id").set_index("claim_id", drop=False)
    events = []
    for claim in claims.itertuples(index=False):
        status = "1" if claim.initial_allowed_amount > 0 else "4"
        icn = f"{claim.claim_id}-0"
        events.append(
            (claim.payer_id, claim.initial_payment_date, 0, claim, claim.initial_allowed_amount, status, icn, None, 1)
        )
    if "level" not in history:  # a worklist: initial adjudications only
        return events
    levels = history["level"].map(parse_level).astype("int64")
    attempts = derive_attempts(history.drop(columns=["prior_level"], errors="ignore").assign(level=levels))
    raised = attempts[attempts["success"]].sort_values(["claim_id", "submitted_date"], kind="stable")
    standing: dict[str, tuple[str, float]] = {}
    for row in raised.itertuples(index=False):
        claim = claims.loc[row.claim_id]
        icn, allowed = standing.get(row.claim_id, (f"{row.claim_id}-0", claim.initial_allowed_amount))
        new_icn = f"{row.claim_id}-{int(icn.rsplit('-', 1)[1]) + 1}"
        events.append((claim.payer_id, row.resolved_date, 1, claim, allowed, "22", icn, None, -1))
        events.append((claim.payer_id, row.resolved_date, 2, claim, row.final_allowed_amount, "1", new_icn, icn, 1))
        standing[row.claim_id] = (new_icn, row.final_allowed_amount)
    return events


def _apply(function, *args):
    """``function(*args)``: one pool writes both kinds of file."""
    return function(*args)


def _write_remit_file(path: Path, payer: str, transactions: list[tuple], control: int) -> None:
    """One 835 file: a transaction per (payment date, claim loops), control numbers from ``control`` on."""
    models = []
    for number, (day, loops) in enumerate(transactions, start=control):
        total = sum((paid for _, paid in loops), Decimal("0"))
        models.append(_remit_transaction(payer, day, [loop for loop, _ in loops], total, number))
    write_transactions(models, sender_id=SENDER, receiver_id=RECEIVER, created=CREATED, path=str(path))


def _write_claim_file(path: Path, payer: str, claim_loops: list[dict], control: int) -> None:
    """One 837P file: one transaction of ``claim_loops``."""
    model = _submission(payer, claim_loops, control)
    write_transactions([model], sender_id=RECEIVER, receiver_id=SENDER, created=CREATED, path=str(path))


def write_x12(history: pd.DataFrame, directory: Path, *, submissions: bool = True, workers: int = 1) -> X12Files:
    """Write the history's (or a worklist's) claims as 835 and, with ``submissions``, 837P files, and a
    history's attempts as an appeals log. ``workers`` processes build and write the files side by side;
    the bytes are the same for any number (control numbers are given out here, in file order)."""
    directory = Path(directory)
    remit_dir, claim_dir = directory / "remits", directory / "claims"
    remit_dir.mkdir(parents=True, exist_ok=True)
    claim_dir.mkdir(parents=True, exist_ok=True)
    taxonomies: dict[str, str] = {}
    for taxonomy, specialty in taxonomy_specialties().items():
        taxonomies.setdefault(specialty, taxonomy)

    by_file: dict[tuple[str, str], dict] = defaultdict(lambda: defaultdict(list))
    events = sorted(_events(history), key=lambda event: (event[0], pd.Timestamp(event[1]), event[2]))
    for payer, day, _, claim, allowed, status, icn, corrects, sign in events:
        month = pd.Timestamp(day).strftime("%Y-%m")
        by_file[(payer, month)][pd.Timestamp(day)].append(
            _remit_claim(claim, claim.billed_amount, allowed, status, icn, corrects, sign)
        )
    remits, remit_calls, control, adjudications = [], [], 0, 0
    for (payer, month), transactions in sorted(by_file.items()):
        path = remit_dir / f"{payer}_{month}.835"
        remit_calls.append((path, payer, list(transactions.items()), control + 1))
        control += len(transactions)
        adjudications += sum(len(loops) for loops in transactions.values())
        remits.append(path)

    claims = history.drop_duplicates("claim_id")
    claim_files, claim_calls = [], []
    months = pd.to_datetime(claims["service_date"]).dt.strftime("%Y-%m")
    for (payer, month), group in claims.groupby([claims["payer_id"], months], sort=True) if submissions else ():
        control += 1
        path = claim_dir / f"{payer}_{month}.837"
        claim_calls.append(
            (path, payer, [_professional_claim(claim, taxonomies) for claim in group.itertuples(index=False)], control)
        )
        claim_files.append(path)
    calls = [(_write_remit_file, *call) for call in remit_calls] + [(_write_claim_file, *call) for call in claim_calls]
    list(map_calls(_apply, calls, workers))

    if "level" not in history:
        return X12Files(remits, claim_files, None, len(claims), adjudications)
    log = history[list(LOG_HEADERS)].rename(columns=LOG_HEADERS)
    for column in LOG_CLAIM_COLUMNS:
        log[column.replace("_", " ").title()] = history[column].to_numpy()
    appeals = directory / "appeals.csv"
    log.to_csv(appeals, index=False, date_format="%Y-%m-%d")
    return X12Files(remits, claim_files, appeals, len(claims), adjudications)
