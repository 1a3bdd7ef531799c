"""Federal IDR arbitration: payer behaviour learned from the CMS public use files (PUF).

Three jobs, each a plain function:

* ``ingest_idr`` maps the CMS dispute-line-item columns (any release's spelling, CSV or Parquet, with or
  without the helper columns of the public processing) to the IDR dataset, and reports every mapping and
  every dropped row with its reason;
* ``train_idr_model`` learns P(provider prevails) and the prevailing offer as a ratio of QPA with a temporal
  split, reports them beside baselines and tracks the run in MLflow;
* ``payer_idr_benchmarks`` summarises, per payer group, how providers fare against that payer at IDR.

Offers are chosen by the parties. Whatever the models say about offer levels is an association in
observational data, never the effect of asking for more or less.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from features.idr_payers import ALL_PAYERS, derive_payer_group, payer_ids_for_groups
from features.schema import US_STATES

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------------------
# Source columns
# ----------------------------------------------------------------------------------------------------------


def normalise_column_name(name: str) -> str:
    """Compare column names the way releases vary them: case, spacing, punctuation and '%' vs 'Percent'."""
    return re.sub(r"[^a-z0-9]+", " ", str(name).lower().replace("%", " percent ")).strip()


@dataclass(frozen=True)
class SourceField:
    """One dataset column and the CMS column names it is read from (first present wins, per row)."""

    target: str
    aliases: tuple[str, ...]
    meaning: str

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(normalise_column_name(alias) for alias in self.aliases)


SOURCE_FIELDS: tuple[SourceField, ...] = (
    SourceField("dispute_number", ("Dispute Number",), "CMS dispute id"),
    SourceField("dli_number", ("DLI Number", "Dispute Line Item Number"), "CMS dispute line item id"),
    SourceField("quarter", ("Quarter",), "quarter of the release, YYYYQn (from the file name when absent)"),
    SourceField(
        "outcome",
        ("Payment Determination Outcome",),
        "provider or plan: whose offer prevailed ('In Favor of Provider/Facility...', 'In Favor of Plan/Issuer')",
    ),
    SourceField(
        "offer_selected",
        ("Offer Selected from Provider or Issuer",),
        "whose offer was selected; only checked against the outcome, never kept",
    ),
    SourceField("default_decision", ("Default Decision",), "true when one party failed to submit an offer"),
    SourceField("batched", ("Type of Dispute",), "true for a batched dispute"),
    SourceField("line_item_type", ("Dispute Line Item Type",), "single, batched, bundled or component"),
    SourceField(
        "plan_type",
        ("Health Plan Type",),
        "self_funded_group, fully_insured_group, individual, fehb, public_sector, church, no_plan_response, other",
    ),
    SourceField("issuer_name", ("Health Plan/Issuer Name",), "plan or issuer as the dispute names it"),
    SourceField(
        "issuer_email_domain",
        ("Health Plan/Issuer Email Domain",),
        "domain of the organisation that answered for the plan (lower-case)",
    ),
    SourceField(
        "carrier_group",
        ("Carrier_Group",),
        "payer group of the public processing; derived from the matching table when absent",
    ),
    SourceField("provider_group", ("Provider Email Domain",), "provider's e-mail domain (lower-case)"),
    SourceField("state", ("Location of Service", "State"), "USPS state of the service (unknown blanked)"),
    SourceField("service_code", ("Service Code",), "CPT/HCPCS/DRG code, upper-case"),
    SourceField("service_code_type", ("Type of Service Code",), "HCPCS, CPT or DRG"),
    SourceField("place_of_service", ("Place of Service Code",), "two-digit CMS place of service"),
    SourceField(
        "vehicle_type",
        ("Air Ambulance Vehicle Type", "Ambulance Vehicle Type"),
        "rotary_wing, fixed_wing or other, read from the free text (2023 and 2024 names)",
    ),
    SourceField(
        "vehicle_capacity",
        ("Air Ambulance Vehicle Clinical Capacity Level", "Ambulance Vehicle Clinical Capacity Level"),
        "critical_care, advanced, standard, see_attachment or other, read from the free text",
    ),
    SourceField("specialty", ("Practice/Facility Specialty or Type",), "emergency/non-emergency file only"),
    SourceField("practice_size", ("Practice/Facility Size",), "emergency/non-emergency file only"),
    SourceField(
        "provider_offer_ratio",
        ("Provider/Facility Offer as % of QPA",),
        "provider's offer / QPA (a ratio: 2.29 = 229%)",
    ),
    SourceField("plan_offer_ratio", ("Health Plan/Issuer Offer as % of QPA",), "plan's offer / QPA"),
    SourceField(
        "prevailing_offer_ratio",
        ("Prevailing Party Offer as % of QPA", "Prevailing Offer as % of QPA"),
        "prevailing offer / QPA",
    ),
    SourceField(
        "days_to_determination",
        ("Length of Time to Make Determination",),
        "days from the IDR entity's selection to the determination",
    ),
    SourceField("idre_fee", ("IDRE Compensation",), "IDR entity fee in dollars (0 on default decisions)"),
    SourceField("initiating_party", ("Initiating Party",), "who initiated (recorded from 2024Q3)"),
)
SOURCE_FIELD_BY_TARGET = {field.target: field for field in SOURCE_FIELDS}

#: Known columns deliberately left out, with the reason (keys are normalised names).
IGNORED_COLUMNS: dict[str, str] = {
    normalise_column_name(name): reason
    for names, reason in (
        (
            ("Provider/Facility Group Name", "Provider/Facility Name", "Provider/Facility NPI Number"),
            "provider identity; the provider e-mail domain is kept as provider_group",
        ),
        (("Item or Service Description",), "free text; the service code carries it"),
        (
            (
                "QPA as Percent of Median QPA",
                "Provider/Facility Offer as Percent of Median Provider/Facility Offer Amount",
                "Health Plan/Issuer Offer as Percent of Median Health Plan/Issuer Offer Amount",
                "Prevailing Offer as Percent of Median Prevailing Offer Amount",
            ),
            "relative to a median the file does not give; the ratios to QPA are kept",
        ),
        (
            ("Provider_Group", "Provider_Category", "Anthem_Flag", "Outcome_Bucket"),
            "helper column of the public processing, not CMS; recomputed or not needed",
        ),
        (("Service Code Modifier(s)", "Geographical Region"), "suppressed or too coarse to use"),
    )
    for name in names
}

#: Cell values that mean 'missing' in the PUF releases (CMS suppression markers and export artefacts).
MISSING_TOKENS = frozenset({"", "nr", "n/r", "n/a", "na", "<na>", "nan", "none", "null", "^", "+", "*"})

PLAN_TYPE_RULES: tuple[tuple[str, str], ...] = (
    (r"self.?insured|self.?funded", "self_funded_group"),
    (r"fully insured", "fully_insured_group"),
    (r"individual", "individual"),
    (r"fehb|federal employees", "fehb"),
    (r"non.?federal government|state or local", "public_sector"),
    (r"church", "church"),
    (r"no plan|no .*response", "no_plan_response"),
)
#: recoup's ``funding`` (features.schema.FUNDING_TYPES) of each plan type, so IDR rows can meet claim rows.
FUNDING_BY_PLAN_TYPE = {
    "self_funded_group": "self_funded",
    "fully_insured_group": "fully_insured",
    "individual": "fully_insured",
    "fehb": "government",
    "public_sector": "government",
    "church": "unknown",
    "no_plan_response": "unknown",
    "other": "unknown",
}
VEHICLE_TYPE_RULES: tuple[tuple[str, str], ...] = (
    (
        r"\brw\b|rotor|rotary|helicopter|\bbell\b|airbus|eurocopter|\bec ?-?1\d\d|\bh1[2-4]5|\bas ?350|bk ?117"
        r"|\baw ?1\d\d|\ba-?119|sikorsky|\bs-?76|agusta|augusta|leonardo",
        "rotary_wing",
    ),
    (
        r"\bfw\b|fixed|learjet|\blear\b|king ?air|pilatus|\bpc.?12|beech|citation|\bjet\b|turbo ?prop"
        r"|commander|challenger|hawker",
        "fixed_wing",
    ),
)
VEHICLE_CAPACITY_RULES: tuple[tuple[str, str], ...] = (
    (r"critical|\bicu\b|\bsct\b|\bcct\b|trauma|\bccns?\b", "critical_care"),
    (r"advanced|\bals\b|paramedic|nurse|\brn\b|physician|practitioner", "advanced"),
    (r"standard|basic|\bbls\b", "standard"),
    (r"^see\b|attached|ambulance vehicles", "see_attachment"),
)
OFFER_RATIO_COLUMNS = ("provider_offer_ratio", "plan_offer_ratio", "prevailing_offer_ratio")
#: Ratios above this are kept as reported but counted: most look like dollar amounts typed as percentages.
IMPLAUSIBLE_RATIO = 50.0

DROP_REASONS: dict[str, str] = {
    "missing_quarter": "no quarter in the Quarter column",
    "missing_outcome": "Payment Determination Outcome is blank",
    "split_decision": "split decision: neither party's offer prevailed for the whole line item",
    "unrecognised_outcome": "Payment Determination Outcome has a value this mapping does not know",
    "outcome_conflicts_with_offer_selected": "Offer Selected from Provider or Issuer names the other party",
    "duplicate_line_item": "same DLI Number published again in a later quarter; the latest copy is kept",
}

DATASET_COLUMNS = (
    "dispute_number",
    "dli_number",
    "quarter",
    "outcome",
    "default_decision",
    "batched",
    "line_item_type",
    "plan_type",
    "funding",
    "payer_group",
    "payer_id",
    "issuer_name",
    "issuer_email_domain",
    "provider_group",
    "state",
    "service_code",
    "service_code_type",
    "place_of_service",
    "vehicle_type",
    "vehicle_capacity",
    "specialty",
    "practice_size",
    *OFFER_RATIO_COLUMNS,
    "days_to_determination",
    "idre_fee",
    "initiating_party",
    "source_file",
)

# ----------------------------------------------------------------------------------------------------------
# Ingest
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFileReport:
    path: str
    rows_read: int
    quarter_from: str  # "Quarter column", "file name", or "argument"


@dataclass(frozen=True)
class IdrIngestResult:
    """The IDR dataset and the report of how it was made."""

    dataset: pd.DataFrame
    dropped: pd.DataFrame  # one row per dropped source row: source_file, source_row, ids, quarter, reason
    files: tuple[SourceFileReport, ...]
    column_sources: dict[str, tuple[str, ...]]  # dataset column -> source columns it was read from
    missing_columns: tuple[str, ...]  # dataset columns no file provided (left empty)
    ignored_columns: dict[str, str]  # source column -> why it is not used
    unknown_columns: tuple[str, ...]  # source columns this mapping does not know (ignored)
    unparseable_values: dict[str, int]  # dataset column -> non-empty source values that could not be read
    unrecognised_values: dict[str, dict[str, int]]  # dataset column -> unknown category value -> rows
    payer_group_sources: dict[str, int]  # how each kept row's payer group was found -> rows

    @property
    def rows_read(self) -> int:
        return sum(file.rows_read for file in self.files)

    @property
    def dropped_by_reason(self) -> dict[str, int]:
        counts = self.dropped["reason"].value_counts()
        return {reason: int(counts[reason]) for reason in DROP_REASONS if reason in counts}

    def to_report(self) -> dict:
        """The mapping report as plain JSON-able data (written beside the dataset)."""
        quarters = self.dataset["quarter"].value_counts().sort_index()
        no_ratio = self.dataset["prevailing_offer_ratio"].isna()
        return {
            "rows_read": self.rows_read,
            "rows_kept": len(self.dataset),
            "rows_dropped": len(self.dropped),
            "dropped_by_reason": {
                reason: {"rows": rows, "meaning": DROP_REASONS[reason]}
                for reason, rows in self.dropped_by_reason.items()
            },
            "files": [vars(file) for file in self.files],
            "quarters": {quarter: int(rows) for quarter, rows in quarters.items()},
            "kept_without_prevailing_offer_ratio": {
                quarter: int(rows)
                for quarter, rows in self.dataset.loc[no_ratio, "quarter"].value_counts().sort_index().items()
            },
            "implausible_offer_ratios_kept": {
                column: int((self.dataset[column] > IMPLAUSIBLE_RATIO).sum()) for column in OFFER_RATIO_COLUMNS
            },
            "column_sources": {target: list(sources) for target, sources in self.column_sources.items()},
            "column_meanings": {field.target: field.meaning for field in SOURCE_FIELDS},
            "missing_columns": list(self.missing_columns),
            "ignored_columns": self.ignored_columns,
            "unknown_columns": list(self.unknown_columns),
            "unparseable_values": self.unparseable_values,
            "unrecognised_values": self.unrecognised_values,
            "payer_group_sources": self.payer_group_sources,
        }


def ingest_idr(source: Path | list[Path], *, quarter: str | None = None) -> IdrIngestResult:
    """Read CMS Federal IDR dispute-line-item files (CSV or Parquet) into the IDR dataset.

    ``quarter`` (YYYYQn) is used for files without a Quarter column; without it the quarter is read from
    the file name, as CMS names its releases ('Federal IDR PUF for 2025 Q1 - OON Air Ambulance.csv').
    """
    paths = [Path(source)] if isinstance(source, str | Path) else [Path(path) for path in source]
    if not paths:
        raise ValueError("ingest_idr: no files given")
    mapped, reports = [], []
    column_sources: dict[str, list[str]] = {field.target: [] for field in SOURCE_FIELDS}
    ignored: dict[str, str] = {}
    unknown: list[str] = []
    unparseable: Counter[str] = Counter()
    unrecognised: dict[str, Counter[str]] = {}
    for path in paths:
        log.info("reading %s", path)
        raw = read_source_file(path)
        sources, file_ignored, file_unknown = resolve_columns(raw.columns)
        quarter_from, file_quarter = _file_quarter(path, sources, quarter)
        frame, file_unparseable, file_unrecognised = map_source_frame(raw, sources, file_quarter)
        frame["source_file"] = path.name
        frame["source_row"] = np.arange(1, len(raw) + 1)
        mapped.append(frame)
        reports.append(SourceFileReport(str(path), len(raw), quarter_from))
        for target, columns in sources.items():
            column_sources[target] += [column for column in columns if column not in column_sources[target]]
        ignored |= file_ignored
        unknown += [column for column in file_unknown if column not in unknown]
        unparseable.update(file_unparseable)
        for target, values in file_unrecognised.items():
            unrecognised.setdefault(target, Counter()).update(values)
    rows = pd.concat(mapped, ignore_index=True)
    reasons = drop_reasons(rows)
    identity = ["source_file", "source_row", "dispute_number", "dli_number", "quarter"]
    dropped = rows.loc[reasons.notna(), identity].assign(reason=reasons[reasons.notna()])
    kept = rows.loc[reasons.isna()].reset_index(drop=True)
    dataset, group_sources = _with_payer_groups(kept)
    log.info("kept %d of %d rows", len(dataset), len(rows))
    return IdrIngestResult(
        dataset=dataset.loc[:, list(DATASET_COLUMNS)],
        dropped=dropped.reset_index(drop=True),
        files=tuple(reports),
        column_sources={target: tuple(columns) for target, columns in column_sources.items() if columns},
        missing_columns=tuple(target for target, columns in column_sources.items() if not columns),
        ignored_columns=ignored,
        unknown_columns=tuple(unknown),
        unparseable_values=dict(unparseable),
        unrecognised_values={target: dict(values.most_common()) for target, values in unrecognised.items()},
        payer_group_sources=group_sources,
    )


def read_source_file(path: Path) -> pd.DataFrame:
    """A PUF file as delivered: CSV (any text cell kept as text) or Parquet."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        return pd.read_parquet(path)
    if name.endswith((".csv", ".csv.gz", ".txt")):
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except UnicodeDecodeError:  # older CMS exports are Windows-1252
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="cp1252")
    raise ValueError(f"{path}: unsupported file type; give CSV or Parquet (save an Excel sheet as CSV first)")


