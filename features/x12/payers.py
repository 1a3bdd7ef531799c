"""The editable X12 payer map: the payer an 835 names (N1*PR) -> recoup's ``payer_id``, with per-payer
screening settings. The shipped table is ``features/data/x12_payer_map.csv`` (its header documents the
columns); a user file with the same columns is read first and wins."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from features.idr_payers import normalise_payer_ids

SHIPPED_TABLE = "x12_payer_map.csv"
COLUMNS = ("match", "payer_id", "medicare_multiple", "network")
DEFAULT_MEDICARE_MULTIPLE = 1.5
_SPACES = re.compile(r"\s+")


class PayerMapError(ValueError):
    """A payer map file that cannot be used, naming the file, row and rule."""


def match_key(text: str | None) -> str:
    return _SPACES.sub(" ", (text or "").strip().upper())


@dataclass(frozen=True)
class PayerSettings:
    payer_id: str
    medicare_multiple: float
    in_network: bool
    mapped: bool  # found in a map, rather than the normalised 835 name


class PayerMap:
    """Lookup of 835 payers; ``settings(code, name)`` tries the payer identifier first, then the name."""

    def __init__(self, tables: list[tuple[str, str]]):
        self._rows: dict[str, PayerSettings] = {}
        self._found: dict[tuple, PayerSettings] = {}
        for source, text in reversed(tables):  # the first table wins: read it last
            self._rows.update(_parse(source, text))

    @classmethod
    def load(cls, user_file: Path | None = None) -> PayerMap:
        shipped = resources.files("features.data").joinpath(SHIPPED_TABLE).read_text(encoding="utf-8")
        tables = [(SHIPPED_TABLE, shipped)]
        if user_file is not None:
            try:
                tables.insert(0, (str(user_file), Path(user_file).read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as error:
                raise PayerMapError(f"{user_file}: cannot read the payer map ({error})") from None
        return cls(tables)

    def settings(self, payer_code: str | None, payer_name: str | None) -> PayerSettings:
        key = (payer_code, payer_name)
        if key not in self._found:  # a remit names few payers, each many times
            self._found[key] = self._lookup(payer_code, payer_name)
        return self._found[key]

    def _lookup(self, payer_code: str | None, payer_name: str | None) -> PayerSettings:
        for key in (match_key(payer_code), match_key(payer_name)):
            if key and key in self._rows:
                return self._rows[key]
        fallback = normalise_payer_ids(pd.Series([payer_name or payer_code or ""])).iloc[0]
        return PayerSettings(fallback, DEFAULT_MEDICARE_MULTIPLE, False, False)


def _parse(source: str, text: str) -> dict[str, PayerSettings]:
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    try:
        table = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise PayerMapError(f"{source}: not a readable CSV payer map ({error})") from None
    missing = [column for column in ("match", "payer_id") if column not in table.columns]
    if missing:
        raise PayerMapError(f"{source}: missing columns {missing}; columns are {list(COLUMNS)}")
    rows = {}
    for number, row in enumerate(table.to_dict("records"), start=1):
        where = f"{source}, row {number}"
        key, payer_id = match_key(row["match"]), row["payer_id"].strip()
        if not key or not payer_id:
            raise PayerMapError(f"{where}: match and payer_id must both be given")
        multiple = str(row.get("medicare_multiple", "")).strip()
        try:
            value = float(multiple) if multiple else DEFAULT_MEDICARE_MULTIPLE
        except ValueError:
            value = -1.0
        if not value > 0:
            raise PayerMapError(f"{where}, column 'medicare_multiple', value {multiple!r}: must be a number > 0")
        network = str(row.get("network", "")).strip().lower() or "out"
        if network not in ("in", "out"):
            raise PayerMapError(f"{where}, column 'network', value {network!r}: must be in or out")
        normalised = normalise_payer_ids(pd.Series([payer_id])).iloc[0]
        rows[key] = PayerSettings(normalised, value, network == "in", True)
    return rows
