"""Federal IDR: the PUF mapping (on real rows), payer groups, benchmarks, split and an end-to-end train."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.idr_payers import (
    ALL_PAYERS,
    IDR_PRIOR_COLUMNS,
    derive_payer_group,
    idr_benchmark_for_payer,
    idr_prior_features,
    load_payer_group_table,
    match_payer_group,
    payer_ids_for_groups,
)
from training.idr import (
    CATEGORICAL_FEATURES,
    DATASET_COLUMNS,
    NUMERIC_FEATURES,
    format_idr_ingest_report,
    format_idr_train_report,
    ingest_idr,
    normalise_column_name,
    parse_quarter,
    payer_idr_benchmarks,
    read_idr_dataset,
    temporal_split,
    train_idr_model,
    write_idr_dataset,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "idr_sample.parquet"
HELPER_COLUMNS = ["Provider_Group", "Provider_Category", "Carrier_Group", "Anthem_Flag", "Outcome_Bucket"]
PROVIDER_WINS = "In Favor of Provider/Facility/AA Provider"
PLAN_WINS = "In Favor of Plan/Issuer"


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_parquet(FIXTURE)


@pytest.fixture(scope="module")
def ingested():
    return ingest_idr(FIXTURE)


@pytest.fixture(scope="module")
def joined(raw, ingested) -> pd.DataFrame:
    """Each kept dataset row beside the source row it came from."""
    source = raw.drop_duplicates("DLI Number", keep="last").set_index("DLI Number")
    return ingested.dataset.join(source, on="dli_number", how="left", validate="one_to_one")


def expected_drops(raw: pd.DataFrame) -> dict[str, int]:
    outcome, selected = raw["Payment Determination Outcome"], raw["Offer Selected from Provider or Issuer"]
    decided = outcome.isin([PROVIDER_WINS, PLAN_WINS])
    conflicts = decided & selected.isin([PROVIDER_WINS, PLAN_WINS]) & selected.ne(outcome)
    survivors = raw[decided & ~conflicts]
    expected = {
        "missing_outcome": int(outcome.isna().sum()),
        "split_decision": int(outcome.eq("Split Decision").sum()),
        "outcome_conflicts_with_offer_selected": int(conflicts.sum()),
        "duplicate_line_item": int(survivors["DLI Number"].duplicated().sum()),
    }
    return {reason: rows for reason, rows in expected.items() if rows}


# ---------------------------------------------------------------------------------------------- fixture


def test_fixture_covers_the_cases_the_mapping_handles(raw):
    assert 200 <= len(raw) <= 600
    assert set(raw["Outcome_Bucket"]) == {
        "Contested Provider Win",
        "Contested Plan Win",
        "Default Provider Win",
        "Default Plan Win",
        "Other / Split",
    }
    assert {"2024Q3", "2024Q4"} <= set(raw["Quarter"])
    assert raw["Payment Determination Outcome"].isna().any()
    assert raw["DLI Number"].duplicated().any()
    assert raw["Carrier_Group"].nunique() >= 15
    assert raw.loc[raw["Quarter"] >= "2024Q3", "Prevailing Party Offer as % of QPA"].isna().all()


# ---------------------------------------------------------------------------------------------- rows


def test_every_row_is_kept_or_dropped_with_its_reason(raw, ingested):
    assert ingested.rows_read == len(raw)
    assert len(ingested.dataset) + len(ingested.dropped) == len(raw)
    assert ingested.dropped_by_reason == expected_drops(raw)
    assert {"split_decision", "missing_outcome", "duplicate_line_item"} <= set(ingested.dropped_by_reason)
    dropped_rows = raw.iloc[ingested.dropped["source_row"].to_numpy() - 1]
    split = ingested.dropped["reason"].eq("split_decision").to_numpy()
    assert dropped_rows.loc[split, "Payment Determination Outcome"].eq("Split Decision").all()


def test_a_line_item_published_twice_keeps_its_latest_copy(raw, ingested):
    twice = raw[raw["DLI Number"].duplicated(keep=False)]
    for dli, copies in twice.groupby("DLI Number"):
        kept = ingested.dataset[ingested.dataset["dli_number"].eq(dli)]
        if copies["Payment Determination Outcome"].isin([PROVIDER_WINS, PLAN_WINS]).all():
            assert kept["quarter"].tolist() == [copies["Quarter"].max()]


def test_rows_without_offer_ratios_are_kept_and_counted(ingested):
    dataset = ingested.dataset
    late = dataset["quarter"].isin(["2024Q3", "2024Q4"])
    assert late.sum() > 0 and dataset.loc[late, "prevailing_offer_ratio"].isna().all()
    report = ingested.to_report()
    q4 = dataset["quarter"].eq("2024Q4")
    assert report["kept_without_prevailing_offer_ratio"]["2024Q4"] == q4.sum()


# ---------------------------------------------------------------------------------------------- columns


def test_dataset_has_the_documented_columns(ingested):
    assert list(ingested.dataset.columns) == list(DATASET_COLUMNS)
    assert ingested.unknown_columns == ()
    ignored = ingested.ignored_columns
    assert {"Provider_Group", "Outcome_Bucket", "Item or Service Description"} <= ignored.keys()
    assert ingested.column_sources["vehicle_type"] == ("Air Ambulance Vehicle Type", "Ambulance Vehicle Type")


def test_outcome_default_and_dispute_type(joined):
    provider_won = joined["Payment Determination Outcome"].eq(PROVIDER_WINS)
    assert joined["outcome"].eq("provider").tolist() == provider_won.tolist()
    assert set(joined["outcome"]) == {"provider", "plan"}
    known = joined["Default Decision"].notna()
    defaulted = joined.loc[known, "Default Decision"].eq("Yes")
    assert joined.loc[known, "default_decision"].tolist() == defaulted.tolist()
    assert joined.loc[~known, "default_decision"].isna().all()
    assert joined["batched"].tolist() == joined["Type of Dispute"].eq("Batched").tolist()
    assert set(joined["line_item_type"]) <= {"single", "batched", "bundled", "component"}


def test_plan_type_and_funding(joined):
    expected = {
        "Either partially or fully self-insured private (employment-based) group health plan": (
            "self_funded_group",
            "self_funded",
        ),
        "Fully insured private group health plan": ("fully_insured_group", "fully_insured"),
        "Individual health insurance issuer": ("individual", "fully_insured"),
        "Federal Employees Health Benefits (FEHB) Carrier": ("fehb", "government"),
        "Non-federal government plan (or state or local government plan)": ("public_sector", "government"),
        "Church Plan": ("church", "unknown"),
        "No Plan/Issuer Response": ("no_plan_response", "unknown"),
    }
    assert set(joined["Health Plan Type"]) <= set(expected)
    mapped = joined["Health Plan Type"].map(expected)
    assert joined["plan_type"].tolist() == [pair[0] for pair in mapped]
    assert joined["funding"].tolist() == [pair[1] for pair in mapped]


def test_payer_group_state_and_service(joined):
    assert joined["payer_group"].tolist() == joined["Carrier_Group"].tolist()
    centene = joined["Carrier_Group"].eq("Centene")
    assert centene.any() and joined.loc[centene, "payer_id"].eq("CENTENE").all()
    domains = joined["Health Plan/Issuer Email Domain"].str.lower()
    assert joined["issuer_email_domain"].tolist() == domains.tolist()
    assert joined["state"].fillna("").tolist() == joined["Location of Service"].fillna("").tolist()
    assert joined["service_code"].tolist() == joined["Service Code"].str.upper().tolist()
    pos = joined["Place of Service Code"]
    assert joined.loc[pos.eq("42"), "place_of_service"].eq("42").all()
    assert joined.loc[pos.eq("<NA>"), "place_of_service"].isna().all()  # '<NA>' text is missing
    assert joined.loc[joined["Type of Service Code"].eq("<NA>"), "service_code_type"].isna().all()


def test_vehicle_columns_coalesce_both_release_names(joined):
    vehicle = joined["Air Ambulance Vehicle Type"].fillna(joined["Ambulance Vehicle Type"])
    assert joined.loc[vehicle.eq("RW"), "vehicle_type"].eq("rotary_wing").all()
    assert joined.loc[vehicle.eq("FW"), "vehicle_type"].eq("fixed_wing").all()
    assert joined.loc[vehicle.eq("<NA>") | vehicle.isna(), "vehicle_type"].isna().all()
    early = joined["quarter"] < "2024Q1"  # 2023 releases name it 'Ambulance Vehicle Type'
    assert joined.loc[early, "vehicle_type"].notna().any()
    capacity = joined["Air Ambulance Vehicle Clinical Capacity Level"].fillna(
        joined["Ambulance Vehicle Clinical Capacity Level"]
    )
    assert joined.loc[capacity.eq("STANDARD"), "vehicle_capacity"].eq("standard").all()


def test_ratios_days_fee_quarter_and_initiating_party(joined):
    for column, source in (
        ("provider_offer_ratio", "Provider/Facility Offer as % of QPA"),
        ("plan_offer_ratio", "Health Plan/Issuer Offer as % of QPA"),
        ("prevailing_offer_ratio", "Prevailing Party Offer as % of QPA"),
    ):
        np.testing.assert_allclose(joined[column].to_numpy(), joined[source].to_numpy(dtype=float))
    assert joined["days_to_determination"].tolist() == joined["Length of Time to Make Determination"].tolist()
    np.testing.assert_allclose(joined["idre_fee"].to_numpy(), joined["IDRE Compensation"].to_numpy())
    assert joined["quarter"].tolist() == joined["Quarter"].tolist()
    assert joined["initiating_party"].fillna("").tolist() == joined["Initiating Party"].fillna("").tolist()


# ---------------------------------------------------------------------------------------------- variants


def test_column_names_are_compared_loosely():
    assert normalise_column_name("Provider/Facility Offer as % of QPA") == normalise_column_name(
        "provider / facility offer AS PERCENT OF qpa "
    )
    assert normalise_column_name("Carrier_Group") == "carrier group"


@pytest.mark.parametrize(
    ("text", "quarter"),
    [
        ("2024Q4", "2024Q4"),
        ("2024 Q4", "2024Q4"),
        ("Q3 2025", "2025Q3"),
        ("federal-idr-puf-for-2024-q3-as-of-may-28-2025.xlsx", "2024Q3"),
        ("Federal IDR PUF for 2025 Q1 - OON Air Ambulance (As of January 21, 2026).csv", "2025Q1"),
        ("air_ambulance.csv", None),
    ],
)
def test_parse_quarter(text, quarter):
    assert parse_quarter(text) == quarter


def raw_cms_release(raw: pd.DataFrame) -> pd.DataFrame:
    """The fixture as a raw CMS CSV would be: no helper columns or Quarter, other spellings and formats."""
    release = raw.drop(columns=[*HELPER_COLUMNS, "Quarter"])
    release = release.rename(
        columns={
            "Provider/Facility Offer as % of QPA": "Provider/Facility Offer as Percent of QPA",
            "Health Plan/Issuer Offer as % of QPA": "health plan/issuer offer as percent of qpa",
            "Payment Determination Outcome": "  PAYMENT DETERMINATION OUTCOME ",
            "Location of Service": "Location  of Service",
        }
    )
    release = release[release.columns[::-1]].astype(object)
    release["Provider/Facility Offer as Percent of QPA"] = [
        "" if pd.isna(value) else f"{value * 100:g}%" for value in raw["Provider/Facility Offer as % of QPA"]
    ]
    release["IDRE Compensation"] = ["N/R" if pd.isna(value) else f"${value:,.2f}" for value in raw["IDRE Compensation"]]
    return release


def test_raw_release_csvs_with_renamed_reordered_columns_map_the_same(raw, ingested, tmp_path):
    release = raw_cms_release(raw)
    paths = []
    for quarter, rows in release.groupby(raw["Quarter"]):
        path = tmp_path / f"Federal IDR PUF for {quarter[:4]} {quarter[4:]} - OON Air Ambulance.csv"
        rows.to_csv(path, index=False)
        paths.append(path)
    result = ingest_idr(paths)

    assert result.dropped_by_reason == ingested.dropped_by_reason
    assert {file.quarter_from for file in result.files} == {"file name"}
    assert "carrier_group" in result.missing_columns and result.unknown_columns == ()
    assert result.column_sources["outcome"] == ("  PAYMENT DETERMINATION OUTCOME ",)
    key = ["quarter", "dli_number"]
    variant = result.dataset.sort_values(key).reset_index(drop=True)
    reference = ingested.dataset.sort_values(key).reset_index(drop=True)
    same = [column for column in DATASET_COLUMNS if column not in ("payer_group", "payer_id", "source_file")]
    pd.testing.assert_frame_equal(variant[same], reference[same], check_dtype=False, rtol=1e-9)
    # Without Carrier_Group the payer group comes from the e-mail domain through the matching table.
    agreement = variant["payer_group"].eq(reference["payer_group"]).mean()
    assert agreement >= 0.95
    assert set(result.payer_group_sources) <= {"email_domain", "issuer_name", "unlisted_domain", "none"}


def test_emergency_file_columns_and_unknown_columns(raw, tmp_path):
    rows = raw.drop(
        columns=[
            "Air Ambulance Vehicle Type",
            "Ambulance Vehicle Type",
            "Air Ambulance Vehicle Clinical Capacity Level",
            "Ambulance Vehicle Clinical Capacity Level",
        ]
    ).head(40)
    rows = rows.assign(
        **{
            "Practice/Facility Specialty or Type": "Emergency Medicine",
            "Practice/Facility Size": "Facility of 500 or more employees",
            "Brand New CMS Column": "x",
        }
    )
    path = tmp_path / "oon_emergency.csv"
    rows.to_csv(path, index=False)
    result = ingest_idr(path)
    assert result.dataset["specialty"].eq("Emergency Medicine").all()
    assert result.dataset["practice_size"].notna().all()
    assert result.dataset["vehicle_type"].isna().all() and "vehicle_type" in result.missing_columns
    assert result.unknown_columns == ("Brand New CMS Column",)
    assert "Brand New CMS Column" in format_idr_ingest_report(result)


def test_a_file_without_any_quarter_is_refused(raw, tmp_path):
    path = tmp_path / "idr.csv"
    raw.drop(columns=["Quarter"]).head(5).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no Quarter column"):
        ingest_idr(path)
    assert ingest_idr(path, quarter="2025Q2").dataset["quarter"].eq("2025Q2").all()


def test_write_and_read_the_dataset(ingested, tmp_path):
    out, report_path, dropped_path = write_idr_dataset(ingested, tmp_path / "idr.parquet")
    report = json.loads(report_path.read_text())
    assert report["rows_kept"] == len(ingested.dataset)
    assert {
        reason: entry["rows"] for reason, entry in report["dropped_by_reason"].items()
    } == ingested.dropped_by_reason
    assert len(pd.read_csv(dropped_path)) == len(ingested.dropped)
    pd.testing.assert_frame_equal(read_idr_dataset(out), ingested.dataset)
    text = format_idr_ingest_report(ingested)
    assert "split_decision" in text and "Payment Determination Outcome" in text


def test_the_cli_writes_its_reports_beside_the_dataset_or_where_told_never_in_the_working_directory(
    tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from service.cli import app

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    beside = CliRunner().invoke(app, ["ingest-idr", str(FIXTURE), "-o", str(tmp_path / "out" / "idr.parquet")])
    assert beside.exit_code == 0, beside.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["idr.dropped.csv", "idr.parquet", "idr.report.json"]
    told = CliRunner().invoke(
        app, ["ingest-idr", str(FIXTURE), "-o", str(tmp_path / "b" / "idr.parquet"), "--reports", str(tmp_path / "r")]
    )
    assert told.exit_code == 0, told.output
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["idr.dropped.csv", "idr.report.json"]
    assert not list(work.iterdir())


def test_benchmarks_do_not_depend_on_the_order_of_the_rows(ingested):
    shuffled = ingested.dataset.sample(frac=1.0, random_state=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(payer_idr_benchmarks(shuffled), payer_idr_benchmarks(ingested.dataset))


SHARED_PUF = next(
    (
        parent / "shared" / "reference" / "idr" / "air_ambulance_dli_2023q1_2024q4.parquet"
        for parent in Path(__file__).resolve().parents
        if (parent / "shared" / "reference" / "idr").is_dir()
    ),
    None,
)


@pytest.mark.skipif(SHARED_PUF is None, reason="the CMS IDR public use file (../shared/reference/idr) is absent")
def test_rebuilding_the_shipped_benchmarks_gives_the_committed_file_byte_for_byte(tmp_path):
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    committed = (repo / "features" / "data" / "idr_payer_benchmarks.csv").read_bytes()
    for attempt in ("first", "second"):
        out = tmp_path / attempt
        out.mkdir()
        script = [sys.executable, "scripts/build_idr_benchmarks.py", "--source", str(SHARED_PUF), "--out", str(out)]
        subprocess.run(script, cwd=repo, check=True, capture_output=True)
        assert (out / "idr_payer_benchmarks.csv").read_bytes() == committed, attempt


# ---------------------------------------------------------------------------------------------- payer groups


def test_matching_table_is_valid_and_covers_the_large_groups(raw):
    table = load_payer_group_table()
    assert table["payer_id"].str.fullmatch(r"[A-Z0-9_]+").all()
    top = raw["Carrier_Group"].value_counts().index[:10]
    assert set(top) <= set(table["idr_payer_group"])
    payer_ids = payer_ids_for_groups(pd.Series(["BCBS Texas", "kp.org", "BCBS New Mexico", "acme.com"]))
    assert payer_ids.tolist()[:3] == ["BCBS_TX", "KAISER", "BCBS_NM"] and pd.isna(payer_ids.iloc[3])


def test_matching_table_rejects_a_bad_pattern():
    with pytest.raises(ValueError, match=r"row 1 .*not a valid regular expression"):
        load_payer_group_table("payer_id,idr_payer_group,issuer_name_pattern\nACME,Acme,acme(\n")


def test_match_payer_group_by_id_or_by_name():
    payers = pd.Series(
        [
            "UNITEDHEALTHCARE",
            "bcbs tx",
            "Blue Cross Blue Shield of Texas",
            "BCBS OF KANSAS CITY",
            "Kaiser Permanente",
            "ACME HEALTH",
            None,
        ]
    )
    groups = match_payer_group(payers)
    assert groups.tolist()[:5] == ["UnitedHealthcare", "BCBS Texas", "BCBS Texas", "bluekc.com", "kp.org"]
    assert groups.iloc[5:].isna().all()


def test_derive_payer_group_prefers_the_domain():
    derived = derive_payer_group(
        pd.Series(["multiplan.com", "gmail.com", "smalltpa.com", None]), pd.Series(["CIGNA", "AETNA", "BCBS TX", None])
    )
    assert derived["payer_group"].tolist()[:3] == ["MultiPlan/Claritev", "Aetna", "smalltpa.com"]
    sources = ["email_domain", "issuer_name", "unlisted_domain", "none"]
    assert derived["payer_group_source"].tolist() == sources


# ---------------------------------------------------------------------------------------------- benchmarks


def benchmark_rows(group: str, wins: int, losses: int, ratio: float) -> pd.DataFrame:
    rows = wins + losses
    return pd.DataFrame(
        {
            "dispute_number": [f"{group}-{i // 2}" for i in range(rows)],
            "quarter": "2024Q1",
            "outcome": ["provider"] * wins + ["plan"] * losses,
            "payer_group": group,
            "payer_id": group.upper(),
            "default_decision": pd.array([True] + [False] * (rows - 1), dtype="boolean"),
            "prevailing_offer_ratio": ratio,
            "days_to_determination": 30,
            "idre_fee": [0.0] + [400.0] * (rows - 1),
        }
    )


def test_benchmarks_shrink_thin_groups_toward_all_payers():
    dataset = pd.concat([benchmark_rows("big", 100, 100, 2.0), benchmark_rows("thin", 2, 0, 8.0)])
    table = payer_idr_benchmarks(dataset, prior_strength=50).set_index("payer_group")
    overall = 102 / 202
    assert table.index[0] == "(all payers)"
    thin, big = table.loc["thin"], table.loc["big"]
    assert thin["provider_win_rate_raw"] == 1.0
    assert thin["provider_win_rate"] == pytest.approx((2 + 50 * overall) / 52)
    assert big["provider_win_rate"] == pytest.approx((100 + 50 * overall) / 250)
    assert big["disputes"] == 100 and big["line_items"] == 200
    assert thin["median_prevailing_offer_ratio_raw"] == pytest.approx(8.0)
    assert 2.0 < thin["median_prevailing_offer_ratio"] < 3.0  # 2 rows barely move it from the market's 2.0
    assert big["default_decision_rate_raw"] == pytest.approx(1 / 200)
    assert big["median_idre_fee"] == 400.0  # the zero fee of the default decision is not a fee


def test_prior_features_for_payers(ingested):
    benchmarks = payer_idr_benchmarks(ingested.dataset)
    priors = idr_prior_features(pd.Series(["CENTENE", "Aetna", "NO SUCH PAYER"]), benchmarks)
    assert list(priors.columns) == list(IDR_PRIOR_COLUMNS)
    assert priors.iloc[:2].notna().all().all() and priors.iloc[2].isna().all()
    centene = benchmarks.set_index("payer_group").loc["Centene"]
    assert priors.loc[0, "idr_provider_win_rate"] == pytest.approx(centene["provider_win_rate"])


def test_benchmark_for_a_payer_is_json_ready(ingested):
    benchmarks = payer_idr_benchmarks(ingested.dataset)
    row = idr_benchmark_for_payer("Centene", benchmarks)
    assert row["payer_group"] == "Centene" and row["payer_id"] == "CENTENE"
    assert isinstance(row["line_items"], int) and 0 < row["provider_win_rate"] < 1
    json.dumps(row)
    assert idr_benchmark_for_payer("NO SUCH PAYER", benchmarks) is None
    assert benchmarks["payer_group"].iloc[0] == ALL_PAYERS


# ---------------------------------------------------------------------------------------------- training


def test_temporal_split_tests_on_the_latest_labelled_quarter(ingested):
    dataset = ingested.dataset
    train, test = temporal_split(dataset, dataset["outcome"].notna())
    assert set(test["quarter"]) == {"2024Q4"} and train["quarter"].max() < "2024Q4"
    train, test = temporal_split(dataset, dataset["prevailing_offer_ratio"] > 0)
    assert set(test["quarter"]) == {"2024Q2"} and train["quarter"].max() < "2024Q2"


def test_leaky_columns_are_not_features():
    features = set(CATEGORICAL_FEATURES) | set(NUMERIC_FEATURES)
    assert not features & {
        "default_decision",
        "days_to_determination",
        "idre_fee",
        "prevailing_offer_ratio",
        "outcome",
        "initiating_party",
    }


def test_train_end_to_end_into_a_temporary_mlflow_store(ingested, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a sqlite store keeps its artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = train_idr_model(ingested.dataset, seed=0, tracking_uri=uri, experiment="idr-test")

    tasks = {evaluation.task: evaluation for evaluation in result.evaluations}
    assert set(tasks) == {"outcome", "offer_ratio", "outcome_given_offers"}
    for evaluation in result.evaluations:
        assert max(evaluation.train_quarters) < min(evaluation.test_quarters)
        assert evaluation.metrics.notna().all().all()
    baselines = ["overall rate", "payer rate (shrunk)", "logistic regression"]
    assert list(tasks["outcome"].metrics.index) == [*baselines, "LightGBM"]
    assert list(tasks["outcome"].metrics.columns) == ["roc_auc", "log_loss", "brier", "ece"]
    assert list(tasks["offer_ratio"].metrics.index) == ["overall median", "payer median (shrunk)", "LightGBM median"]
    assert not {"log_provider_offer_ratio", "log_plan_offer_ratio"} & set(tasks["outcome"].features)

    client = mlflow.MlflowClient(tracking_uri=uri)
    logged = client.get_run(result.run_id).data
    assert logged.metrics["outcome.lightgbm.roc_auc"] == pytest.approx(
        tasks["outcome"].metrics.loc["LightGBM", "roc_auc"]
    )
    assert {"outcome.payer_rate.brier", "offer_ratio.overall_median.mae_log"} <= set(logged.metrics)
    assert logged.params["dataset_digest"] == result.dataset_digest
    artifacts = {artifact.path for artifact in client.list_artifacts(result.run_id)}
    assert {"idr_payer_benchmarks.csv", "idr_outcome_by_payer_test.csv", "idr_report.txt"} <= artifacts

    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)  # a models:/ URI resolves against the tracking store
    try:
        model = mlflow.pyfunc.load_model(result.model_uri)
    finally:
        mlflow.set_tracking_uri(previous_uri)
    predictions = model.predict(
        ingested.dataset.tail(3)[["quarter", "payer_group", "plan_type", "state", "service_code", "batched"]]
    )
    assert predictions["p_provider_prevails"].between(0, 1).all()
    assert (predictions["prevailing_offer_ratio_median"] > 0).all()

    text = format_idr_train_report(result)
    for name in (*baselines, "LightGBM", "2024Q4", "not the effect"):
        assert name in text
