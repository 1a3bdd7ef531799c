"""Rebuild the reference tables shipped in ``features/data`` from the CMS source files.

Usage, from the repository root::

    python scripts/build_reference.py [--source ../shared/reference/cms] [--out features/data]

The output is deterministic (sorted rows, fixed float formats, gzip without a timestamp), so rebuilding from
the same sources reproduces the shipped files exactly and a diff shows only real changes. Every Medicare
reference file, README included, is written by this script: the hand-curated tables are validated here and
copied from ``scripts/reference_curated``. Other files in ``--out`` are left alone.
"""

from __future__ import annotations

import argparse
import gzip
import re
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
CURATED_DIR = Path(__file__).resolve().parent / "reference_curated"

RVU_FILE = "pprrvu_2025_oct.csv"
GPCI_FILE = "gpci_2025.csv"
ANESTHESIA_CF_FILE = "anes_cf_2025.csv"

PFS_TABLE = "medicare_pfs_2025.csv.gz"
STATE_TABLE = "gpci_state_2025.csv"
ANESTHESIA_TABLE = "anesthesia_base_units.csv"
AMBULANCE_TABLE = "ambulance_rates_2025.csv"
README = "README.md"

RVU_COLUMNS = ["work_rvu", "nonfac_pe_rvu", "facility_pe_rvu", "mp_rvu"]
#: Global service, professional component, technical component. Other payment modifiers in the RVU file
#: (53, discontinued procedure) describe reduced services that a benchmark price should not use.
PRICED_MODIFIERS = ("", "26", "TC")
#: Active (A), restricted (R), paid-only-if-alone (T) and carrier-priced (C) codes are paid under the PFS.
PAYABLE_STATUSES = ("A", "R", "T", "C")
#: Non-covered (N) and not-valid-for-Medicare (I) codes whose RVUs CMS publishes "for use by other payers"
#: (flag "+"), e.g. consultations 99242-99245 and preventive visits 99381-99397. Commercial OON claims use
#: them, and their RVU price is the benchmark payers apply.
PUBLISHED_FOR_OTHER_PAYERS_STATUSES = ("I", "N")

GPCI_COLUMNS = {
    "Medicare Administrative Contractor (MAC)": "contractor",
    "State": "state",
    "Locality Number": "locality",
    "Locality Name": "locality_name",
    "2025 PW GPCI (with 1.0 Floor)": "pw_gpci",
    "2025 PE GPCI": "pe_gpci",
    "2025 MP GPCI": "mp_gpci",
}
#: The "HAWAII, GUAM" locality also prices American Samoa and the Northern Mariana Islands (same MAC), which
#: the GPCI file does not list under their own codes.
TERRITORIES_PRICED_AS_HAWAII = ("GU", "AS", "MP")
STATE_GPCI_DECIMALS = 4

ANESTHESIA_COLUMNS = ["hcpcs", "base_units", "typical_time_units", "note"]
AMBULANCE_COLUMNS = ["hcpcs", "description", "unit", "rate", "note"]
AMBULANCE_UNITS = ("transport", "mile")


def read_rvus(source: Path) -> pd.DataFrame:
    """The PFS relative value file with every field as stripped text (RVUs keep their source formatting)."""
    rvus = pd.read_csv(source / RVU_FILE, dtype=str, keep_default_na=False)
    return rvus.apply(lambda column: column.str.strip())


def conversion_factor(rvus: pd.DataFrame) -> float:
    factors = rvus["conversion_factor"].unique()
    if len(factors) != 1:
        raise ValueError(f"{RVU_FILE}: expected one conversion factor, found {sorted(factors)}")
    return float(factors[0])


