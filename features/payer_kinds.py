"""Payer kinds: what kind of organisation a payer is (commercial insurer, Blue, repricer, public, integrated).

Public knowledge a provider has about a payer before its first claim, kept in the editable table
``features/data/payer_kinds.csv`` (documented in its header). A payer its history never saw is scored
like the known payers of its kind (``training.fit.unknown_payer_shifts``).
"""

from __future__ import annotations

import io
from functools import cache
from importlib import resources

import pandas as pd

from features.idr_payers import match_payer_group, normalise_payer_ids, payer_ids_for_groups

PAYER_KIND_TABLE = "payer_kinds.csv"
PAYER_KINDS = ("commercial", "blue", "repricer", "public", "integrated")


def load_payer_kinds(text: str | None = None) -> dict[str, str]:
    """payer_id -> kind from the table; ``text`` replaces the packaged CSV. A kind outside ``PAYER_KINDS``
    is an error naming the row."""
    if text is None:
        text = resources.files("features.data").joinpath(PAYER_KIND_TABLE).read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    table = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
    table["kind"] = table["kind"].str.strip().str.lower()
    bad = table[~table["kind"].isin(PAYER_KINDS)]
    if len(bad):
        row = bad.iloc[0]
        allowed = ", ".join(PAYER_KINDS)
        raise ValueError(
            f"{PAYER_KIND_TABLE}: payer {row['payer_id']!r} has kind {row['kind']!r}, not one of {allowed}"
        )
    return dict(zip(normalise_payer_ids(table["payer_id"]), table["kind"], strict=True))


@cache
def _packaged_payer_kinds() -> dict[str, str]:
    return load_payer_kinds()


def payer_kinds(payer_ids: pd.Series, kinds: dict[str, str] | None = None) -> pd.Series:
    """The kind of each payer id ("" when unknown): its row of the table, else the row of the payer id its
    Federal IDR payer group belongs to (so a billing system's name such as 'BLUE CROSS BLUE SHIELD OF TEXAS'
    finds BCBS_TX's kind)."""
    kinds = _packaged_payer_kinds() if kinds is None else kinds
    codes, uniques = pd.factorize(payer_ids)  # few distinct payers: each is matched once
    distinct = pd.Series(uniques, dtype=object)
    found = normalise_payer_ids(distinct).map(kinds)
    missing = found.isna()
    if missing.any():
        groups = match_payer_group(distinct[missing])
        grouped = payer_ids_for_groups(groups.dropna()).map(kinds)
        found[grouped.index] = grouped
    per_payer = [*found.fillna("").tolist(), ""]  # code -1 (a missing id) takes the trailing ""
    return pd.Series([per_payer[code] for code in codes], index=payer_ids.index, dtype=object)