def resolve_columns(columns: Iterable[str]) -> tuple[dict[str, list[str]], dict[str, str], list[str]]:
    """Which source columns feed each dataset column; which are known but unused; which are unknown."""
    first_by_key: dict[str, str] = {}
    for column in columns:
        first_by_key.setdefault(normalise_column_name(column), column)
    sources = {
        field.target: [first_by_key[key] for key in field.keys if key in first_by_key] for field in SOURCE_FIELDS
    }
    used = {column for chosen in sources.values() for column in chosen}
    ignored = {
        column: IGNORED_COLUMNS[normalise_column_name(column)]
        for column in columns
        if normalise_column_name(column) in IGNORED_COLUMNS
    }
    unknown = [column for column in columns if column not in used and column not in ignored]
    return sources, ignored, unknown


def parse_quarter(text: str | None) -> str | None:
    """'2024Q4', '2024 Q4', 'Q4 2024', '2024-q4' -> '2024Q4'; None when there is no quarter."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    match = re.search(r"(20\d\d)\s*[-_ ]?\s*q([1-4])(?!\d)", str(text), re.IGNORECASE)
    if match:
        return f"{match.group(1)}Q{match.group(2)}"
    match = re.search(r"q([1-4])\s*[-_ ]?\s*(20\d\d)", str(text), re.IGNORECASE)
    return f"{match.group(2)}Q{match.group(1)}" if match else None


def _file_quarter(path: Path, sources: dict[str, list[str]], quarter: str | None) -> tuple[str, str | None]:
    if sources["quarter"]:
        return "Quarter column", None
    if quarter is not None:
        parsed = parse_quarter(quarter)
        if parsed is None:
            raise ValueError(f"quarter {quarter!r} is not a quarter such as 2025Q1")
        return "argument", parsed
    parsed = parse_quarter(path.name)
    if parsed is None:
        raise ValueError(f"{path}: no Quarter column and no quarter in the file name; give the quarter (YYYYQn)")
    return "file name", parsed


def _text(raw: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Cells of the first listed column that has one, as stripped text; missing markers become NA."""
    result = pd.Series(pd.NA, index=raw.index, dtype="str")
    for column in columns:
        values = raw[column].astype("str").str.strip()
        values = values.mask(values.str.lower().isin(MISSING_TOKENS))
        result = result.fillna(values)
    return result