def build_pfs_table(rvus: pd.DataFrame) -> pd.DataFrame:
    """One row per payable (hcpcs, modifier) with its RVU components, so state GPCIs can be applied later."""
    payable = rvus["status_code"].isin(PAYABLE_STATUSES) | (
        rvus["status_code"].isin(PUBLISHED_FOR_OTHER_PAYERS_STATUSES) & (rvus["not_used_for_medicare_payment"] == "+")
    )
    total_rvus = rvus["nonfac_total_rvu"].astype(float) + rvus["facility_total_rvu"].astype(float)
    table = rvus.loc[payable & rvus["modifier"].isin(PRICED_MODIFIERS) & (total_rvus > 0)]
    table = table[["hcpcs", "modifier", *RVU_COLUMNS]].sort_values(["hcpcs", "modifier"])
    duplicated = table.duplicated(["hcpcs", "modifier"])
    if duplicated.any():
        examples = table.loc[duplicated, ["hcpcs", "modifier"]].head().to_dict("records")
        raise ValueError(f"{RVU_FILE}: duplicate (hcpcs, modifier) rows, e.g. {examples}")
    return table.reset_index(drop=True)


def read_gpci(source: Path) -> pd.DataFrame:
    """GPCIs by locality; the file has a title line and a blank line above the header and notes below."""
    gpci = pd.read_csv(source / GPCI_FILE, skiprows=2, dtype=str, keep_default_na=False)
    missing = set(GPCI_COLUMNS) - set(gpci.columns)
    if missing:
        raise ValueError(f"{GPCI_FILE}: missing columns {sorted(missing)}")
    gpci = gpci[list(GPCI_COLUMNS)].rename(columns=GPCI_COLUMNS).apply(lambda column: column.str.strip())
    gpci = gpci[gpci["state"].str.fullmatch(r"[A-Z]{2}")].copy()
    for column in ("pw_gpci", "pe_gpci", "mp_gpci"):
        gpci[column] = gpci[column].astype(float)
    return gpci.reset_index(drop=True)


def read_anesthesia_cf(source: Path) -> tuple[pd.DataFrame, float]:
    """Anesthesia conversion factors by locality, and the national one (given in the file's header)."""
    anesthesia = pd.read_csv(source / ANESTHESIA_CF_FILE, dtype=str, keep_default_na=False)
    anesthesia = anesthesia.apply(lambda column: column.str.strip())
    national_header = anesthesia.columns[-1]
    match = re.fullmatch(r"National Anes CF of ([0-9.]+)", national_header.strip())
    if match is None:
        raise ValueError(f"{ANESTHESIA_CF_FILE}: cannot read the national CF from header {national_header!r}")
    anesthesia = anesthesia.rename(
        columns={"Contractor": "contractor", "Locality": "locality", national_header: "anesthesia_cf"}
    )
    anesthesia = anesthesia[anesthesia["contractor"] != ""]
    anesthesia = anesthesia[["contractor", "locality", "anesthesia_cf"]].astype({"anesthesia_cf": float})
    return anesthesia.reset_index(drop=True), float(match.group(1))


def build_state_table(gpci: pd.DataFrame, anesthesia: pd.DataFrame) -> pd.DataFrame:
    """Per-state GPCIs and anesthesia CF: the unweighted mean over the state's Medicare localities.

    The anesthesia file names localities rather than states, so it is joined to the GPCI file on
    (contractor, locality), which identifies a locality uniquely.
    """
    localities = gpci.merge(anesthesia, on=["contractor", "locality"], how="outer", indicator=True)
    unmatched = localities[localities["_merge"] != "both"]
    if not unmatched.empty:
        raise ValueError(f"localities in only one of {GPCI_FILE} and {ANESTHESIA_CF_FILE}:\n{unmatched}")

    hawaii = localities[localities["locality_name"].str.startswith("HAWAII")]
    if len(hawaii) != 1:
        raise ValueError(f"{GPCI_FILE}: expected one HAWAII locality, found {len(hawaii)}")
    territories = pd.concat([hawaii.assign(state=territory) for territory in TERRITORIES_PRICED_AS_HAWAII])
    localities = pd.concat([localities, territories], ignore_index=True)

    states = localities.groupby("state", sort=True).agg(
        localities=("locality", "size"),
        pw_gpci=("pw_gpci", "mean"),
        pe_gpci=("pe_gpci", "mean"),
        mp_gpci=("mp_gpci", "mean"),
        anesthesia_cf=("anesthesia_cf", "mean"),
    )
    return states.round(STATE_GPCI_DECIMALS).reset_index()


