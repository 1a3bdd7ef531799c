"""IDR ingest: the CMS dispute-line-item files mapped to the IDR dataset, every drop with its reason."""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.idr_payers import derive_payer_group, payer_ids_for_groups
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


def write_idr_dataset(result: IdrIngestResult, out: Path, reports: Path | None = None) -> tuple[Path, Path, Path]:
    """Write the dataset (Parquet), its mapping report (.report.json) and the dropped rows (.dropped.csv);
    the two reports go in folder ``reports``, by default beside the dataset (never the working directory)."""
    out = Path(out)
    reports = Path(reports) if reports is not None else out.parent
    for folder in (out.parent, reports):
        folder.mkdir(parents=True, exist_ok=True)
    report_path = reports / (out.stem + ".report.json")
    dropped_path = reports / (out.stem + ".dropped.csv")
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