def _number(text: pd.Series) -> tuple[pd.Series, int]:
    cleaned = text.str.replace(r"[$,\s]", "", regex=True)
    numbers = pd.to_numeric(cleaned, errors="coerce").astype("float64")
    return numbers, int((text.notna() & numbers.isna()).sum())


def _ratio(text: pd.Series) -> tuple[pd.Series, int]:
    """Offer / QPA. Numbers are ratios as CMS stores them (2.29 = 229%); text with a '%' sign is a percent."""
    percent = text.str.endswith("%").fillna(False)
    numbers, bad = _number(text.str.rstrip("%"))
    return numbers.where(~percent, numbers / 100), bad


def _categorise(text: pd.Series, rules: tuple[tuple[str, str], ...], other: str) -> tuple[pd.Series, Counter]:
    """First rule whose pattern matches each value; ``other`` (and a count of the value) when none does."""
    lookup = {
        value: next((label for pattern, label in rules if re.search(pattern, value, re.IGNORECASE)), other)
        for value in text.dropna().unique()
    }
    labels = text.map(lookup).astype("str")
    return labels, Counter(text[labels.eq(other)].value_counts().to_dict())


def _yes_no(text: pd.Series) -> tuple[pd.Series, int]:
    lowered = text.str.lower()
    values = lowered.map(
        {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False, "false": False, "0": False}
    ).astype("boolean")
    return values, int((text.notna() & values.isna()).sum())


def _outcome(text: pd.Series) -> pd.Series:
    """provider / plan / split / unrecognised (NA when blank)."""
    lowered = text.str.lower()
    outcome = pd.Series(pd.NA, index=text.index, dtype="str")
    outcome[lowered.notna()] = "unrecognised"
    outcome[lowered.str.contains(r"provider|facility", na=False)] = "provider"
    outcome[lowered.str.contains(r"plan|issuer", na=False)] = "plan"
    outcome[lowered.str.contains("split", na=False)] = "split"
    return outcome