def read_curated(name: str, columns: list[str]) -> pd.DataFrame:
    table = pd.read_csv(CURATED_DIR / name, dtype=str, keep_default_na=False)
    if list(table.columns) != columns:
        raise ValueError(f"{name}: expected columns {columns}, found {list(table.columns)}")
    if table["hcpcs"].duplicated().any() or not table["hcpcs"].is_monotonic_increasing:
        raise ValueError(f"{name}: hcpcs must be unique and sorted")
    return table


def check_curated(rvus: pd.DataFrame, pfs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Validate the hand-curated tables against the RVU file before copying them.

    A curated code must exist in the 2025 RVU file (so a deleted code such as 00740 is never priced) and must
    not be priced by the PFS table (so every code has exactly one price source).
    """
    anesthesia = read_curated(ANESTHESIA_TABLE, ANESTHESIA_COLUMNS)
    ambulance = read_curated(AMBULANCE_TABLE, AMBULANCE_COLUMNS)
    if not anesthesia["hcpcs"].str.fullmatch(r"0(0[1-9]|1\d)\d{2}").all():
        raise ValueError(f"{ANESTHESIA_TABLE}: anesthesia codes must lie in 00100-01999")
    for column in ("base_units", "typical_time_units"):
        if (pd.to_numeric(anesthesia[column]) < 0).any():
            raise ValueError(f"{ANESTHESIA_TABLE}: {column} must be >= 0")
    if not ambulance["unit"].isin(AMBULANCE_UNITS).all():
        raise ValueError(f"{AMBULANCE_TABLE}: unit must be one of {AMBULANCE_UNITS}")
    if (pd.to_numeric(ambulance["rate"]) <= 0).any():
        raise ValueError(f"{AMBULANCE_TABLE}: rate must be > 0")

    for name, table in ((ANESTHESIA_TABLE, anesthesia), (AMBULANCE_TABLE, ambulance)):
        absent = sorted(set(table["hcpcs"]) - set(rvus["hcpcs"]))
        if absent:
            raise ValueError(f"{name}: codes not in {RVU_FILE} (deleted or mistyped): {absent}")
        double_priced = sorted(set(table["hcpcs"]) & set(pfs["hcpcs"]))
        if double_priced:
            raise ValueError(f"{name}: codes already priced by the PFS table: {double_priced}")
    return {ANESTHESIA_TABLE: anesthesia, AMBULANCE_TABLE: ambulance}


def csv_bytes(table: pd.DataFrame, float_format: str | None = None) -> bytes:
    return table.to_csv(index=False, lineterminator="\n", float_format=float_format).encode()


def render_readme(
    pfs: pd.DataFrame, states: pd.DataFrame, curated: dict[str, pd.DataFrame], pfs_cf: float, anes_cf: float
) -> str:
    statuses = ", ".join(PAYABLE_STATUSES)
    other_payers = ", ".join(PUBLISHED_FOR_OTHER_PAYERS_STATUSES)
    territories = ", ".join(TERRITORIES_PRICED_AS_HAWAII)
    return f"""# features/data: 2025 Medicare reference tables

Package data. This README and the four Medicare tables below, read by `features.reference`, are generated;
do not edit them by hand (other files here belong to other modules). Rebuild from the repository root with

    python scripts/build_reference.py            # --source ../shared/reference/cms --out features/data

The build is deterministic, and `tests/features/test_reference.py` checks that it reproduces these files.

## `{PFS_TABLE}` ({len(pfs):,} rows)

CMS 2025 Physician Fee Schedule relative value units (`{RVU_FILE}`, October release, AMA descriptions
removed), one row per (hcpcs, modifier) with modifier `""` (global), `26` (professional component) or `TC`
(technical component). Columns: `hcpcs, modifier, work_rvu, nonfac_pe_rvu, facility_pe_rvu, mp_rvu`, the
RVUs exactly as in the source, kept as components so state GPCIs can be applied.

Kept: status codes {statuses}, plus status {other_payers} rows that CMS flags as published for use by other
payers (e.g. consultations 99242-99245, preventive visits 99381-99397); rows with zero total RVUs are
dropped. Allowed amount = (work x PW GPCI + PE x PE GPCI + MP x MP GPCI) x {pfs_cf} (the 2025 conversion
factor), with the facility PE RVU for facility places of service.

## `{STATE_TABLE}` ({len(states)} states)

Per USPS state code: `pw_gpci, pe_gpci, mp_gpci` from `{GPCI_FILE}` and `anesthesia_cf` from
`{ANESTHESIA_CF_FILE}` (national anesthesia CF {anes_cf}), each the **unweighted mean of the state's
Medicare localities** (`localities` says how many), rounded to {STATE_GPCI_DECIMALS} decimals. CMS does not
publish state-level values; the unweighted mean counts every locality the same whatever its volume (Los
Angeles weighs as much as Yuba City), which needs no volume data but is only an approximation. The two
files are joined on (contractor, locality). {territories} are priced with the "HAWAII, GUAM" locality,
which covers them.
Unknown states are priced with national indices (1.0) and the national anesthesia CF.

## `{ANESTHESIA_TABLE}` ({len(curated[ANESTHESIA_TABLE])} codes)

Hand-curated (source: `scripts/reference_curated/{ANESTHESIA_TABLE}`): CMS 2025 anesthesia base units for
common anesthesia codes, which the PFS prices at zero RVUs, and a typical anesthesia time in 15-minute
units (an analyst estimate). Medicare amount per case = (base units + typical time units) x the state
anesthesia CF. Codes deleted before 2025 (e.g. 00740, 00810) are not priced.

## `{AMBULANCE_TABLE}` ({len(curated[AMBULANCE_TABLE])} codes)

Hand-curated (source: `scripts/reference_curated/{AMBULANCE_TABLE}`): approximate national unadjusted
rates of the CY2025 Medicare Ambulance Fee Schedule for ground and air ambulance base rates (per
transport) and mileage (per statute mile), before the GPCI adjustment and the rural/temporary add-ons.
"""


def build(source: Path, out: Path) -> list[Path]:
    """Write every reference table from ``source`` into ``out``; returns the files written."""
    rvus = read_rvus(source)
    pfs = build_pfs_table(rvus)
    anesthesia_cf, national_anesthesia_cf = read_anesthesia_cf(source)
    states = build_state_table(read_gpci(source), anesthesia_cf)
    curated = check_curated(rvus, pfs)

    contents = {
        # mtime=0 keeps the gzip header, and so the file, identical across rebuilds
        PFS_TABLE: gzip.compress(csv_bytes(pfs), compresslevel=9, mtime=0),
        STATE_TABLE: csv_bytes(states, float_format=f"%.{STATE_GPCI_DECIMALS}f"),
        ANESTHESIA_TABLE: (CURATED_DIR / ANESTHESIA_TABLE).read_bytes(),
        AMBULANCE_TABLE: (CURATED_DIR / AMBULANCE_TABLE).read_bytes(),
        README: render_readme(pfs, states, curated, conversion_factor(rvus), national_anesthesia_cf).encode(),
    }
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in contents.items():
        path = out / name
        path.write_bytes(data)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO_ROOT.parent / "shared" / "reference" / "cms",
        help="directory with the CMS source files (default: ../shared/reference/cms from the repo root)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "features" / "data",
        help="output directory (default: features/data)",
    )
    arguments = parser.parse_args(argv)
    for path in build(arguments.source, arguments.out):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
