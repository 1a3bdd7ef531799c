"""The ranked worklist as a table the web app pages, sorts and filters on the server.

A job's ``ranked.parquet`` is read once (only the columns the table shows) into numpy arrays, and kept for
the few jobs looked at last. Payer, action and level are held as codes into their distinct values, so a
filter is one comparison over an integer array; each sort order is computed once per table and reused.
A page is then a mask, the sort order restricted to it, and a slice: milliseconds at hundreds of
thousands of rows (``benchmarks/web_table.py`` measures it).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from features.schema import parse_level

#: Columns shown, as the ranked file names them.
SHOWN = (
    "row",
    "claim_id",
    "payer_id",
    "current_level",
    "billed_amount",
    "current_allowed_amount",
    "recommended_action",
    "expected_net_recovery",
)
SORTABLE = ("expected_net_recovery", "billed_amount", "current_allowed_amount", "payer_id", "recommended_action", "row")
CODED = ("payer_id", "recommended_action", "current_level")
PAGE_SIZES = (25, 50, 100, 200)
CACHED_TABLES = 4


def _level_name(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return "none"
    level = parse_level(value)
    return level.name if level is not None else str(value)


@dataclass
class Query:
    """One page request: filters, sort and page (all optional)."""

    payer: str | None = None
    action: str | None = None
    level: str | None = None
    min_amount: float | None = None
    max_amount: float | None = None
    sort: str = "expected_net_recovery"
    descending: bool = True
    page: int = 1
    size: int = 50


@dataclass
class Page:
    rows: list[dict[str, Any]]
    matched: int
    page: int
    pages: int
    query: Query


@dataclass
class RankedTable:
    """The shown columns of one ranked file, with coded categories and cached sort orders."""

    values: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    categories: dict[str, list[str]]
    _orders: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> RankedTable:
        names = set(pq.read_schema(path).names)
        table = pq.read_table(path, columns=[name for name in SHOWN if name in names])
        values: dict[str, np.ndarray] = {}
        for name in SHOWN:
            if name not in names:
                values[name] = np.full(table.num_rows, None, dtype=object)
                continue
            column = table.column(name)
            if name in ("billed_amount", "current_allowed_amount", "expected_net_recovery"):
                values[name] = column.cast("float64").to_numpy(zero_copy_only=False)
            elif name == "row":
                values[name] = column.to_numpy(zero_copy_only=False).astype("int64")
            else:
                values[name] = np.asarray(column.to_pylist(), dtype=object)
        codes, categories = {}, {}
        for name in CODED:
            raw = values[name]
            distinct, inverse = np.unique(raw.astype(str), return_inverse=True)
            shown = [_level_name(value) for value in distinct] if name == "current_level" else distinct.tolist()
            if name == "current_level":  # several spellings of one level ("1", "reconsideration") share a code
                names_ = sorted(set(shown))
                remap = np.array([names_.index(value) for value in shown], dtype="int64")
                inverse, shown = remap[inverse], names_
                values[name] = np.asarray(shown, dtype=object)[inverse]
            codes[name], categories[name] = inverse.astype("int32"), [str(value) for value in shown]
        return cls(values, codes, categories)

    def __len__(self) -> int:
        return len(self.values["row"])

    def order(self, column: str) -> np.ndarray:
        """Positions sorted by ``column`` ascending (stable: ties keep the ranked order); computed once."""
        if column not in self._orders:
            keys = self.codes[column] if column in self.codes else self.values[column]
            if column in self.codes:  # codes follow the sorted distinct values, so they sort alike
                self._orders[column] = np.argsort(keys, kind="stable")
            else:
                self._orders[column] = np.argsort(np.nan_to_num(keys, nan=-np.inf), kind="stable")
        return self._orders[column]

    def _code(self, column: str, value: str | None) -> int | None:
        if value is None or value == "":
            return None
        try:
            return self.categories[column].index(value)
        except ValueError:
            return -1  # matches nothing

    def page(self, query: Query) -> Page:
        mask = np.ones(len(self), dtype=bool)
        for column, value in (
            ("payer_id", query.payer),
            ("recommended_action", query.action),
            ("current_level", query.level),
        ):
            code = self._code(column, value)
            if code is not None:
                mask &= self.codes[column] == code
        amount = self.values["expected_net_recovery"]
        if query.min_amount is not None:
            mask &= amount >= query.min_amount
        if query.max_amount is not None:
            mask &= amount <= query.max_amount
        sort = query.sort if query.sort in SORTABLE else "expected_net_recovery"
        order = self.order(sort)
        if query.descending:
            order = order[::-1]
        selected = order[mask[order]]
        size = query.size if query.size in PAGE_SIZES else 50
        pages = max(1, math.ceil(len(selected) / size))
        number = min(max(1, query.page), pages)
        positions = selected[(number - 1) * size : number * size]
        rows = [
            {name: self.values[name][position] for name in SHOWN} | {"rank": int(position) + 1}
            for position in positions.tolist()
        ]
        return Page(rows, len(selected), number, pages, query)


_cache: OrderedDict[tuple[str, float], RankedTable] = OrderedDict()
_lock = threading.Lock()


def ranked_table(path: Path) -> RankedTable:
    """The table of ``path``, read once while it stays among the last few looked at."""
    key = (str(path), path.stat().st_mtime)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    table = RankedTable.read(path)
    with _lock:
        _cache[key] = table
        while len(_cache) > CACHED_TABLES:
            _cache.popitem(last=False)
    return table
