"""Rebuild tests/fixtures/idr_sample.parquet: a few hundred real Federal IDR line items for the IDR tests.

The sample is deterministic (fixed seed, rows kept in source order, all 39 source columns untouched) and
covers what the ingest mapping must handle: every outcome bucket in every quarter, split decisions, blank
outcomes, outcomes that conflict with 'Offer Selected', both copies of line items published twice,
default decisions, rows without offer ratios (all of 2024Q3-Q4), the rarer plan types, fixed-wing rows,
'<NA>' text cells, and the larger payer groups.

    .venv/bin/python scripts/build_idr_fixture.py [--source PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "reference" / "idr" / "air_ambulance_dli_2023q1_2024q4.parquet"
OUT = ROOT / "tests" / "fixtures" / "idr_sample.parquet"
SEED = 20240
PER_QUARTER_AND_BUCKET = 8
PER_PAYER_GROUP = 3
TOP_PAYER_GROUPS = 15


def sample_up_to(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    return frame.sample(n=min(rows, len(frame)), random_state=SEED)


def special_rows(source: pd.DataFrame) -> list[pd.DataFrame]:
    """The rare cases the mapping has a rule for; each is small, so all (or a fixed few) are kept."""
    outcome = source["Payment Determination Outcome"]
    selected = source["Offer Selected from Provider or Issuer"]
    decided = outcome.isin(["In Favor of Provider/Facility/AA Provider", "In Favor of Plan/Issuer"])
    conflicts = decided & selected.notna() & selected.ne(outcome)
    published_twice = source["DLI Number"].duplicated(keep=False)
    plan_type = source["Health Plan Type"]
    return [
        source[outcome.isna()],
        sample_up_to(source[outcome.eq("Split Decision")], 6),
        sample_up_to(source[conflicts], 4),
        source[published_twice],
        sample_up_to(source[plan_type.str.startswith("Church")], 2),
        sample_up_to(source[plan_type.str.startswith("Federal Employees")], 4),
        sample_up_to(source[plan_type.str.startswith("Non-federal")], 4),
        sample_up_to(source[source["Ambulance Vehicle Type"].eq("<NA>")], 3),
        sample_up_to(source[source["Service Code"].isin(["A0430", "A0435"])], 6),
        sample_up_to(source[source["Default Decision"].isna()], 3),
    ]


def build_fixture(source: pd.DataFrame) -> pd.DataFrame:
    by_bucket = source.groupby(["Quarter", "Outcome_Bucket"], group_keys=False)[source.columns]
    stratified = by_bucket.apply(lambda group: sample_up_to(group, PER_QUARTER_AND_BUCKET))
    top_groups = source["Carrier_Group"].value_counts().index[:TOP_PAYER_GROUPS]
    by_payer = source[source["Carrier_Group"].isin(top_groups)].groupby("Carrier_Group", group_keys=False)
    payers = by_payer[source.columns].apply(lambda group: sample_up_to(group, PER_PAYER_GROUP))
    chosen = pd.concat([stratified, payers, *special_rows(source)])
    return source.loc[sorted(set(chosen.index))].reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    arguments = parser.parse_args()
    fixture = build_fixture(pd.read_parquet(arguments.source))
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    fixture.to_parquet(arguments.out, index=False)
    print(f"wrote {len(fixture)} rows to {arguments.out}")
    print(fixture.groupby(["Quarter", "Outcome_Bucket"]).size().unstack(fill_value=0).to_string())


if __name__ == "__main__":
    main()