def map_source_frame(
    raw: pd.DataFrame, sources: dict[str, list[str]], file_quarter: str | None
) -> tuple[pd.DataFrame, Counter, dict[str, Counter]]:
    """One file's rows in dataset columns (before rows are dropped), with the values it could not read."""
    text = {target: _text(raw, columns) for target, columns in sources.items()}
    unparseable: Counter[str] = Counter()
    unrecognised: dict[str, Counter] = {}
    frame = pd.DataFrame(index=raw.index)
    for target in (
        "dispute_number",
        "dli_number",
        "issuer_name",
        "carrier_group",
        "service_code_type",
        "specialty",
        "practice_size",
        "initiating_party",
    ):
        frame[target] = text[target]
    frame["service_code"] = text["service_code"].str.upper()
    frame["issuer_email_domain"] = text["issuer_email_domain"].str.lower()
    frame["provider_group"] = text["provider_group"].str.lower()
    frame["quarter"] = (
        text["quarter"].map(parse_quarter).astype("str")
        if file_quarter is None
        else pd.Series(file_quarter, index=raw.index, dtype="str")
    )
    frame["outcome"] = _outcome(text["outcome"])
    frame["offer_selected"] = _outcome(text["offer_selected"])
    for target in ("outcome", "offer_selected"):
        odd = text[target][frame[target].eq("unrecognised")]
        if len(odd):
            unrecognised[target] = Counter(odd.value_counts().to_dict())
    frame["default_decision"], unparseable["default_decision"] = _yes_no(text["default_decision"])
    frame["batched"] = text["batched"].str.lower().map({"batched": True, "single": False}).astype("boolean")
    unparseable["batched"] = int((text["batched"].notna() & frame["batched"].isna()).sum())
    frame["line_item_type"] = text["line_item_type"].str.lower().str.extract(r"^\s*(\w+)", expand=False)
    frame["plan_type"], unrecognised["plan_type"] = _categorise(text["plan_type"], PLAN_TYPE_RULES, "other")
    frame["funding"] = frame["plan_type"].map(FUNDING_BY_PLAN_TYPE).fillna("unknown").astype("str")
    states = text["state"].str.upper()
    known_state = states.isin(US_STATES)
    unrecognised["state"] = Counter(states[states.notna() & ~known_state].value_counts().to_dict())
    frame["state"] = states.where(known_state)
    pos = text["place_of_service"]
    frame["place_of_service"] = pos.where(~pos.str.fullmatch(r"\d").fillna(False), "0" + pos)
    frame["vehicle_type"], _ = _categorise(text["vehicle_type"], VEHICLE_TYPE_RULES, "other")
    frame["vehicle_capacity"], _ = _categorise(text["vehicle_capacity"], VEHICLE_CAPACITY_RULES, "other")
    for target in OFFER_RATIO_COLUMNS:
        frame[target], unparseable[target] = _ratio(text[target])
    days, unparseable["days_to_determination"] = _number(text["days_to_determination"])
    frame["days_to_determination"] = days.round().astype("Int64")
    frame["idre_fee"], unparseable["idre_fee"] = _number(text["idre_fee"])
    return (
        frame,
        +unparseable,  # unary + keeps positive counts only
        {target: values for target, values in unrecognised.items() if values},
    )


def drop_reasons(rows: pd.DataFrame) -> pd.Series:
    """Why each mapped row is dropped (NA = kept). A row gets the first reason that applies."""
    reasons = pd.Series(pd.NA, index=rows.index, dtype="str")
    checks = {
        "missing_quarter": rows["quarter"].isna(),
        "missing_outcome": rows["outcome"].isna(),
        "split_decision": rows["outcome"].eq("split"),
        "unrecognised_outcome": rows["outcome"].eq("unrecognised"),
        "outcome_conflicts_with_offer_selected": rows["offer_selected"].isin(["provider", "plan"])
        & rows["outcome"].isin(["provider", "plan"])
        & rows["offer_selected"].ne(rows["outcome"]),
    }
    for reason, applies in checks.items():
        reasons[reasons.isna() & applies.fillna(False)] = reason
    # A later release supersedes an earlier one, so the copy in the latest quarter (then file) is kept.
    order = rows.assign(_kept=reasons.isna()).sort_values(["quarter", "source_file", "source_row"])
    candidates = order[order["_kept"] & order["dli_number"].notna()]
    superseded = candidates.index[candidates["dli_number"].duplicated(keep="last")]
    reasons[superseded] = "duplicate_line_item"
    return reasons


