"""The reversal rule (linked, never double counted) and the screening rule."""

from __future__ import annotations

from features.reference import medicare_amount
from features.x12 import ImportOptions, import_x12
from tests.features.x12.builders import claim, interchange, remit, remit_header

DEFAULTS = {"place_of_service": "23", "specialty": "emergency_medicine"}


def paid(claim_id: str, allowed: float, status: str = "1", icn: str = "ICN1", extra=None, charge: float = 1000.0):
    sign = -1 if status == "22" else 1
    lines = [
        [
            f"SVC*HC:99285*{sign * charge:.2f}*{sign * allowed:.2f}**1",
            "DTM*472*20250201",
            f"CAS*CO*45*{sign * (charge - allowed):.2f}",
        ]
    ]
    return claim(
        claim_id,
        status=status,
        charge=f"{sign * charge:.2f}",
        paid=f"{sign * allowed:.2f}",
        icn=icn,
        extra=extra,
        lines=lines,
    )


def files(tmp_path, *remits: tuple[str, list]):
    """One 835 file per (payment date, claims)."""
    paths = []
    for number, (day, claims) in enumerate(remits):
        path = tmp_path / f"{number}.835"
        path.write_text(interchange(remit(*claims, header=remit_header(bpr_date=day))))
        paths.append(path)
    return paths


def test_a_reversal_and_its_corrected_claim_are_linked_not_double_counted(tmp_path):
    paths = files(
        tmp_path,
        ("20250301", [paid("A", 300.0), paid("B", 200.0)]),
        ("20250601", [paid("A", 300.0, status="22"), paid("A", 900.0, icn="ICN2", extra=["REF*F8*ICN1"])]),
    )
    imported = import_x12(paths, ImportOptions(defaults=DEFAULTS))
    claims = imported.result.claims.set_index("claim_id")
    assert sorted(claims.index) == ["A", "B"]  # one claim each, however many CLPs
    assert claims.loc["A", "initial_allowed_amount"] == 300.0  # the first adjudication
    assert str(claims.loc["A", "initial_payment_date"].date()) == "2025-03-01"
    later = imported.result.readjudications
    assert later.to_dict("records") == [{"claim_id": "A", "payment_date": later["payment_date"][0], "allowed": 900.0}]
    assert str(later["payment_date"][0]) == "2025-06-01"
    assert (imported.report.adjudications, imported.report.reversals, imported.report.readjudications) == (4, 1, 1)
    assert imported.report.ok, imported.report.to_text()


def test_files_given_in_any_order_link_by_payment_date(tmp_path):
    paths = files(
        tmp_path,
        ("20250601", [paid("A", 300.0, status="22"), paid("A", 900.0, icn="ICN2")]),
        ("20250301", [paid("A", 300.0)]),
    )
    imported = import_x12(paths, ImportOptions(defaults=DEFAULTS))
    assert imported.result.claims["initial_allowed_amount"].tolist() == [300.0]
    assert imported.result.readjudications["allowed"].tolist() == [900.0]


def test_the_same_remit_read_twice_is_ignored_once_and_reported(tmp_path):
    paths = files(tmp_path, ("20250301", [paid("A", 300.0)]), ("20250301", [paid("A", 300.0)]))
    imported = import_x12(paths, ImportOptions(defaults=DEFAULTS))
    assert len(imported.result.claims) == 1 and imported.result.readjudications.empty
    assert imported.report.duplicates == 1
    assert [problem.severity for problem in imported.report.problems] == ["warning"]


def test_a_reversal_with_nothing_to_reverse_is_reported(tmp_path):
    paths = files(tmp_path, ("20250601", [paid("A", 300.0, status="22")]))
    imported = import_x12(paths, ImportOptions(defaults=DEFAULTS))
    assert imported.result.claims.empty
    rules = [problem.rule for problem in imported.report.problems]
    assert any("not in the input" in rule for rule in rules) and any("only reversals" in rule for rule in rules)


def test_screening_by_qpa_medicare_multiple_payer_override_network_and_denial(tmp_path):
    medicare = float(medicare_amount(["99285"], [None], ["23"], ["TX"]).iloc[0])
    low, high = round(1.2 * medicare, 2), round(1.8 * medicare, 2)
    denied = claim(
        "DENIED", status="4", paid="0", lines=[["SVC*HC:99285*1000*0**1", "DTM*472*20250201", "CAS*CO*50*1000"]]
    )
    claims = [
        paid("LOW", low),  # below 1.5 x Medicare
        paid("HIGH", high),  # at or above
        paid("BELOW_QPA", high, extra=[f"AMT*AU*{high + 50:.2f}"]),  # the QPA is the benchmark where given
        paid("ABOVE_QPA", low, extra=[f"AMT*AU*{low - 50:.2f}"]),
        denied,
        claim("UNPRICED", lines=[["SVC*HC:0001U*1000*300**1", "DTM*472*20250201", "CAS*CO*45*700"]]),
    ]
    path = tmp_path / "a.835"
    path.write_text(interchange(remit(*claims)))
    imported = import_x12([path], ImportOptions(defaults=DEFAULTS))
    outcome = dict(zip(imported.result.claims["claim_id"], imported.result.screening["outcome"], strict=True))
    assert outcome == {
        "LOW": "underpaid",
        "HIGH": "paid_as_expected",
        "BELOW_QPA": "underpaid",
        "ABOVE_QPA": "paid_as_expected",
        "DENIED": "denied",
        "UNPRICED": "underpaid",
    }
    assert sorted(imported.result.candidates["claim_id"]) == ["BELOW_QPA", "DENIED", "LOW", "UNPRICED"]
    assert sum(imported.report.screening.values()) == 6  # every claim counted, by outcome and reason
    assert imported.report.screening[("underpaid", "allowed below the QPA")] == 1

    # a per-payer multiple moves the benchmark; an in-network payer is screened out
    user_map = tmp_path / "map.csv"
    user_map.write_text("match,payer_id,medicare_multiple\nACME HEALTH PLAN,ACME,1.1\n")
    again = import_x12([path], ImportOptions(defaults=DEFAULTS, payer_map=user_map))
    assert dict(zip(again.result.claims["claim_id"], again.result.screening["outcome"], strict=True))["LOW"] == (
        "paid_as_expected"
    )
    user_map.write_text("match,payer_id,network\nACME HEALTH PLAN,ACME,in\n")
    contracted = import_x12([path], ImportOptions(defaults=DEFAULTS, payer_map=user_map))
    assert set(contracted.result.screening["outcome"]) == {"not_out_of_network"}
    assert contracted.result.candidates.empty
