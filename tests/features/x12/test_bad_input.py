"""Bad input becomes report entries naming file, segment position, claim and rule; the rest imports."""

from __future__ import annotations

from features.x12 import ImportOptions, import_x12
from tests.features.x12.builders import claim, interchange, remit

DEFAULTS = {"place_of_service": "23", "specialty": "emergency_medicine"}


def run(tmp_path, files: dict[str, str], **options):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return import_x12([tmp_path], ImportOptions(defaults=DEFAULTS, **options))


def good() -> str:
    return interchange(remit(claim("GOOD1")))


def entries(imported, rule_part: str):
    return [problem for problem in imported.report.problems if rule_part in problem.rule]


def test_a_file_that_is_not_x12_is_reported_and_the_others_import(tmp_path):
    imported = run(tmp_path, {"a.835": good(), "notes.csv": "claim_id,level\nC1,1\n"})
    (entry,) = entries(imported, "not an X12 interchange")
    assert entry.file.endswith("notes.csv") and entry.severity == "error"
    assert list(imported.result.claims["claim_id"]) == ["GOOD1"]


def test_a_truncated_interchange_names_its_transaction_and_keeps_complete_ones(tmp_path):
    complete = remit(claim("DONE"), control="0001")
    cut = remit(claim("CUT1"), claim("CUT2"), control="0002")[:-3]  # the last segments never arrived
    text = interchange(complete).split("GE*")[0] + "~\n".join(cut) + "~\n"
    imported = run(tmp_path, {"cut.835": text})
    (transaction,) = entries(imported, "truncated transaction")
    assert transaction.segment == 19 and "2 claim(s) lost" in transaction.detail  # its ST
    assert entries(imported, "truncated interchange: no IEA")
    assert list(imported.result.claims["claim_id"]) == ["DONE"]


def test_a_wrong_se_count_is_reported_at_the_se_and_the_claims_are_imported(tmp_path):
    text = good().replace("SE*16*0001", "SE*15*0001")
    imported = run(tmp_path, {"count.835": text})
    (entry,) = entries(imported, "wrong SE segment count")
    assert entry.segment == 18 and "15 != actual count 16" in entry.detail
    assert list(imported.result.claims["claim_id"]) == ["GOOD1"]


def test_a_non_numeric_clp_amount_fails_only_its_claim(tmp_path):
    bad = claim("BAD1", charge="1000.00")
    bad[0] = bad[0].replace("*1000.00*", "*10O0.00*")
    imported = run(tmp_path, {"amount.835": interchange(remit(claim("OK1"), bad, claim("OK2")))})
    (entry,) = entries(imported, "invalid claim")
    assert (entry.claim_id, entry.segment) == ("BAD1", 18)
    assert "clp_segment.total_claim_charge_amount" in entry.detail and "'10O0.00'" in entry.detail
    assert sorted(imported.result.claims["claim_id"]) == ["OK1", "OK2"]


def test_an_unknown_carc_is_a_warning_and_the_code_is_kept(tmp_path):
    odd = claim("ODD", lines=[["SVC*HC:99285*1000*300**1", "DTM*472*20250201", "CAS*CO*Z99*700"]])
    imported = run(tmp_path, {"carc.835": interchange(remit(odd))})
    (entry,) = entries(imported, "unknown CARC")
    assert (entry.claim_id, entry.segment, entry.detail, entry.severity) == ("ODD", 13, "CO-Z99", "warning")
    assert imported.result.claims["carc_codes"].tolist() == ["CO-Z99"]


def test_an_835_claim_with_no_matching_837_is_reported(tmp_path):
    submitted = tmp_path / "claims.837"
    submitted.write_text(good().replace("GOOD1", "OTHER"))  # an 835, so it also says it is in the wrong place
    remits = tmp_path / "remits"
    remits.mkdir()
    (remits / "a.835").write_text(good())
    imported = import_x12([remits], ImportOptions(defaults=DEFAULTS, claims_837=[submitted]))
    (entry,) = entries(imported, "no matching 837")
    assert (entry.claim_id, entry.segment, entry.severity) == ("GOOD1", 13, "warning")
    assert entries(imported, "an 835 among the 837 files")
    assert list(imported.result.claims["claim_id"]) == ["GOOD1"]


def test_a_zero_amount_adjustment_is_reported_as_x12sdk_rejects_it(tmp_path):
    # x12sdk 2.2 treats a CAS amount of 0 as missing; the claim is reported, its neighbours import
    zero = claim("ZERO", lines=[["SVC*HC:99285*1000*300**1", "DTM*472*20250201", "CAS*CO*45*700", "CAS*OA*23*0"]])
    imported = run(tmp_path, {"zero.835": interchange(remit(zero, claim("FINE")))})
    (entry,) = entries(imported, "invalid claim")
    assert entry.claim_id == "ZERO" and "Adjustment set 1" in entry.detail
    assert list(imported.result.claims["claim_id"]) == ["FINE"]


def test_an_unsupported_transaction_set_is_reported(tmp_path):
    text = good().replace("ST*835*0001", "ST*270*0001").replace("005010X221A1", "005010X279A1")
    imported = run(tmp_path, {"eligibility.x12": text})
    assert entries(imported, "unsupported transaction set")
    assert imported.result.claims.empty
