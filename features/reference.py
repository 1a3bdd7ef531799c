"""2025 Medicare reference data: benchmark prices, code families, CARC categories and NSA remark codes.

Every function takes whole columns. Inputs are factorized, the work is done once per distinct value (a few
thousand codes, a few hundred CARC strings) and mapped back to the rows with numpy indexing, so a million
claim lines take a fraction of a second. Several inputs of one call are aligned by position; results carry
the index of the first input when it is a Series.

The tables are package data built by ``scripts/build_reference.py`` (see ``features/data/README.md``) and
are read once per process.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

PFS_CONVERSION_FACTOR = 32.3465
NATIONAL_ANESTHESIA_CONVERSION_FACTOR = 20.3178

#: Places of service CMS pays at the facility PE rate; every other code gets the non-facility rate.
FACILITY_PLACES_OF_SERVICE = frozenset(
    {"02", "19", "21", "22", "23", "24", "26", "31", "34", "41", "42", "51", "52", "53", "56", "61"}
)

CODE_FAMILIES = (
    "em_ed",
    "critical_care",
    "em_other",
    "anesthesia",
    "surgery",
    "radiology",
    "pathology",
    "medicine",
    "ambulance",
    "hcpcs_other",
    "unknown",
)
#: Numeric CPT ranges by family; the first match wins, so the narrow E/M ranges precede the broad one.
_NUMERIC_CODE_RANGES = (
    ("em_ed", 99281, 99285),
    ("em_ed", 99288, 99288),
    ("critical_care", 99291, 99292),
    ("critical_care", 99466, 99480),
    ("em_other", 99202, 99499),
    ("anesthesia", 100, 1999),
    ("surgery", 10004, 69990),
    ("radiology", 70010, 79999),
    ("pathology", 80047, 89398),
    ("medicine", 90281, 99199),
    ("medicine", 99500, 99607),
)

#: Our own grouping of claim adjustment reason codes (group-code pairs), as in DESIGN.md.
CARC_CATEGORIES: dict[str, frozenset[str]] = {
    "pricing": frozenset({"CO-45", "CO-131", "CO-147", "CO-242"}),
    "bundling": frozenset({"CO-97", "CO-59", "CO-234", "CO-236", "CO-4"}),
    "level_of_service": frozenset({"CO-150", "CO-151"}),
    "medical_necessity": frozenset({"CO-50", "CO-96", "CO-204", "CO-167", "CO-11"}),
    "authorization": frozenset({"CO-197", "CO-B7"}),
    "administrative": frozenset({"CO-16", "CO-252", "CO-18", "CO-29", "CO-109"}),
    "patient_share": frozenset({"PR-1", "PR-2", "PR-3"}),
    "other_payer": frozenset({"OA-23"}),
}
#: Which category explains a denial when a claim carries several: the ones an escalation must answer first.
DENIAL_CATEGORY_PRECEDENCE = (
    "authorization",
    "medical_necessity",
    "level_of_service",
    "bundling",
    "administrative",
    "pricing",
    "other_payer",
    "patient_share",
)
NO_DENIAL_CATEGORY = "none"
_RECOGNISED_CARC_CODES = frozenset().union(*CARC_CATEGORIES.values())

#: Remark codes (RARC) that mark a claim processed under the No Surprises Act: DESIGN.md names N859-N869 for
#: the contract's remark_codes and N864-N871 for X12 remits; one set, their union, serves both.
NSA_REMARK_CODES = frozenset(f"N{number}" for number in range(859, 872))
_REMARK_SEPARATORS = re.compile(r"[\s,;]+")

#: Columns of the RVU arrays: the global service, its professional (26) and technical (TC) components.
_PFS_MODIFIERS = ("", "26", "TC")
_GLOBAL_ROW = _PFS_MODIFIERS.index("")


@dataclass(frozen=True)
class _PriceTable:
    """Every priced code, with numeric arrays aligned to ``codes`` plus one trailing all-NaN sentinel row.

    An unknown code is looked up as position -1, which numpy resolves to the sentinel, so prices of unknown
    codes come out NaN without a separate mask. Components a code does not use are 0, so a price is the sum
    of the RVU, anesthesia and ambulance parts.
    """

    codes: pd.Index
    work_rvu: np.ndarray  # (codes + 1, 3): global, 26, TC
    nonfacility_pe_rvu: np.ndarray
    facility_pe_rvu: np.ndarray
    mp_rvu: np.ndarray
    has_modifier_row: np.ndarray  # (codes + 1, 3) bool
    anesthesia_units: np.ndarray  # base + typical time units, per case
    ambulance_rate: np.ndarray
    ambulance_per_mile: np.ndarray  # bool


@dataclass(frozen=True)
class _StateTable:
    """Per-state indices with a trailing national row that unknown states (position -1) resolve to."""

    states: pd.Index
    pw_gpci: np.ndarray
    pe_gpci: np.ndarray
    mp_gpci: np.ndarray
    anesthesia_cf: np.ndarray


def _read_table(name: str, **read_csv_options) -> pd.DataFrame:
    with resources.files("features.data").joinpath(name).open("rb") as file:
        return pd.read_csv(file, keep_default_na=False, **read_csv_options)


def _with_sentinel(values: np.ndarray, sentinel: object) -> np.ndarray:
    """``values`` with one more row (or element) filled with ``sentinel``, for lookups at position -1."""
    return np.concatenate([values, np.full((1, *values.shape[1:]), sentinel, dtype=values.dtype)])


@functools.cache
def _price_table() -> _PriceTable:
    pfs = _read_table("medicare_pfs_2025.csv.gz", compression="gzip", dtype={"hcpcs": str, "modifier": str})
    anesthesia = _read_table("anesthesia_base_units.csv", dtype={"hcpcs": str})
    ambulance = _read_table("ambulance_rates_2025.csv", dtype={"hcpcs": str})
    codes = pd.Index(sorted(set(pfs["hcpcs"]) | set(anesthesia["hcpcs"]) | set(ambulance["hcpcs"])), dtype="str")

    def by_code_and_modifier(column: str) -> np.ndarray:
        wide = pfs.pivot(index="hcpcs", columns="modifier", values=column)
        return wide.reindex(index=codes, columns=list(_PFS_MODIFIERS)).to_numpy(dtype="float64")

    has_modifier_row = ~np.isnan(by_code_and_modifier("work_rvu"))

    def rvus(column: str) -> np.ndarray:
        return _with_sentinel(np.nan_to_num(by_code_and_modifier(column)), np.nan)

    def by_code(table: pd.DataFrame, values: pd.Series) -> np.ndarray:
        series = pd.Series(values.to_numpy(), index=table["hcpcs"])
        return series.reindex(codes, fill_value=0).to_numpy(dtype=values.dtype)

    per_case_units = anesthesia["base_units"] + anesthesia["typical_time_units"]
    return _PriceTable(
        codes=codes,
        work_rvu=rvus("work_rvu"),
        nonfacility_pe_rvu=rvus("nonfac_pe_rvu"),
        facility_pe_rvu=rvus("facility_pe_rvu"),
        mp_rvu=rvus("mp_rvu"),
        has_modifier_row=_with_sentinel(has_modifier_row, False),
        anesthesia_units=_with_sentinel(by_code(anesthesia, per_case_units.astype("float64")), np.nan),
        ambulance_rate=_with_sentinel(by_code(ambulance, ambulance["rate"].astype("float64")), np.nan),
        ambulance_per_mile=_with_sentinel(by_code(ambulance, ambulance["unit"] == "mile"), False),
    )


@functools.cache
def _state_table() -> _StateTable:
    states = _read_table("gpci_state_2025.csv", dtype={"state": str})

    def with_national(column: str, national: float) -> np.ndarray:
        return np.append(states[column].to_numpy(dtype="float64"), national)

    return _StateTable(
        states=pd.Index(states["state"], dtype="str"),
        pw_gpci=with_national("pw_gpci", 1.0),
        pe_gpci=with_national("pe_gpci", 1.0),
        mp_gpci=with_national("mp_gpci", 1.0),
        anesthesia_cf=with_national("anesthesia_cf", NATIONAL_ANESTHESIA_CONVERSION_FACTOR),
    )


def _as_series(values: Iterable) -> pd.Series:
    return values if isinstance(values, pd.Series) else pd.Series(values)


def _per_row(values: pd.Series, per_distinct: Callable[[pd.Index], np.ndarray], missing: object) -> np.ndarray:
    """Evaluate ``per_distinct`` once per distinct non-missing value and spread the results over the rows."""
    row_codes, distinct = pd.factorize(values)
    results = np.asarray(per_distinct(distinct))
    # factorize gives missing values the code -1, which picks the appended result for "missing"
    return _with_sentinel(results, missing)[row_codes]


def _clean(distinct: pd.Index) -> pd.Index:
    return distinct.astype(str).str.strip().str.upper()


def _code_positions(cpt_code: pd.Series) -> np.ndarray:
    codes = _price_table().codes
    return _per_row(cpt_code, lambda distinct: codes.get_indexer(_clean(distinct)), missing=-1)


def _component_row(distinct_modifiers: pd.Index) -> np.ndarray:
    """Column of the RVU arrays each modifier selects: 26 and TC their own, any other the global one."""
    row = pd.Index(_PFS_MODIFIERS).get_indexer(_clean(distinct_modifiers))
    return np.where(row < 0, _GLOBAL_ROW, row)


def medicare_amount(
    cpt_code: Iterable,
    modifier: Iterable,
    place_of_service: Iterable,
    state: Iterable,
    units: Iterable | None = None,
) -> pd.Series:
    """The 2025 Medicare allowed amount of each service line (float64; NaN for a code with no price).

    - PFS codes: (work x PW GPCI + PE x PE GPCI + MP x MP GPCI) x 32.3465 x units, with the facility PE RVU
      for ``FACILITY_PLACES_OF_SERVICE``. Modifier 26/TC prices the professional/technical component; any
      other modifier, or a 26/TC the code has no component row for, prices the global service.
    - Anesthesia codes: (base units + typical time units) x the state anesthesia CF, per case. ``units`` is
      ignored: on an anesthesia claim it counts time units, which a per-case benchmark already includes.
    - Ambulance codes: the approximate national rate; mileage codes (per mile) are multiplied by ``units``.

    State GPCIs and anesthesia CFs are state averages of the Medicare localities; an unknown state gets the
    national values. Missing units count as 1. Unknown codes give NaN and one warning per call with their
    count, never the codes or claim data.
    """
    cpt_code, modifier, place_of_service, state = (
        _as_series(values) for values in (cpt_code, modifier, place_of_service, state)
    )
    length = len(cpt_code)
    unit_counts = (
        np.ones(length)
        if units is None
        else pd.to_numeric(_as_series(units), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    )
    lengths = {len(values) for values in (modifier, place_of_service, state, unit_counts)}
    if lengths != {length}:
        raise ValueError(f"all inputs must have the same length ({length}); got lengths {sorted(lengths)}")
    unit_counts = np.where(np.isnan(unit_counts), 1.0, unit_counts)

    prices, indices = _price_table(), _state_table()
    code = _code_positions(cpt_code)
    requested_row = _per_row(modifier, _component_row, missing=_GLOBAL_ROW)
    row = np.where(prices.has_modifier_row[code, requested_row], requested_row, _GLOBAL_ROW)
    facility = _per_row(
        place_of_service,
        lambda distinct: _clean(distinct).str.zfill(2).isin(FACILITY_PLACES_OF_SERVICE),
        missing=False,
    )
    state_position = _per_row(state, lambda distinct: indices.states.get_indexer(_clean(distinct)), missing=-1)

    amount = _price(code, row, facility, state_position, unit_counts)

    unknown = int((code < 0).sum())
    if unknown:
        logger.warning("%d of %d service lines have a code with no 2025 Medicare price", unknown, length)
    return pd.Series(amount, index=cpt_code.index, name="medicare_amount")


def medicare_amount_one(
    cpt_code: object, modifier: object, place_of_service: object, state: object, units: float | None = None
) -> float:
    """``medicare_amount`` of one service line given as plain values (None where missing), without pandas:
    the same tables, lookups and arithmetic in the same order, for the single-claim path (a test holds
    the two equal)."""
    prices = _price_table()
    code = _positions("codes").get(_clean_one(cpt_code), -1)
    requested_row = _PFS_MODIFIERS.index(text) if (text := _clean_one(modifier)) in _PFS_MODIFIERS else _GLOBAL_ROW
    row = requested_row if prices.has_modifier_row[code, requested_row] else _GLOBAL_ROW
    place = _clean_one(place_of_service)
    facility = place is not None and place.zfill(2) in FACILITY_PLACES_OF_SERVICE
    state_position = _positions("states").get(_clean_one(state), -1)
    unit_count = 1.0 if units is None or np.isnan(units) else float(units)
    if code < 0:
        logger.warning("%d of %d service lines have a code with no 2025 Medicare price", 1, 1)
    return float(_price(code, row, facility, state_position, unit_count))


def _price(code, row, facility, state_position, units):
    """The Medicare amount from table positions (arrays of lines, or one line's scalars): RVUs priced
    with the state's GPCIs, anesthesia per case, ambulance per trip or mile."""
    prices, indices = _price_table(), _state_table()
    practice_expense = np.where(facility, prices.facility_pe_rvu[code, row], prices.nonfacility_pe_rvu[code, row])
    rvu_amount = (
        prices.work_rvu[code, row] * indices.pw_gpci[state_position]
        + practice_expense * indices.pe_gpci[state_position]
        + prices.mp_rvu[code, row] * indices.mp_gpci[state_position]
    ) * (PFS_CONVERSION_FACTOR * units)
    anesthesia_amount = prices.anesthesia_units[code] * indices.anesthesia_cf[state_position]
    ambulance_amount = prices.ambulance_rate[code] * np.where(prices.ambulance_per_mile[code], units, 1.0)
    return rvu_amount + anesthesia_amount + ambulance_amount


def _clean_one(value: object) -> str | None:
    """``_clean`` of one value; None stays None (missing)."""
    return None if value is None else str(value).strip().upper()


@functools.cache
def _positions(table: str) -> dict[str, int]:
    index = _price_table().codes if table == "codes" else _state_table().states
    return {value: position for position, value in enumerate(index)}


def is_known_code(cpt_code: Iterable) -> pd.Series:
    """Whether each code has a 2025 Medicare price (PFS, anesthesia or ambulance table)."""
    cpt_code = _as_series(cpt_code)
    known = _code_positions(cpt_code) >= 0
    return pd.Series(known, index=cpt_code.index, name="is_known_code")


def _families(distinct: pd.Index) -> np.ndarray:
    codes = _clean(distinct)
    numeric = pd.to_numeric(codes.where(codes.str.fullmatch(r"\d{5}")), errors="coerce").to_numpy()
    letter_led = np.asarray(codes.str.fullmatch(r"[A-Z]\d{4}"), dtype=bool)
    cpt_category_ii_iii_or_pla = np.asarray(codes.str.fullmatch(r"\d{4}[A-Z]"), dtype=bool)
    ambulance = letter_led & (codes >= "A0021") & (codes <= "A0999")
    conditions = [(numeric >= low) & (numeric <= high) for _, low, high in _NUMERIC_CODE_RANGES]
    families = [family for family, _, _ in _NUMERIC_CODE_RANGES]
    return np.select(
        [*conditions, ambulance, letter_led | cpt_category_ii_iii_or_pla],
        [*families, "ambulance", "hcpcs_other"],
        default="unknown",
    ).astype(object)


def code_family(cpt_code: Iterable) -> pd.Series:
    """The family of each code, one of ``CODE_FAMILIES`` (str dtype).

    Numeric CPT codes by range (``_NUMERIC_CODE_RANGES``); A0021-A0999 are ambulance; any other well-formed
    code (HCPCS Level II letter + 4 digits, CPT Category II/III and PLA 4 digits + letter) is hcpcs_other;
    missing, malformed and numeric codes outside the ranges are unknown.
    """
    cpt_code = _as_series(cpt_code)
    families = _per_row(cpt_code, _families, missing="unknown")
    return pd.Series(families, index=cpt_code.index, dtype="str", name="code_family")


def code_family_one(cpt_code: object) -> str:
    """``code_family`` of one code (None: missing), without pandas for any priced code: those are looked up
    among the families of every priced code, found together once per process; other codes are found alone."""
    if cpt_code is None:
        return "unknown"
    family = _priced_code_families().get(_clean_one(cpt_code))
    return family if family is not None else str(_families(pd.Index([str(cpt_code)]))[0])


@functools.cache
def _priced_code_families() -> dict[str, str]:
    codes = _price_table().codes
    return dict(zip(_clean(codes), _families(codes), strict=True))


def _carc_codes(text: str) -> frozenset[str]:
    return frozenset(code.strip().upper() for code in text.split(",")) - {""}


def _carc_summary(distinct: pd.Index) -> np.ndarray:
    """Per distinct CARC string: one 0/1 column per category, then the code count and unrecognised count."""
    rows = []
    for text in distinct:
        codes = _carc_codes(str(text))
        rows.append(
            [bool(codes & members) for members in CARC_CATEGORIES.values()]
            + [len(codes), len(codes - _RECOGNISED_CARC_CODES)]
        )
    return np.array(rows, dtype="int64").reshape(len(rows), len(CARC_CATEGORIES) + 2)


def carc_flags(carc_codes: Iterable) -> pd.DataFrame:
    """One bool column ``carc_<category>`` per ``CARC_CATEGORIES`` key, plus ``carc_count`` (distinct codes on
    the claim) and ``carc_unrecognised`` (distinct codes in no category).

    ``carc_codes`` holds comma-separated group-code pairs such as ``"CO-45, PR-2"`` (case and spaces are
    ignored); a missing value means no codes. Codes match the categories as whole pairs, so ``PI-45`` is not
    a pricing code.
    """
    carc_codes = _as_series(carc_codes)
    summary = _per_row(carc_codes, _carc_summary, missing=0)
    columns = {f"carc_{category}": summary[:, i].astype(bool) for i, category in enumerate(CARC_CATEGORIES)}
    columns["carc_count"] = summary[:, -2]
    columns["carc_unrecognised"] = summary[:, -1]
    return pd.DataFrame(columns, index=carc_codes.index)


def _denial_categories(distinct: pd.Index) -> np.ndarray:
    categories = []
    for text in distinct:
        codes = _carc_codes(str(text))
        categories.append(
            next(
                (category for category in DENIAL_CATEGORY_PRECEDENCE if codes & CARC_CATEGORIES[category]),
                NO_DENIAL_CATEGORY,
            )
        )
    return np.array(categories, dtype=object)


def denial_category(carc_codes: Iterable) -> pd.Series:
    """The primary CARC category of each claim by ``DENIAL_CATEGORY_PRECEDENCE``, else ``"none"`` (str)."""
    carc_codes = _as_series(carc_codes)
    categories = _per_row(carc_codes, _denial_categories, missing=NO_DENIAL_CATEGORY)
    return pd.Series(categories, index=carc_codes.index, dtype="str", name="denial_category")


def carc_one(carc_codes: str | None) -> tuple[dict[str, int], str]:
    """``carc_flags`` (as 0/1 and counts, by column) and ``denial_category`` of one claim's CARC text (None:
    no codes), without pandas: the same per-text rules."""
    if carc_codes is None:
        summary, category = np.zeros(len(CARC_CATEGORIES) + 2, dtype="int64"), NO_DENIAL_CATEGORY
    else:
        summary, category = _carc_summary([carc_codes])[0], str(_denial_categories([carc_codes])[0])
    flags = {f"carc_{name}": int(summary[position]) for position, name in enumerate(CARC_CATEGORIES)}
    return flags | {"carc_count": int(summary[-2]), "carc_unrecognised": int(summary[-1])}, category


def mentions_nsa_remark(remark_codes: Iterable) -> pd.Series:
    """Whether each claim's remark codes (separated by commas, semicolons or spaces) include an NSA code."""
    remark_codes = _as_series(remark_codes)

    def mentions(distinct: pd.Index) -> np.ndarray:
        return np.array(
            [not NSA_REMARK_CODES.isdisjoint(_REMARK_SEPARATORS.split(str(text).upper())) for text in distinct],
            dtype=bool,
        )

    return pd.Series(
        _per_row(remark_codes, mentions, missing=False), index=remark_codes.index, name="mentions_nsa_remark"
    )