def _with_payer_groups(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Payer group from Carrier_Group when the file has it, else from the matching table; plus payer_id."""
    derived = derive_payer_group(rows["issuer_email_domain"], rows["issuer_name"])
    from_carrier = rows["carrier_group"].notna()
    payer_group = rows["carrier_group"].where(from_carrier, derived["payer_group"])
    source = derived["payer_group_source"].where(~from_carrier, "carrier_group")
    dataset = rows.assign(payer_group=payer_group, payer_id=payer_ids_for_groups(payer_group))
    return dataset, {name: int(count) for name, count in source.value_counts().items()}


def write_idr_dataset(result: IdrIngestResult, out: Path) -> tuple[Path, Path, Path]:
    """Write the dataset (Parquet), its mapping report (.report.json) and the dropped rows (.dropped.csv)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report_path = out.with_name(out.stem + ".report.json")
    dropped_path = out.with_name(out.stem + ".dropped.csv")
    result.dataset.to_parquet(out, index=False)
    report_path.write_text(json.dumps(result.to_report(), indent=2) + "\n", encoding="utf-8")
    result.dropped.to_csv(dropped_path, index=False)
    return out, report_path, dropped_path


def read_idr_dataset(path: Path) -> pd.DataFrame:
    """An IDR dataset written by ``write_idr_dataset``."""
    dataset = pd.read_parquet(path)
    missing = [column for column in DATASET_COLUMNS if column not in dataset.columns]
    if missing:
        raise ValueError(f"{path}: not an IDR dataset (missing {missing}); make one with `recoup ingest-idr`")
    return dataset


def format_idr_ingest_report(result: IdrIngestResult) -> str:
    """The ingest summary `recoup ingest-idr` prints."""
    report = result.to_report()
    lines = [
        f"IDR ingest: {report['rows_read']:,} rows read from {len(result.files)} file(s); "
        f"{report['rows_kept']:,} kept, {report['rows_dropped']:,} dropped"
    ]
    lines += [
        f"  {Path(file.path).name}: {file.rows_read:,} rows, quarter from the {file.quarter_from}"
        for file in result.files
    ]
    lines.append("Dropped rows by reason (each dropped row is listed in the .dropped.csv file):")
    lines += [
        f"  {reason:<40}{entry['rows']:>8,}  {entry['meaning']}"
        for reason, entry in report["dropped_by_reason"].items()
    ] or ["  none"]
    lines.append("Kept rows by quarter (rows without a prevailing offer ratio serve the outcome model only):")
    without = report["kept_without_prevailing_offer_ratio"]
    lines += [
        f"  {quarter}  {rows:>7,} rows  {without.get(quarter, 0):>7,} without offer ratios"
        for quarter, rows in report["quarters"].items()
    ]
    implausible = {column: rows for column, rows in report["implausible_offer_ratios_kept"].items() if rows}
    if implausible:
        lines.append(
            f"Offer ratios above {IMPLAUSIBLE_RATIO:g}x QPA kept as reported: "
            + ", ".join(f"{column} {rows:,}" for column, rows in implausible.items())
        )
    lines.append("Columns mapped (dataset column <- source columns):")
    lines += [f"  {target:<24}<- {' | '.join(sources)}" for target, sources in result.column_sources.items()]
    if result.missing_columns:
        lines.append("Not in the source (left empty, or derived): " + ", ".join(result.missing_columns))
    lines.append("Known source columns not used: " + (", ".join(result.ignored_columns) or "none"))
    lines.append("Unknown source columns (ignored): " + (", ".join(result.unknown_columns) or "none"))
    for target, count in result.unparseable_values.items():
        lines.append(f"Unreadable values blanked in {target}: {count:,}")
    for target, values in result.unrecognised_values.items():
        shown = ", ".join(f"{value!r} {rows:,}" for value, rows in list(values.items())[:5])
        lines.append(f"Unrecognised {target} values: {shown}" + (" ..." if len(values) > 5 else ""))
    lines.append(
        "Payer group from: " + ", ".join(f"{source} {rows:,}" for source, rows in result.payer_group_sources.items())
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------
# Payer benchmarks
# ----------------------------------------------------------------------------------------------------------


def _shrunk(successes: pd.Series, trials: pd.Series, prior: float, strength: float) -> pd.Series:
    """Empirical-Bayes (beta prior) rate: the group's rate pulled toward ``prior`` by ``strength`` rows."""
    return (successes + strength * prior) / (trials + strength)


def payer_idr_benchmarks(dataset: pd.DataFrame, prior_strength: float = 50) -> pd.DataFrame:
    """Per payer group: how providers fare against it at IDR (one row per group, first row all payers).

    Counts are dispute line items unless named ``disputes``. Rates and the median offer ratio come raw
    (``*_raw``) and shrunk toward all payers by ``prior_strength`` pseudo line items (the offer ratio in log
    space), so a group with a handful of disputes does not show an extreme. The median IDRE fee is over
    line items with a fee (default decisions carry none).
    """
    frame = dataset.assign(
        won=dataset["outcome"].eq("provider").astype(float),
        default_known=dataset["default_decision"].notna().astype(float),
        defaulted=dataset["default_decision"].fillna(False).astype(float),
        log_offer=np.log(dataset["prevailing_offer_ratio"].where(dataset["prevailing_offer_ratio"] > 0)),
        fee=dataset["idre_fee"].where(dataset["idre_fee"] > 0),
    )
    everyone = frame.assign(payer_group=ALL_PAYERS, payer_id=pd.NA)
    table = (
        pd.concat([everyone, frame])
        .groupby("payer_group", sort=False, dropna=True)
        .agg(
            payer_id=("payer_id", "first"),
            line_items=("won", "size"),
            disputes=("dispute_number", "nunique"),
            provider_wins=("won", "sum"),
            default_known=("default_known", "sum"),
            default_decisions=("defaulted", "sum"),
            offer_ratio_line_items=("log_offer", "count"),
            log_offer_median=("log_offer", "median"),
            median_days=("days_to_determination", "median"),
            median_idre_fee=("fee", "median"),
            first_quarter=("quarter", "min"),
            last_quarter=("quarter", "max"),
        )
    )
    market = table.loc[ALL_PAYERS]
    table["provider_win_rate_raw"] = table["provider_wins"] / table["line_items"]
    table["provider_win_rate"] = _shrunk(
        table["provider_wins"], table["line_items"], market["provider_wins"] / market["line_items"], prior_strength
    )
    table["default_decision_rate_raw"] = table["default_decisions"] / table["default_known"]
    market_default_rate = market["default_decisions"] / market["default_known"]
    table["default_decision_rate"] = _shrunk(
        table["default_decisions"], table["default_known"], market_default_rate, prior_strength
    )
    table["median_prevailing_offer_ratio_raw"] = np.exp(table["log_offer_median"])
    weight = table["offer_ratio_line_items"] / (table["offer_ratio_line_items"] + prior_strength)
    table["median_prevailing_offer_ratio"] = np.exp(
        weight * table["log_offer_median"].fillna(0) + (1 - weight) * market["log_offer_median"]
    )
    table = table.astype(
        {
            "line_items": int,
            "disputes": int,
            "provider_wins": int,
            "default_decisions": int,
            "offer_ratio_line_items": int,
        }
    )
    ordered = table.drop(index=ALL_PAYERS).sort_values("line_items", ascending=False)
    columns = [
        "payer_id",
        "line_items",
        "disputes",
        "provider_wins",
        "provider_win_rate_raw",
        "provider_win_rate",
        "default_decisions",
        "default_decision_rate_raw",
        "default_decision_rate",
        "offer_ratio_line_items",
        "median_prevailing_offer_ratio_raw",
        "median_prevailing_offer_ratio",
        "median_days",
        "median_idre_fee",
        "first_quarter",
        "last_quarter",
    ]
    result = pd.concat([table.loc[[ALL_PAYERS]], ordered])[columns].reset_index()
    return result.assign(prior_strength=prior_strength)


# ----------------------------------------------------------------------------------------------------------
# Features and split
# ----------------------------------------------------------------------------------------------------------

#: Known when a provider decides to take a claim to IDR.
CATEGORICAL_FEATURES = (
    "payer_group",
    "plan_type",
    "state",
    "service_code",
    "place_of_service",
    "vehicle_type",
    "vehicle_capacity",
    "line_item_type",
    "provider_group",
    "specialty",
    "practice_size",
)
NUMERIC_FEATURES = ("quarter_time", "batched")
#: Set by the parties before the decision: usable, but only as associations (see the module docstring).
OFFER_FEATURES = ("log_provider_offer_ratio", "log_plan_offer_ratio")
#: Raw inputs of the logged model: the dataset columns the filing-time features are computed from.
MODEL_INPUT_COLUMNS = ("quarter", *CATEGORICAL_FEATURES, "batched")

NOT_FEATURES: dict[str, str] = {
    "outcome, offer selected, prevailing_offer_ratio": "these are the outcome",
    "default_decision": "happens during the dispute (a party fails to submit an offer), unknown when filing",
    "plan_type = no_plan_response": "records that the plan never answered the dispute; read as unknown plan "
    "type (94% provider wins there: an unknown plan type reads optimistic)",
    "days_to_determination, idre_fee": "known only after the determination (the fee is 0 on defaults)",
    "initiating_party": "recorded only from 2024Q3",
    "offer ratios with a missing side": "a missing offer usually means that party defaulted, so the model "
    "given offers uses only rows where both offers are known",
}

#: Offers of 0 exist (a plan offering nothing); the log needs a floor.
MIN_OFFER_RATIO = 0.01


def model_features(rows: pd.DataFrame) -> pd.DataFrame:
    """Model inputs computed from IDR dataset rows (offer features only when the offer columns are there)."""
    features = pd.DataFrame(index=rows.index)
    for column in CATEGORICAL_FEATURES:
        features[column] = rows[column].astype("str") if column in rows else pd.NA
    features["plan_type"] = features["plan_type"].mask(features["plan_type"].eq("no_plan_response"))
    year = pd.to_numeric(rows["quarter"].str[:4], errors="coerce")
    features["quarter_time"] = year + (pd.to_numeric(rows["quarter"].str[-1], errors="coerce") - 1) / 4
    features["batched"] = rows["batched"].astype("Float64").astype("float64")
    for feature, column in zip(OFFER_FEATURES, ("provider_offer_ratio", "plan_offer_ratio"), strict=True):
        if column in rows:
            features[feature] = np.log(rows[column].clip(lower=MIN_OFFER_RATIO))
    return features


def temporal_split(
    rows: pd.DataFrame,
    labelled: pd.Series,
    test_quarters: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on the earlier quarters, test on the latest ``test_quarters`` that have the label."""
    subset = rows[labelled.fillna(False).to_numpy()]
    quarters = sorted(subset["quarter"].unique())
    if len(quarters) <= test_quarters:
        raise ValueError(f"temporal split needs more than {test_quarters} quarter(s) with the label; found {quarters}")
    test_set = set(quarters[-test_quarters:])
    is_test = subset["quarter"].isin(test_set)
    return subset[~is_test], subset[is_test]


def usable_features(train: pd.DataFrame, candidates: Iterable[str]) -> list[str]:
    """Candidates with at least one value in training (the air-ambulance file has no specialty, say)."""
    return [column for column in candidates if train[column].notna().any()]


def category_levels(train: pd.DataFrame, columns: Iterable[str]) -> dict[str, list[str]]:
    return {column: sorted(train[column].dropna().unique()) for column in columns}


def encode(features: pd.DataFrame, levels: dict[str, list[str]], numeric: Iterable[str]) -> pd.DataFrame:
    """LightGBM input: categoricals with the training levels (an unseen value becomes missing), numerics."""
    encoded = pd.DataFrame(index=features.index)
    for column, known in levels.items():
        values = features[column]
        encoded[column] = pd.Categorical(values.where(values.isin(known)), categories=known)
    for column in numeric:
        encoded[column] = features[column].astype("float64")
    return encoded


# ----------------------------------------------------------------------------------------------------------
# Models, baselines, metrics
# ----------------------------------------------------------------------------------------------------------

# Chosen on a validation quarter inside the training quarters (2024Q3 for the outcome, 2024Q1 for the offer),
# never on the test quarter.
CLASSIFIER_PARAMS = {
    "n_estimators": 200,
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 5.0,
    "min_data_per_group": 50,
    "cat_smooth": 20.0,
    "max_cat_threshold": 32,
}
REGRESSOR_PARAMS = {
    **CLASSIFIER_PARAMS,
    "n_estimators": 500,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "objective": "quantile",
    "alpha": 0.5,
}
LIGHTGBM_FIXED = {"verbose": -1, "deterministic": True, "force_col_wise": True}
CALIBRATION_BINS = 10


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    table = reliability_table(y, p, bins)
    return float((table["rows"] * (table["observed_rate"] - table["mean_predicted"]).abs()).sum() / len(y))


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Observed rate against mean prediction in equal-width probability bins (empty bins left out)."""
    bin_index = np.clip((np.asarray(p) * bins).astype(int), 0, bins - 1)
    frame = pd.DataFrame({"bin": bin_index, "y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    table = frame.groupby("bin").agg(rows=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
    table.insert(0, "bin_low", table.index / bins)
    return table.reset_index(drop=True)


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    both_classes = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
    }


def offer_ratio_metrics(actual_ratio: np.ndarray, predicted_ratio: np.ndarray) -> dict[str, float]:
    return {
        "mae_log": float(np.mean(np.abs(np.log(predicted_ratio) - np.log(actual_ratio)))),
        "median_ape": float(np.median(np.abs(predicted_ratio - actual_ratio) / actual_ratio)),
    }


def logistic_baseline(categorical: list[str], numeric: list[str]) -> Pipeline:
    """One-hot logistic regression on the same features (rare levels pooled, as LightGBM does)."""
    encoder = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20), categorical),
            ("num", StandardScaler(), numeric),
        ]
    )
    return Pipeline([("encode", encoder), ("model", LogisticRegression(C=1.0, max_iter=5000))])


