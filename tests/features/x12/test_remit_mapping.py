"""Every 835 mapping rule on small hand-built files (docs/x12.md, field by field)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.x12 import ImportOptions, import_x12
from tests.features.x12.builders import claim, interchange, remit, remit_header

DEFAULTS = {"place_of_service": "23", "specialty": "emergency_medicine"}


def run(tmp_path, *texts, defaults=DEFAULTS, payer_map=None, **options):
    paths = []
    for number, text in enumerate(texts):
        path = tmp_path / f"remit{number}.835"
        path.write_text(text)
        paths.append(path)
    return import_x12(paths, ImportOptions(defaults=dict(defaults), payer_map=payer_map, **options))


def one_claim(tmp_path, *claims, header=None, **kwargs):
    imported = run(tmp_path, interchange(remit(*claims, header=header)), **kwargs)
    return imported.result.claims.set_index("claim_id"), imported


def test_a_plain_claim_maps_every_contract_column(tmp_path):
    claims, imported = one_claim(tmp_path, claim())
    assert imported.report.ok, imported.report.to_text()
    row = claims.loc["ACCT1"]
    assert row["payer_id"] == "ACME_HEALTH_PLAN"  # N1*PR name, normalised, not in the payer map
    assert (row["plan_type"], row["funding"]) == ("PPO", "unknown")  # CLP06 = 12
    assert row["state"] == "TX"  # payee N1*PE N4: the documented fallback
    assert row["billed_amount"] == 1000.0  # CLP03
    assert row["initial_allowed_amount"] == 300.0  # CLP04 + patient share (none)
    assert row["initial_payment_date"] == pd.Timestamp("2025-03-01")  # BPR16
    assert row["service_date"] == pd.Timestamp("2025-02-01")  # line DTM*472
    assert row["cpt_code"] == "99285" and pd.isna(row["modifier"]) and row["units"] == 1
    assert row["carc_codes"] == "CO-45"
    assert bool(row["emergency"]) is True  # place of service 23 (here a --default)
    assert bool(row["nsa_eligible"]) is False  # no NSA remark code
    assert imported.report.unmapped_payers == {"ACME_HEALTH_PLAN": 1}


def test_payer_map_matches_payer_id_then_name_and_a_user_file_wins(tmp_path):
    by_id = claim("A", lines=[["SVC*HC:99285*1000*300**1", "DTM*472*20250201", "CAS*CO*45*700"]])
    claims, imported = one_claim(tmp_path, by_id, header=remit_header(payer="N1*PR*SOME NAME*XV*87726"))
    assert claims.loc["A", "payer_id"] == "UNITEDHEALTHCARE" and not imported.report.unmapped_payers
    claims, _ = one_claim(tmp_path, by_id, header=remit_header(payer="N1*PR*Aetna  Life Insurance Company"))
    assert claims.loc["A", "payer_id"] == "AETNA"
    user_map = tmp_path / "payers.csv"
    user_map.write_text("match,payer_id\nAETNA LIFE INSURANCE COMPANY,aetna east\n")
    claims, _ = one_claim(
        tmp_path, by_id, header=remit_header(payer="N1*PR*AETNA LIFE INSURANCE COMPANY"), payer_map=user_map
    )
    assert claims.loc["A", "payer_id"] == "AETNA_EAST"


def test_allowed_is_amt_b6_else_paid_plus_patient_share_and_zero_when_denied(tmp_path):
    with_b6 = claim(
        "B6",
        paid="250",
        lines=[["SVC*HC:99285*1000*250**1", "DTM*472*20250201", "CAS*CO*45*700", "CAS*PR*2*50", "AMT*B6*310"]],
    )
    with_share = claim(
        "PR", paid="250", lines=[["SVC*HC:99285*1000*250**1", "DTM*472*20250201", "CAS*CO*45*700", "CAS*PR*2*50"]]
    )
    denied = claim(
        "DENIED", status="4", paid="0", lines=[["SVC*HC:99285*1000*0**1", "DTM*472*20250201", "CAS*CO*50*1000"]]
    )
    claims, imported = one_claim(tmp_path, with_b6, with_share, denied)
    assert imported.report.problems == [], imported.report.to_text()
    assert claims.loc["B6", "initial_allowed_amount"] == 310.0
    assert claims.loc["PR", "initial_allowed_amount"] == 300.0
    assert claims.loc["PR", "carc_codes"] == "CO-45,PR-2"
    assert claims.loc["DENIED", "initial_allowed_amount"] == 0.0


def test_every_cas_pair_claim_and_line_level_in_file_order(tmp_path):
    lines = [
        ["SVC*HC:99285*600*100**1", "DTM*472*20250201", "CAS*CO*97*400", "CAS*PR*1*100"],
        ["SVC*HC:99284*400*100**1", "DTM*472*20250201", "CAS*CO*45*240**253*50", "CAS*OA*23*10"],
    ]
    claims, imported = one_claim(tmp_path, claim("C", extra=["CAS*CO*16*50"], paid="150", lines=lines))
    # claim level first, then each line; every pair of a CAS segment (up to six); each pair once
    assert claims.loc["C", "carc_codes"] == "CO-16,CO-97,PR-1,CO-45,CO-253,OA-23", imported.report.to_text()


def test_multi_line_claims_keep_the_highest_billed_line_for_amounts_and_codes(tmp_path):
    lines = [
        ["SVC*HC:99284:25*400*100**1", "DTM*472*20250203", "CAS*CO*45*300"],
        ["SVC*HC:70450:26*600*150**2", "DTM*472*20250201", "CAS*CO*45*450"],
    ]
    claims, imported = one_claim(tmp_path, claim("M", paid="250", extra=["AMT*AU*500"], lines=lines))
    row = claims.loc["M"]
    assert (row["cpt_code"], row["modifier"], row["units"]) == ("70450", "26", 2)
    # numerator and denominator over the same line: its charge and its allowed amount
    assert (row["billed_amount"], row["initial_allowed_amount"]) == (600.0, 150.0)
    assert pd.isna(row["qpa_amount"])  # a claim-level QPA cannot be given to one line of several
    assert row["service_date"] == pd.Timestamp("2025-02-01")  # the earliest line date
    assert imported.report.multi_line == 1


def test_service_date_claim_statement_date_wins_then_line_472_then_line_150(tmp_path):
    statement = claim("S232", extra=["DTM*232*20250105"])
    period = claim(
        "S150", lines=[["SVC*HC:99285*1000*300**1", "DTM*150*20250107", "DTM*151*20250108", "CAS*CO*45*700"]]
    )
    claims, _ = one_claim(tmp_path, statement, period)
    assert claims.loc["S232", "service_date"] == pd.Timestamp("2025-01-05")
    assert claims.loc["S150", "service_date"] == pd.Timestamp("2025-01-07")


def test_payment_date_falls_back_to_dtm_405(tmp_path):
    claims, _ = one_claim(tmp_path, claim(), header=remit_header(bpr_date=None, dtm405="20250310"))
    assert claims.loc["ACCT1", "initial_payment_date"] == pd.Timestamp("2025-03-10")


def test_nsa_remark_codes_from_lq_he_or_moa_mark_nsa_eligible(tmp_path):
    line_remark = claim("LQ", lines=[["SVC*HC:99285*1000*300**1", "DTM*472*20250201", "CAS*CO*45*700", "LQ*HE*N864"]])
    claim_remark = claim("MOA", extra=["MOA***N870"])
    other_remark = claim("OTHER", extra=["MOA***M15"])
    claims, _ = one_claim(tmp_path, line_remark, claim_remark, other_remark)
    assert claims["nsa_eligible"].to_dict() == {"LQ": True, "MOA": True, "OTHER": False}


def test_qpa_from_claim_amt_au(tmp_path):
    claims, _ = one_claim(tmp_path, claim("Q", extra=["AMT*AU*420.50"]))
    assert claims.loc["Q", "qpa_amount"] == 420.5


@pytest.mark.parametrize(
    ("filing", "plan_type", "funding"),
    [("12", "PPO", "unknown"), ("HM", "HMO", "unknown"), ("MC", "UNKNOWN", "government"), ("ZZ", "UNKNOWN", "unknown")],
)
def test_clp06_gives_plan_type_and_funding_where_it_determines_them(tmp_path, filing, plan_type, funding):
    claims, _ = one_claim(tmp_path, claim("F", filing=filing))
    assert (claims.loc["F", "plan_type"], claims.loc["F", "funding"]) == (plan_type, funding)


def test_a_recoded_line_keeps_the_billed_code_from_svc06(tmp_path):
    line = ["SVC*HC:99284*1000*300**1*HC:99285", "DTM*472*20250201", "CAS*CO*45*700"]
    claims, _ = one_claim(tmp_path, claim("R", lines=[line]))
    assert claims.loc["R", "cpt_code"] == "99285"


def test_prior_authorization_from_ref_g1(tmp_path):
    claims, _ = one_claim(tmp_path, claim("G", extra=["REF*G1*AUTH42"]), claim("N"))
    assert claims["prior_authorization"].to_dict() == {"G": True, "N": False}


def test_state_needs_a_source_or_a_default(tmp_path):
    claims, imported = one_claim(tmp_path, claim(), header=remit_header(payee_state=None))
    assert claims.empty
    assert "column 'state'" in str(imported.report.errors[0]) and "--default" in str(imported.report.errors[0])
    claims, _ = one_claim(
        tmp_path, claim(), header=remit_header(payee_state=None), defaults={**DEFAULTS, "state": "NM"}
    )
    assert claims.loc["ACCT1", "state"] == "NM"


def test_separators_are_the_ones_the_isa_declares(tmp_path):
    text = interchange(remit(claim(lines=[["SVC*HC:99285:25*1000*300**1", "DTM*472*20250201", "CAS*CO*45*700"]])))
    text = text.replace("*", "|").replace(":", ">").replace("~\n", "^\n").replace("|^|", "|~|")
    text = text.replace("|~|00501", "|^|00501")  # ISA11 stays the repetition separator
    imported = run(tmp_path, text.replace("^\n", "\r\n").replace("\r\n", "^"))
    claims = imported.result.claims.set_index("claim_id")
    assert claims.loc["ACCT1", "modifier"] == "25", imported.report.to_text()


def test_several_transactions_and_groups_in_one_file_all_import(tmp_path):
    first = remit(claim("T1"), control="0001")
    second = remit(claim("T2"), control="0002")
    imported = run(tmp_path, interchange(first, second))
    assert sorted(imported.result.claims["claim_id"]) == ["T1", "T2"]
    assert imported.report.transactions == 2 and imported.report.ok
