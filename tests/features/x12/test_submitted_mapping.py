"""837P enrichment rules on small hand-built files: what an 835 lacks, matched by CLP01 = CLM01."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.x12 import ImportOptions, import_x12
from tests.features.x12.builders import (
    claim,
    interchange,
    professional_claim,
    remit,
    remit_header,
    submission,
    subscriber,
)


def run(tmp_path, remits: list[list[str]], claims_837: list[list[str]], header=None, **options):
    (tmp_path / "r.835").write_text(interchange(remit(*remits, header=header)))
    (tmp_path / "c.837").write_text(
        interchange(submission(subscriber(2, claims_837)), version="005010X222A2", functional="HC")
    )
    imported = import_x12([tmp_path / "r.835"], ImportOptions(claims_837=[tmp_path / "c.837"], **options))
    return imported.result.claims.set_index("claim_id"), imported


def test_837_supplies_place_state_specialty_emergency(tmp_path):
    claims, imported = run(tmp_path, [claim("A")], [professional_claim("A")], header=remit_header(payee_state="TX"))
    row = claims.loc["A"]
    assert imported.report.ok, imported.report.to_text()
    assert row["place_of_service"] == "23"  # SV105 absent: CLM05-1
    assert row["state"] == "NM"  # the service facility (2310C N4) wins over the payee's address
    assert row["specialty"] == "emergency_medicine"  # rendering PRV*PE*PXC taxonomy 207P00000X
    assert bool(row["emergency"]) is True  # SV109 = Y
    assert imported.report.matched_837 == 1


def test_line_place_of_service_billed_modifier_and_units_come_from_the_matched_837_line(tmp_path):
    remits = [claim("B", lines=[["SVC*HC:99284*1000*300**1*HC:70450", "DTM*472*20250201", "CAS*CO*45*700"]])]
    lines = [["SV1*HC:99213*100*UN*1*11**1"], ["SV1*HC:70450:26:59*1000*UN*2*22**1"]]
    claims, _ = run(tmp_path, remits, [professional_claim("B", charge="1100", place="11", lines=lines)])
    row = claims.loc["B"]
    assert (row["cpt_code"], row["modifier"], row["units"], row["place_of_service"]) == ("70450", "26", 2, "22")
    assert bool(row["emergency"]) is False


def test_attachments_and_prior_authorization_from_pwk_and_ref_g1(tmp_path):
    extra = ["PWK*OB*BM***AC*DOC1", "PWK*CT*BM***AC*DOC2", "REF*G1*AUTH1"]
    claims, _ = run(tmp_path, [claim("C")], [professional_claim("C", extra=extra)])
    row = claims.loc["C"]
    assert (bool(row["has_clinical_notes"]), bool(row["has_medical_necessity_letter"])) == (True, True)
    assert bool(row["prior_authorization"]) is True


def test_billing_provider_state_and_taxonomy_are_the_fallbacks(tmp_path):
    claims, _ = run(
        tmp_path,
        [claim("D")],
        [professional_claim("D", rendering_taxonomy=None, facility_state=None)],
        header=remit_header(payee_state="OK"),
    )
    assert claims.loc["D", "state"] == "TX"  # 2010AA billing provider N4
    assert pd.isna(claims.loc["D", "specialty"])  # no taxonomy anywhere: left empty (the column is optional)


def test_a_later_submission_of_the_same_claim_replaces_the_earlier_one(tmp_path):
    first = professional_claim("E", place="11", lines=[["SV1*HC:99285*1000*UN*1***1"]])
    second = professional_claim("E", place="23")
    claims, _ = run(tmp_path, [claim("E")], [first, second])
    assert claims.loc["E", "place_of_service"] == "23"


def test_an_837i_from_x12sdk_supplies_place_from_the_type_of_bill_and_the_billing_state(tmp_path):
    institutional = Path(__file__).parents[2] / "fixtures" / "x12" / "x12sdk" / "generated-subscriber-patients.837i"
    line = ["SVC*HC:36415*715.69*500**1", "DTM*472*20250209", "CAS*CO*45*215.69"]
    (tmp_path / "r.835").write_text(interchange(remit(claim("PCN000001", charge="715.69", paid="500", lines=[line]))))
    imported = import_x12([tmp_path / "r.835"], ImportOptions(claims_837=[institutional]))
    row = imported.result.claims.set_index("claim_id").loc["PCN000001"]
    assert imported.report.ok, imported.report.to_text()
    assert row["place_of_service"] == "22"  # type of bill 13x: hospital outpatient
    assert row["state"] == "NY"  # no service facility loop: the billing provider's state
    assert bool(row["emergency"]) is False  # CL101 = 3 (elective), revenue code 0510
