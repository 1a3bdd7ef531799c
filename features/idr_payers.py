"""Federal IDR payer groups: the editable table that ties recoup's payer ids to the CMS public use files.

The table (``features/data/idr_payer_groups.csv``, documented in its header) serves three jobs:
naming the payer group of a raw CMS file that lacks the processed ``Carrier_Group`` column, giving each
IDR payer group its recoup ``payer_id``, and finding the IDR payer group of a billing system's payer name
so the payer's IDR benchmarks can be used as prior features for payers with thin history.
"""

from __future__ import annotations

import io
import re
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

PAYER_GROUP_TABLE = "idr_payer_groups.csv"
BENCHMARK_TABLE = "idr_payer_benchmarks.csv"  # rebuilt by scripts/build_idr_benchmarks.py
TABLE_COLUMNS = ("payer_id", "idr_payer_group", "issuer_name_pattern")

#: Mailbox providers that say nothing about the payer; the issuer name is used instead.
PUBLIC_MAIL_DOMAINS = frozenset({"gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "aol.com", "icloud.com"})

#: Prior feature -> benchmark column (see training.idr.payer_idr_benchmarks) it is read from.
IDR_PRIOR_SOURCES: dict[str, str] = {
    "idr_provider_win_rate": "provider_win_rate",
    "idr_default_rate": "default_decision_rate",
    "idr_median_offer_ratio": "median_prevailing_offer_ratio",
    "idr_disputes": "disputes",
}
IDR_PRIOR_COLUMNS: tuple[str, ...] = tuple(IDR_PRIOR_SOURCES)
#: The benchmark row of the whole market (first row of the benchmark table).
ALL_PAYERS = "(all payers)"


@cache
def load_idr_benchmarks() -> pd.DataFrame:
    """The shipped per-payer-group Federal IDR benchmarks (from the CMS public use file)."""
    with resources.files("features.data").joinpath(BENCHMARK_TABLE).open(encoding="utf-8") as handle:
        return pd.read_csv(handle)


def load_payer_group_table(text: str | None = None) -> pd.DataFrame:
    """The payer-group table, validated; ``text`` replaces the packaged CSV (for tests and overrides).

    Lines starting with ``#`` document the table and are skipped; ``#`` elsewhere is kept so a pattern
    may use it.
    """
    if text is None:
        text = resources.files("features.data").joinpath(PAYER_GROUP_TABLE).read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    table = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
    missing = [column for column in TABLE_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{PAYER_GROUP_TABLE}: missing columns {missing}; required: {list(TABLE_COLUMNS)}")
    table["payer_id"] = normalise_payer_ids(table["payer_id"])
    table["idr_payer_group"] = table["idr_payer_group"].str.strip()
    for row_number, row in enumerate(table.itertuples(index=False), start=1):
        if not row.payer_id or not row.idr_payer_group or not row.issuer_name_pattern:
            raise ValueError(
                f"{PAYER_GROUP_TABLE} row {row_number}: payer_id, idr_payer_group and "
                "issuer_name_pattern must all be given"
            )
        try:
            re.compile(row.issuer_name_pattern)
        except re.error as error:
            raise ValueError(
                f"{PAYER_GROUP_TABLE} row {row_number} ({row.payer_id}): issuer_name_pattern "
                f"{row.issuer_name_pattern!r} is not a valid regular expression: {error}",
            ) from None
    duplicated = table["idr_payer_group"].str.lower().duplicated()
    if duplicated.any():
        raise ValueError(
            f"{PAYER_GROUP_TABLE}: idr_payer_group listed twice: {sorted(table.loc[duplicated, 'idr_payer_group'])}"
        )
    return table


@cache
def _packaged_payer_group_table() -> pd.DataFrame:
    """The packaged table, read and validated once per process (callers only read it)."""
    return load_payer_group_table()


def normalise_payer_ids(payer_ids: pd.Series) -> pd.Series:
    """Trimmed, upper-case, inner whitespace as one underscore: 'bcbs  tx ' -> 'BCBS_TX'."""
    return payer_ids.astype("str").str.strip().str.upper().str.replace(r"\s+", "_", regex=True)


def first_matching_row(texts: pd.Series, table: pd.DataFrame) -> pd.Series:
    """Position in ``table`` of the first pattern that matches each text (<NA> when none does)."""
    patterns = [re.compile(pattern, re.IGNORECASE) for pattern in table["issuer_name_pattern"]]
    # Names repeat thousands of times in a quarter's file, so each distinct text is matched once.
    lookup = {
        text: next((position for position, pattern in enumerate(patterns) if pattern.search(text)), pd.NA)
        for text in texts.dropna().unique()
    }
    return texts.map(lookup).astype("Int64")


def derive_payer_group(
    email_domains: pd.Series, issuer_names: pd.Series, table: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Payer group of raw CMS rows (no ``Carrier_Group``), with how it was found.

    The plan's e-mail domain names the organisation that answered the dispute (a repricer such as
    MultiPlan answers for many plans), which is what the processed files group by; so the domain decides,
    and an unlisted domain stays the group, as in the processed files. The issuer name is used only when
    the domain is blank or a public mailbox. Returns columns ``payer_group`` and ``payer_group_source``
    (email_domain, issuer_name, unlisted_domain, none).
    """
    table = _packaged_payer_group_table() if table is None else table
    domains = email_domains.astype("str").str.strip().str.lower()
    domains = domains.mask(domains.eq("") | domains.isin(PUBLIC_MAIL_DOMAINS))
    by_domain = first_matching_row(domains, table)
    by_name = first_matching_row(issuer_names.astype("str").str.strip().where(domains.isna()), table)
    groups = table["idr_payer_group"].to_numpy()
    source = pd.Series("none", index=domains.index, dtype="str")
    group = pd.Series(pd.NA, index=domains.index, dtype="str")
    for matched, name in ((by_name, "issuer_name"), (by_domain, "email_domain")):
        hit = matched.notna()
        group[hit] = groups[matched[hit].to_numpy(dtype=int)]
        source[hit] = name
    unlisted = group.isna() & domains.notna()
    group[unlisted] = domains[unlisted]
    source[unlisted] = "unlisted_domain"
    return pd.DataFrame({"payer_group": group, "payer_group_source": source})


def payer_ids_for_groups(payer_groups: pd.Series, table: pd.DataFrame | None = None) -> pd.Series:
    """recoup payer_id of each IDR payer group: its table row, else the first pattern matching the group's
    name (so a group renamed by a newer processing, e.g. 'BCBS New Mexico' for bcbsnm.com, still maps)."""
    table = _packaged_payer_group_table() if table is None else table
    exact = dict(zip(table["idr_payer_group"].str.lower(), table["payer_id"], strict=True))
    groups = payer_groups.astype("str").str.strip()
    payer_ids = groups.str.lower().map(exact).astype("str")
    by_pattern = first_matching_row(groups.where(payer_ids.isna()), table)
    hit = by_pattern.notna()
    payer_ids[hit] = table["payer_id"].to_numpy()[by_pattern[hit].to_numpy(dtype=int)]
    return payer_ids


def match_payer_group(payer_ids: pd.Series, table: pd.DataFrame | None = None) -> pd.Series:
    """IDR payer group of each billing-system payer id (<NA> when the table knows none).

    An id that is a ``payer_id`` of the table takes that id's first row; any other id is read as a payer
    name and matched against the patterns (so 'BLUE CROSS BLUE SHIELD OF TEXAS' finds BCBS Texas).
    """
    table = _packaged_payer_group_table() if table is None else table
    primary = table.drop_duplicates("payer_id")
    exact = dict(zip(primary["payer_id"], primary["idr_payer_group"], strict=True))
    normalised = normalise_payer_ids(payer_ids).where(payer_ids.notna())
    groups = normalised.map(exact).astype("str")
    names = payer_ids.astype("str").str.strip().str.replace("_", " ", regex=False)
    by_pattern = first_matching_row(names.where(groups.isna() & payer_ids.notna()), table)
    hit = by_pattern.notna()
    groups[hit] = table["idr_payer_group"].to_numpy()[by_pattern[hit].to_numpy(dtype=int)]
    return groups


def idr_prior_features(
    payer_ids: pd.Series, benchmarks: pd.DataFrame, table: pd.DataFrame | None = None
) -> pd.DataFrame:
    """IDR prior features of each payer (NaN where the payer has no IDR payer group or no benchmark row).

    ``benchmarks`` is the table of ``training.idr.payer_idr_benchmarks`` (a ``payer_group`` column plus the
    columns named in ``IDR_PRIOR_SOURCES``). The rates are shrunk toward the market, so a group with few
    disputes gives a prior near the market rather than a noisy extreme.
    """
    # a scoring chunk holds millions of rows but few payers: match each distinct id once
    codes, uniques = pd.factorize(payer_ids)
    groups = match_payer_group(pd.Series(uniques), table).str.lower()
    by_group = benchmarks.assign(_key=benchmarks["payer_group"].str.lower()).set_index("_key")
    priors = pd.DataFrame(index=payer_ids.index)
    for feature, source in IDR_PRIOR_SOURCES.items():
        per_payer = np.append(groups.map(by_group[source]).to_numpy(dtype="float64"), np.nan)
        priors[feature] = per_payer[codes]  # code -1 (a missing id) takes the trailing NaN
    return priors


def idr_benchmark_for_payer(
    payer_id: str, benchmarks: pd.DataFrame, table: pd.DataFrame | None = None
) -> dict[str, object] | None:
    """The benchmark row of a payer's IDR group as JSON-ready values (None when the payer has no group or the
    group no row), for showing a payer's IDR behaviour beside the market row (``ALL_PAYERS``)."""
    group = match_payer_group(pd.Series([payer_id]), table).iloc[0]
    if pd.isna(group):
        return None
    rows = benchmarks[benchmarks["payer_group"].str.lower() == group.lower()]
    if rows.empty:
        return None
    return {
        key: None if pd.isna(value) else value.item() if hasattr(value, "item") else value
        for key, value in rows.iloc[0].items()
    }
