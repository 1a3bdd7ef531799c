"""The API request model is generated from the data contract, and the API and files share every rule."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from pydantic import BaseModel, ValidationError

from features.requests import (
    EXAMPLE_CLAIM,
    ClaimRequest,
    printable,
    pydantic_errors,
    request_problem_errors,
    to_frame,
    unknown_fields,
    unknown_fields_warning,
    validate_requests,
)
from features.schema import REQUEST_TABLE, Kind
from features.validation import validate_claims
from service.app import create_app
from service.settings import Settings


def test_every_contract_column_is_a_field_with_its_declaration():
    schema = ClaimRequest.model_json_schema()
    assert list(ClaimRequest.model_fields) == [column.name for column in REQUEST_TABLE]
    assert sorted(schema["required"]) == sorted(column.name for column in REQUEST_TABLE if column.required)
    for column in REQUEST_TABLE:
        field = schema["properties"][column.name]
        assert column.description in field["description"] and column.rule in field["description"]
        options = field.get("anyOf", [field])
        if column.example is not None:
            assert field["examples"] == [column.example]
        if column.choices:
            assert any(option.get("enum") == list(column.choices) for option in options)
        if column.pattern:
            assert any(option.get("pattern") == f"^(?:{column.pattern})$" for option in options)
        if column.kind is Kind.FLOAT and column.minimum is not None:
            key = "exclusiveMinimum" if column.exclusive else "minimum"
            assert any(option.get(key) == column.minimum for option in options)
        if column.kind is Kind.DATE:
            assert any(option.get("format") == "date" for option in options)


def test_the_example_is_valid_and_matches_the_openapi_document():
    claim = ClaimRequest.model_validate(EXAMPLE_CLAIM)
    assert validate_requests([claim]).report.rows_kept == 1
    document = create_app(Settings(reload_interval_seconds=0)).openapi()
    body = document["paths"]["/v1/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ClaimRequest"}
    assert document["components"]["schemas"]["ClaimRequest"]["examples"] == [EXAMPLE_CLAIM]


def _api_verdict(raw: dict) -> set[tuple[str, str]]:
    """(column, rule) of every problem the API finds: pydantic first, then the table validator."""
    try:
        claim = ClaimRequest.model_validate(raw)
    except ValidationError as invalid:
        return {(item["loc"][-1], item["msg"]) for item in pydantic_errors(invalid.errors())}
    errors = request_problem_errors(validate_requests([claim]), ()).get(1, [])
    return {(item["loc"][-1], item["msg"]) for item in errors}


def _file_verdict(raw: dict) -> set[tuple[str, str]]:
    """(column, rule) of every problem the file validator finds in the same values read from a CSV."""

    def text(value):
        if value is None:
            return None
        return str(value).lower() if isinstance(value, bool) else str(value)

    as_text = {name: text(value) for name, value in raw.items()}
    frame = pd.DataFrame([as_text], index=pd.Index([1], name="row"))
    return {(problem.column, problem.rule) for problem in validate_claims(frame).report.problems}


MUTATIONS = [
    {},
    {"claim_id": ""},
    {"claim_id": "   "},
    {"payer_id": None},
    {"plan_type": "GOLD"},
    {"plan_type": "hmo"},
    {"funding": "Self_Funded"},
    {"state": "XX"},
    {"state": "tx"},
    {"place_of_service": "2"},
    {"cpt_code": "9928"},
    {"cpt_code": "j1234"},
    {"modifier": "ABC"},
    {"units": 0},
    {"units": "2.5"},
    {"specialty": "Emergency Medicine"},
    {"emergency": "maybe"},
    {"emergency": "yes"},
    {"service_date": "2026-02-30"},
    {"service_date": "03/02/2026"},
    {"service_date": "2100-01-01", "as_of_date": None, "initial_payment_date": None},
    {"billed_amount": 0},
    {"billed_amount": "abc"},
    {"initial_allowed_amount": -1},
    {"initial_allowed_amount": 5000.0, "current_allowed_amount": 10.0},
    {"qpa_amount": 0},
    {"carc_codes": "45"},
    {"carc_codes": "co-45, pr-2"},
    {"current_level": "supreme_court"},
    {"current_level": 2},
    {"current_level": "legal"},
    {"current_allowed_amount": 99999.0},
    {"initial_payment_date": "2026-01-01"},
    {"current_level": "reconsideration", "current_level_date": "2026-05-01", "as_of_date": "2026-04-10"},
    # the rules of features.values, one verdict whichever way a value arrives
    {"emergency": "on"},
    {"emergency": "OFF"},
    {"emergency": 1},
    {"emergency": 2},
    {"emergency": "Y"},
    {"service_date": "2026-3-2"},
    {"service_date": "2026-03-02T00:00:00"},
    {"service_date": 20260302},
    {"place_of_service": 23},
    {"place_of_service": 23.0},
    {"place_of_service": 2.5},
    {"place_of_service": True},
    {"place_of_service": 1},
    {"claim_id": 123},
    {"cpt_code": 99285},
    {"plan_type": 5},
    {"billed_amount": 1e300},
    {"billed_amount": 100_000_000},
    {"billed_amount": 100_000_000.01},
    {"claim_id": "C-1\x01"},
    {"payer_id": "AET\tNA"},
    {"carc_codes": "CO-45,\tPR-2"},
    {"billed_amount": "1e3"},
    {"billed_amount": "1,000"},
    {"billed_amount": "1_000"},
    {"billed_amount": True},
    {"billed_amount": "١٢٠٠"},
    {"units": 2.0},
    {"units": "2"},
    {"billed_amount": 300_000_000, "initial_allowed_amount": 150_000_000},
    {"qpa_amount": 1e9},
    {"current_allowed_amount": 1e12},
]


def _parquet_verdict(raw: dict, folder) -> set[tuple[str, str]]:
    """(column, rule) of every problem the file validator finds in the same values stored by Parquet with
    the types JSON gave them (an integer column for 23, a boolean one for true)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from features.io import read_table

    path = folder / "claim.parquet"
    pq.write_table(pa.table({name: [value] for name, value in raw.items()}), path)
    table, _ = read_table(path)
    return {(problem.column, problem.rule) for problem in validate_claims(table).report.problems}