def _logistic_inputs(features: pd.DataFrame, categorical: list[str], numeric: list[str]) -> pd.DataFrame:
    inputs = features[categorical].fillna("(missing)").astype(object)
    return inputs.join(features[numeric].astype("float64").fillna(0.0))


@dataclass(frozen=True)
class IdrEvaluation:
    """One task evaluated on its temporal split: the model beside its baselines."""

    task: str
    title: str
    train_quarters: tuple[str, ...]
    test_quarters: tuple[str, ...]
    train_rows: int
    test_rows: int
    excluded_rows: int  # dataset rows without what this task needs
    exclusion: str
    features: tuple[str, ...]
    metrics: pd.DataFrame  # index: model; columns: metrics
    test_label_summary: str


MODEL_KEYS = {
    "overall rate": "overall_rate",
    "payer rate (shrunk)": "payer_rate",
    "logistic regression": "logistic_regression",
    "LightGBM": "lightgbm",
    "overall median": "overall_median",
    "payer median (shrunk)": "payer_median",
    "LightGBM median": "lightgbm",
}


@dataclass(frozen=True)
class _OutcomeFit:
    evaluation: IdrEvaluation
    model: lgb.LGBMClassifier
    levels: dict[str, list[str]]
    numeric: list[str]
    test: pd.DataFrame
    test_p: np.ndarray
    payer_p: np.ndarray
    logistic: Pipeline


def _fit_outcome(
    task: str,
    title: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    excluded: int,
    exclusion: str,
    numeric_candidates: tuple[str, ...],
    seed: int,
    prior_strength: float,
) -> _OutcomeFit:
    features_train, features_test = model_features(train), model_features(test)
    categorical = usable_features(features_train, CATEGORICAL_FEATURES)
    numeric = usable_features(features_train, numeric_candidates)
    y_train = train["outcome"].eq("provider").to_numpy(dtype=int)
    y_test = test["outcome"].eq("provider").to_numpy(dtype=int)
    log.info("%s: LightGBM on %d rows, %d features", task, len(train), len(categorical) + len(numeric))
    levels = category_levels(features_train, categorical)
    model = lgb.LGBMClassifier(**CLASSIFIER_PARAMS, **LIGHTGBM_FIXED, random_state=seed)
    model.fit(encode(features_train, levels, numeric), y_train)
    test_p = model.predict_proba(encode(features_test, levels, numeric))[:, 1]
    log.info("%s: baselines", task)
    logistic = logistic_baseline(categorical, numeric)
    logistic.fit(_logistic_inputs(features_train, categorical, numeric), y_train)
    benchmarks = payer_idr_benchmarks(train, prior_strength).set_index("payer_group")
    overall = float(y_train.mean())
    payer_p = test["payer_group"].map(benchmarks["provider_win_rate"]).fillna(overall).to_numpy(dtype=float)
    predictions = {
        "overall rate": np.full(len(test), overall),
        "payer rate (shrunk)": payer_p,
        "logistic regression": logistic.predict_proba(_logistic_inputs(features_test, categorical, numeric))[:, 1],
        "LightGBM": test_p,
    }
    metrics = pd.DataFrame({name: classification_metrics(y_test, p) for name, p in predictions.items()}).T
    evaluation = IdrEvaluation(
        task=task,
        title=title,
        train_quarters=tuple(sorted(train["quarter"].unique())),
        test_quarters=tuple(sorted(test["quarter"].unique())),
        train_rows=len(train),
        test_rows=len(test),
        excluded_rows=excluded,
        exclusion=exclusion,
        features=tuple(categorical + numeric),
        metrics=metrics,
        test_label_summary=f"provider win rate {y_test.mean():.1%} in test, {overall:.1%} in train",
    )
    return _OutcomeFit(evaluation, model, levels, numeric, test, test_p, payer_p, logistic)


@dataclass(frozen=True)
class _OfferFit:
    evaluation: IdrEvaluation
    model: lgb.LGBMRegressor
    levels: dict[str, list[str]]
    numeric: list[str]