def _csv_holds(raw: dict) -> bool:
    """Whether a CSV cell holds the value as JSON gives it: not so for a fractional number in a text
    column (a CSV writes 23.0 as the text "23.0", which is not the number 23)."""
    numeric = {column.name for column in REQUEST_TABLE if column.kind in (Kind.INT, Kind.FLOAT)}
    return not any(isinstance(value, float) and name not in numeric for name, value in raw.items())


@pytest.mark.parametrize("change", MUTATIONS, ids=lambda change: ",".join(f"{k}={v!r}" for k, v in change.items()))
def test_api_and_file_validation_agree(change, tmp_path):
    """One table of cases, three paths: JSON, CSV text, Parquet types. One verdict."""
    raw = EXAMPLE_CLAIM | change
    verdict = _api_verdict(raw)
    assert verdict == _parquet_verdict(raw, tmp_path)
    if _csv_holds(raw):
        assert verdict == _file_verdict(raw)


@pytest.mark.parametrize(
    ("change", "problems"),
    [
        ({"emergency": "on"}, {("emergency", "must be true or false")}),
        ({"service_date": "2026-3-2"}, {("service_date", "must be an ISO date (YYYY-MM-DD) between 1900 and 2199")}),
        ({"place_of_service": 23}, set()),
        ({"billed_amount": 1e300}, {("billed_amount", "must be a number > 0 and <= 100,000,000")}),
    ],
)
def test_the_issue_cases_get_the_documented_verdict(change, problems, tmp_path):
    raw = EXAMPLE_CLAIM | change
    assert _api_verdict(raw) == problems == _parquet_verdict(raw, tmp_path)


def test_a_whole_number_beyond_floats_range_breaks_the_number_rule():
    """JSON allows any number of digits; an integer a float cannot hold is not a number here (it used to
    raise OverflowError past the validator: a 500)."""
    assert _api_verdict(EXAMPLE_CLAIM | {"billed_amount": 10**400}) == {
        ("billed_amount", "must be a number > 0 and <= 100,000,000")
    }


def test_dates_a_table_cannot_hold_are_rejected_with_the_date_rule():
    too_late = EXAMPLE_CLAIM | {"as_of_date": "2263-01-01"}
    assert _api_verdict(too_late) == {("as_of_date", "must be an ISO date (YYYY-MM-DD) between 1900 and 2199")}
    assert _api_verdict(EXAMPLE_CLAIM | {"service_date": "0156-09-23"}) == {
        ("service_date", "must be an ISO date (YYYY-MM-DD) between 1900 and 2199")
    }


def test_strings_that_are_not_unicode_are_rejected():
    verdict = _api_verdict(EXAMPLE_CLAIM | {"payer_id": "A\udbdbB"})
    assert verdict == {("payer_id", "must be a non-empty string without control characters")}


def test_unknown_fields_are_named_in_a_short_safe_warning():
    claim = ClaimRequest.model_validate(EXAMPLE_CLAIM | {f"extra_{i}": i for i in range(8)})
    names = unknown_fields(claim)
    assert len(names) == 8
    warning = unknown_fields_warning(names)
    assert warning == "unknown field(s) ignored: extra_0, extra_1, extra_2, extra_3, extra_4 and 3 more"
    assert printable("a\udbdbb") == "a\\udbdbb"
    with pytest.raises(ValidationError):  # a field name that is not Unicode is refused, never echoed
        ClaimRequest.model_validate(EXAMPLE_CLAIM | {"\udbdb": 1})


def test_to_frame_keeps_the_contract_order_and_iso_dates():
    claim = ClaimRequest.model_validate(EXAMPLE_CLAIM)
    frame = to_frame([claim, claim], index=[5, 9])
    assert list(frame.columns) == [column.name for column in REQUEST_TABLE]
    assert list(frame.index) == [5, 9]
    assert frame.at[5, "service_date"] == EXAMPLE_CLAIM["service_date"]


def accepted_requests(simulated: int, seed: int, *extra: dict) -> list[BaseModel]:
    """Request models for simulated claims, the example under every mutation, and ``extra`` raw claims:
    those pydantic accepts."""
    from training.simulator import simulate_worklist

    frame = simulate_worklist(simulated, seed=seed).astype(object)
    raws = [
        {name: (None if pd.isna(value) else value) for name, value in row.items()} for row in frame.to_dict("records")
    ]
    claims = []
    for raw in [*raws, *(EXAMPLE_CLAIM | change for change in MUTATIONS), *extra]:
        try:
            claims.append(ClaimRequest.model_validate(raw))
        except ValidationError:
            continue
    return claims


def test_typing_parsed_requests_equals_checking_every_column():
    """Requests pydantic accepted are only typed, not re-checked column by column: same valid rows, same
    types, same rejections and messages as the full table validation of the same frame."""
    claims = accepted_requests(300, seed=11)
    assert len(claims) > 300
    fast = validate_requests(claims, today=date(2026, 6, 1))
    full = validate_claims(to_frame(claims), today=date(2026, 6, 1))
    assert len(fast.rejected) > 5 and len(fast.valid) > 250
    pd.testing.assert_frame_equal(fast.valid, full.valid)
    pd.testing.assert_frame_equal(fast.rejected, full.rejected)
    assert fast.report.problems == full.report.problems