def _fit_offer_ratio(
    train: pd.DataFrame, test: pd.DataFrame, excluded: int, seed: int, prior_strength: float
) -> _OfferFit:
    features_train, features_test = model_features(train), model_features(test)
    categorical = usable_features(features_train, CATEGORICAL_FEATURES)
    numeric = usable_features(features_train, NUMERIC_FEATURES)
    log.info("offer_ratio: LightGBM median regression on %d rows", len(train))
    levels = category_levels(features_train, categorical)
    model = lgb.LGBMRegressor(**REGRESSOR_PARAMS, **LIGHTGBM_FIXED, random_state=seed)
    model.fit(encode(features_train, levels, numeric), np.log(train["prevailing_offer_ratio"]))
    benchmarks = payer_idr_benchmarks(train, prior_strength).set_index("payer_group")
    overall = float(np.exp(np.median(np.log(train["prevailing_offer_ratio"]))))
    actual = test["prevailing_offer_ratio"].to_numpy(dtype=float)
    predictions = {
        "overall median": np.full(len(test), overall),
        "payer median (shrunk)": test["payer_group"]
        .map(benchmarks["median_prevailing_offer_ratio"])
        .fillna(overall)
        .to_numpy(dtype=float),
        "LightGBM median": np.exp(model.predict(encode(features_test, levels, numeric))),
    }
    metrics = pd.DataFrame({name: offer_ratio_metrics(actual, p) for name, p in predictions.items()}).T
    evaluation = IdrEvaluation(
        task="offer_ratio",
        title="Prevailing offer / QPA (median), features known when filing",
        train_quarters=tuple(sorted(train["quarter"].unique())),
        test_quarters=tuple(sorted(test["quarter"].unique())),
        train_rows=len(train),
        test_rows=len(test),
        excluded_rows=excluded,
        exclusion="no prevailing offer ratio above 0 (all of 2024Q3-Q4 in the shared file)",
        features=tuple(categorical + numeric),
        metrics=metrics,
        test_label_summary=f"median prevailing offer {np.median(actual):.2f}x QPA in test, {overall:.2f}x in train",
    )
    return _OfferFit(evaluation, model, levels, numeric)


def offer_associations(fit: _OutcomeFit) -> pd.DataFrame:
    """Odds ratio of the provider prevailing per doubling of each offer, from the logistic regression.

    Associations in observational data with the other features held fixed: parties choose their offers,
    so these say nothing about what changing an offer would do.
    """
    encoder = fit.logistic.named_steps["encode"]
    coefficients = dict(zip(encoder.get_feature_names_out(), fit.logistic.named_steps["model"].coef_[0], strict=True))
    scaler = encoder.named_transformers_["num"]
    scales = dict(zip(scaler.feature_names_in_, scaler.scale_, strict=True))
    # The model saw standardised log offers: divide by the scale for the effect of one unit of log offer.
    rows = [
        {
            "feature": feature,
            "odds_ratio_per_doubling": math.exp(coefficients[f"num__{feature}"] / scales[feature] * math.log(2)),
        }
        for feature in OFFER_FEATURES
        if f"num__{feature}" in coefficients
    ]
    return pd.DataFrame(rows, columns=["feature", "odds_ratio_per_doubling"])


# ----------------------------------------------------------------------------------------------------------
# The logged model
# ----------------------------------------------------------------------------------------------------------


class IdrOutcomeModel(mlflow.pyfunc.PythonModel):
    """P(provider prevails at IDR) and the median prevailing offer / QPA for IDR dataset rows.

    Input: the dataset columns in MODEL_INPUT_COLUMNS (quarter as YYYYQn). Offers are not inputs: the model
    answers before the offers exist.
    """

    def __init__(self, outcome: _OutcomeFit, offer: _OfferFit) -> None:
        self.classifier, self.outcome_levels, self.outcome_numeric = (outcome.model, outcome.levels, outcome.numeric)
        self.regressor, self.offer_levels, self.offer_numeric = offer.model, offer.levels, offer.numeric

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        features = model_features(model_input)
        p = self.classifier.predict_proba(encode(features, self.outcome_levels, self.outcome_numeric))[:, 1]
        ratio = np.exp(self.regressor.predict(encode(features, self.offer_levels, self.offer_numeric)))
        return pd.DataFrame({"p_provider_prevails": p, "prevailing_offer_ratio_median": ratio})


# ----------------------------------------------------------------------------------------------------------
# Training entry point
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdrTrainResult:
    run_id: str
    tracking_uri: str
    experiment: str
    model_uri: str
    dataset_rows: int
    dataset_digest: str
    evaluations: tuple[IdrEvaluation, ...]
    offer_associations: pd.DataFrame
    calibration: pd.DataFrame  # reliability table of the outcome model on its test quarter
    benchmarks: pd.DataFrame  # payer_idr_benchmarks of the whole dataset
    per_payer_test: pd.DataFrame  # outcome model vs payer baseline per payer group on the test quarter


def default_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def train_idr_model(
    dataset: pd.DataFrame,
    *,
    seed: int = 0,
    tracking_uri: str | None = None,
    experiment: str = "recoup-idr",
    prior_strength: float = 50,
) -> IdrTrainResult:
    """Fit and evaluate the IDR models on a temporal split, and track the run in MLflow.

    Tasks: P(provider prevails) from what is known when filing (test: the latest quarter); the median
    prevailing offer / QPA (test: the latest quarter with offer ratios); and, for insight only,
    P(provider prevails) given both offers (associations, not effects).
    """
    outcome_train, outcome_test = temporal_split(dataset, dataset["outcome"].notna())
    outcome = _fit_outcome(
        "outcome",
        "P(provider prevails), features known when filing",
        outcome_train,
        outcome_test,
        excluded=0,
        exclusion="",
        numeric_candidates=NUMERIC_FEATURES,
        seed=seed,
        prior_strength=prior_strength,
    )
    has_ratio = dataset["prevailing_offer_ratio"] > 0
    offer = _fit_offer_ratio(
        *temporal_split(dataset, has_ratio), excluded=int((~has_ratio).sum()), seed=seed, prior_strength=prior_strength
    )
    both_offers = dataset["provider_offer_ratio"].notna() & dataset["plan_offer_ratio"].notna()
    given_offers = _fit_outcome(
        "outcome_given_offers",
        "P(provider prevails) given both offers - associations only",
        *temporal_split(dataset, both_offers),
        excluded=int((~both_offers).sum()),
        exclusion="a missing offer (usually the defaulting party's); all of 2024Q3-Q4 in the shared file",
        numeric_candidates=(*NUMERIC_FEATURES, *OFFER_FEATURES),
        seed=seed,
        prior_strength=prior_strength,
    )
    evaluations = (outcome.evaluation, offer.evaluation, given_offers.evaluation)
    y_test = outcome_test["outcome"].eq("provider").to_numpy(dtype=int)
    calibration = reliability_table(y_test, outcome.test_p)
    per_payer = _per_payer_test(outcome)
    benchmarks = payer_idr_benchmarks(dataset, prior_strength)
    associations = offer_associations(given_offers)
    return _track_run(
        dataset,
        seed,
        tracking_uri or default_tracking_uri(),
        experiment,
        prior_strength,
        outcome,
        offer,
        evaluations,
        associations,
        calibration,
        benchmarks,
        per_payer,
    )


def _per_payer_test(fit: _OutcomeFit) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "payer_group": fit.test["payer_group"].to_numpy(),
            "won": fit.test["outcome"].eq("provider").to_numpy(dtype=float),
            "model": fit.test_p,
            "payer_baseline": fit.payer_p,
        }
    )
    table = frame.groupby("payer_group").agg(
        test_rows=("won", "size"),
        observed_win_rate=("won", "mean"),
        model_mean_p=("model", "mean"),
        payer_baseline_p=("payer_baseline", "mean"),
    )
    return table.sort_values("test_rows", ascending=False).reset_index()


def _track_run(
    dataset: pd.DataFrame,
    seed: int,
    tracking_uri: str,
    experiment: str,
    prior_strength: float,
    outcome: _OutcomeFit,
    offer: _OfferFit,
    evaluations: tuple[IdrEvaluation, ...],
    associations: pd.DataFrame,
    calibration: pd.DataFrame,
    benchmarks: pd.DataFrame,
    per_payer: pd.DataFrame,
) -> IdrTrainResult:
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        mlflow.set_experiment(experiment)
        with mlflow.start_run() as run:
            log.info("logging run %s to %s", run.info.run_id, tracking_uri)
            source = mlflow.data.from_pandas(dataset, name="idr")
            mlflow.log_input(source, context="training")
            mlflow.log_params(
                {
                    "seed": seed,
                    "prior_strength": prior_strength,
                    "dataset_rows": len(dataset),
                    "dataset_digest": source.digest,
                    **{f"classifier.{key}": value for key, value in CLASSIFIER_PARAMS.items()},
                    **{f"regressor.{key}": value for key, value in REGRESSOR_PARAMS.items()},
                }
            )
            for evaluation in evaluations:
                mlflow.log_params(
                    {
                        f"{evaluation.task}.train_quarters": ",".join(evaluation.train_quarters),
                        f"{evaluation.task}.test_quarters": ",".join(evaluation.test_quarters),
                        f"{evaluation.task}.train_rows": evaluation.train_rows,
                        f"{evaluation.task}.test_rows": evaluation.test_rows,
                        f"{evaluation.task}.features": ",".join(evaluation.features),
                    }
                )
                mlflow.log_metrics(
                    {
                        f"{evaluation.task}.{MODEL_KEYS[model]}.{metric}": value
                        for model, row in evaluation.metrics.iterrows()
                        for metric, value in row.items()
                        if not math.isnan(value)
                    }
                )
            mlflow.log_metrics(
                {
                    f"outcome_given_offers.odds_ratio_per_doubling.{row.feature}": row.odds_ratio_per_doubling
                    for row in associations.itertuples()
                }
            )
            mlflow.log_text(benchmarks.to_csv(index=False), "idr_payer_benchmarks.csv")
            mlflow.log_text(per_payer.to_csv(index=False), "idr_outcome_by_payer_test.csv")
            mlflow.log_text(calibration.to_csv(index=False), "idr_outcome_calibration.csv")
            mlflow.log_figure(_calibration_figure(calibration), "idr_outcome_calibration.png")
            model_uri = _log_model(outcome, offer)
            result = IdrTrainResult(
                run_id=run.info.run_id,
                tracking_uri=tracking_uri,
                experiment=experiment,
                model_uri=model_uri,
                dataset_rows=len(dataset),
                dataset_digest=source.digest,
                evaluations=evaluations,
                offer_associations=associations,
                calibration=calibration,
                benchmarks=benchmarks,
                per_payer_test=per_payer,
            )
            mlflow.log_text(format_idr_train_report(result), "idr_report.txt")
    finally:
        mlflow.set_tracking_uri(previous_uri)
    return result


def _calibration_figure(calibration: pd.DataFrame) -> Figure:
    figure = Figure(figsize=(4.5, 4.5))  # no pyplot: nothing is shown, the figure goes to MLflow
    axis = figure.subplots()
    axis.plot([0, 1], [0, 1], color="grey", linewidth=1)
    axis.plot(calibration["mean_predicted"], calibration["observed_rate"], marker="o")
    axis.set(
        xlabel="mean predicted P(provider prevails)",
        ylabel="observed rate",
        xlim=(0, 1),
        ylim=(0, 1),
        title="IDR outcome model, test quarter",
    )
    return figure


def _log_model(outcome: _OutcomeFit, offer: _OfferFit) -> str:
    bundle = IdrOutcomeModel(outcome, offer)
    used = {*outcome.levels, *outcome.numeric, *offer.levels, *offer.numeric}
    columns = ["quarter", *(column for column in MODEL_INPUT_COLUMNS[1:] if column in used)]
    # Every input but the quarter may be missing: the trees route a missing value like an unseen one.
    inputs = [
        ColSpec("boolean" if column == "batched" else "string", column, required=column == "quarter")
        for column in columns
    ]
    outputs = [ColSpec("double", "p_provider_prevails"), ColSpec("double", "prevailing_offer_ratio_median")]
    signature = ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))
    example = outcome.test.loc[:, columns].head(5)
    info = mlflow.pyfunc.log_model(
        name="idr_model",
        python_model=bundle,
        signature=signature,
        input_example=example,
        pip_requirements=[
            f"lightgbm=={lgb.__version__}",
            f"pandas=={pd.__version__}",
            f"numpy=={np.__version__}",
            f"mlflow=={mlflow.__version__}",
        ],
    )
    return info.model_uri


# ----------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------


METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "log_loss": "log loss",
    "brier": "Brier",
    "ece": "ECE",
    "mae_log": "MAE (log)",
    "median_ape": "median |% error|",
}


def _quarter_span(quarters: tuple[str, ...]) -> str:
    return quarters[0] if len(quarters) == 1 else f"{quarters[0]}-{quarters[-1]}"


def format_idr_train_report(result: IdrTrainResult, top_payers: int = 12) -> str:
    """The training summary `recoup train-idr` prints: test metrics beside the baselines, then benchmarks."""
    lines = [
        f"IDR models: run {result.run_id} in experiment {result.experiment!r} ({result.tracking_uri})",
        f"Dataset: {result.dataset_rows:,} line items, digest {result.dataset_digest}; model {result.model_uri}",
    ]
    for evaluation in result.evaluations:
        lines += [
            "",
            f"{evaluation.title}",
            f"  train {_quarter_span(evaluation.train_quarters)} ({evaluation.train_rows:,} rows), "
            f"test {_quarter_span(evaluation.test_quarters)} ({evaluation.test_rows:,} rows); "
            f"{evaluation.test_label_summary}",
        ]
        if evaluation.excluded_rows:
            lines.append(f"  excluded {evaluation.excluded_rows:,} rows: {evaluation.exclusion}")
        table = evaluation.metrics.rename(columns=METRIC_LABELS)
        lines += ["  " + line for line in table.to_string(float_format="{:.4f}".format).splitlines()]
    lines += [
        "",
        "Offers are chosen by the parties: the model given offers and these odds ratios are",
        "associations in observational data, not the effect of asking for more or less.",
    ]
    lines += [
        f"  {row.feature}: x2 offer goes with x{row.odds_ratio_per_doubling:.2f} odds of the provider "
        "prevailing (logistic regression, other features held fixed)"
        for row in result.offer_associations.itertuples()
    ]
    lines += ["", "Not used as features (leakage or availability):"]
    lines += [f"  {name}: {reason}" for name, reason in NOT_FEATURES.items()]
    shown = result.benchmarks.head(top_payers + 1)
    lines += [
        "",
        f"Payer IDR benchmarks, all quarters (win, default and offer/QPA shrunk toward all payers "
        f"by {shown['prior_strength'].iloc[0]:g} line items; full table in the run's artifacts):",
    ]
    columns = [
        "payer_id",
        "line_items",
        "provider_win_rate_raw",
        "provider_win_rate",
        "default_decision_rate",
        "median_prevailing_offer_ratio",
        "median_days",
        "median_idre_fee",
    ]
    table = shown.set_index("payer_group")[columns].fillna({"payer_id": ""})
    table.columns = ["payer_id", "lines", "win raw", "win", "default", "offer/QPA", "days", "fee $"]
    lines += ["  " + line for line in table.to_string(float_format="{:.2f}".format).splitlines()]
    return "\n".join(lines)
