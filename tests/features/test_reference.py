"""Reference data: prices checked by hand against the CMS source files, code families, CARC categories."""

from __future__ import annotations

import gzip
import importlib.util
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import reference
from features.reference import (
    CARC_CATEGORIES,
    CODE_FAMILIES,
    carc_flags,
    code_family,
    denial_category,
    is_known_code,
    medicare_amount,
    mentions_nsa_remark,
)

REPO_ROOT = Path(__file__).parents[2]
CMS_SOURCE = REPO_ROOT.parent / "shared" / "reference" / "cms"
SHIPPED_DATA = REPO_ROOT / "features" / "data"
CF = 32.3465


def price(cpt_code, modifier=None, place_of_service="11", state="ZZ", units=None) -> float:
    """Medicare amount of one service line ("ZZ" is no state, so national indices apply)."""
    line_units = None if units is None else [units]
    return medicare_amount([cpt_code], [modifier], [place_of_service], [state], line_units).iloc[0]


# --- Physician fee schedule -------------------------------------------------------------------------------
# RVUs quoted from pprrvu_2025_oct.csv (work, non-facility PE, facility PE, MP) and GPCIs from gpci_2025.csv.


def test_emergency_visit_in_a_one_locality_state_uses_facility_pe_and_state_gpcis():
    # 99285: work 4.00, PE 0.79 (both settings), MP 0.43; Alabama (one locality): PW 1, PE 0.869, MP 0.575
    assert price("99285", place_of_service="23", state="AL") == pytest.approx(
        (4.00 * 1 + 0.79 * 0.869 + 0.43 * 0.575) * CF
    )


def test_state_gpcis_are_the_unweighted_mean_of_the_state_localities():
    # Texas has 8 localities: PW mean 8.064/8 = 1.008, PE mean 7.908/8 = 0.9885, MP mean 7.633/8 = 0.9541
    expected = (4.00 * 1.008 + 0.79 * 0.9885 + 0.43 * 0.9541) * CF
    assert price("99285", place_of_service="23", state="TX") == pytest.approx(expected)
    assert expected == pytest.approx(168.95, abs=0.01)


def test_professional_and_technical_components_are_priced_from_their_own_rows():
    # 71046 global 0.22/0.77/0.02, -26 0.22/0.08/0.01, -TC 0.00/0.69/0.01 (national indices)
    assert price("71046") == pytest.approx(1.01 * CF)
    assert price("71046", "26") == pytest.approx(0.31 * CF)
    assert price("71046", "TC") == pytest.approx(0.70 * CF)
    assert price("71046", "26") + price("71046", "TC") == pytest.approx(price("71046"))


def test_other_modifiers_and_components_a_code_lacks_price_the_global_service():
    assert price("71046", "59") == pytest.approx(price("71046"))
    assert price("99285", "26", place_of_service="23") == pytest.approx(price("99285", place_of_service="23"))


def test_critical_care_differs_between_facility_and_office():
    # 99291: work 4.50, PE 3.27 non-facility / 1.42 facility, MP 0.44
    assert price("99291", place_of_service="23") == pytest.approx(6.36 * CF)
    assert price("99291", place_of_service="11") == pytest.approx(8.21 * CF)
    assert price("99291", place_of_service="21") == price("99291", place_of_service="23")


def test_units_multiply_pfs_prices_and_missing_units_count_as_one():
    amounts = medicare_amount(["99291"] * 3, [None] * 3, ["23"] * 3, ["ZZ"] * 3, [2, None, 1])
    assert amounts.tolist() == pytest.approx([2 * 6.36 * CF, 6.36 * CF, 6.36 * CF])


def test_codes_published_for_other_payers_are_priced():
    # 99243 (consultation) is status I with RVUs CMS publishes for other payers: 1.80/1.46/0.71/0.12
    assert price("99243", place_of_service="22") == pytest.approx((1.80 + 0.71 + 0.12) * CF)


def test_inputs_are_normalised():
    assert price(" 71046 ", " tc ", place_of_service=11, state="al") == pytest.approx(
        (0.00 * 1 + 0.69 * 0.869 + 0.01 * 0.575) * CF
    )


# --- Anesthesia and ambulance ---------------------------------------------------------------------------


def test_anesthesia_is_base_plus_typical_time_units_times_the_state_anesthesia_cf():
    # 00790: 7 base units + 10 typical time units; Alaska's anesthesia CF 27.86, national 20.3178
    assert price("00790", place_of_service="22", state="AK") == pytest.approx(17 * 27.86)
    assert price("00790", place_of_service="22") == pytest.approx(17 * 20.3178)


def test_anesthesia_ignores_units_because_they_count_time():
    assert price("00790", state="AK", units=40) == price("00790", state="AK")


def test_ambulance_base_rates_are_national_and_per_transport():
    assert price("A0427", place_of_service="41", state="NY", units=3) == pytest.approx(546.40)
    assert price("A0431", place_of_service="41", state="CA") == pytest.approx(4000.00)


def test_ambulance_mileage_is_per_mile():
    assert price("A0425", place_of_service="41", units=12) == pytest.approx(12 * 9.03)


# --- Unknown codes and the shape of the result ------------------------------------------------------------


def test_unknown_codes_are_nan_with_one_warning_that_counts_them(caplog):
    with caplog.at_level(logging.WARNING, logger="features.reference"):
        amounts = medicare_amount(["ZZZZZ", "99285", None, "00740"], ["", "", "", ""], ["23"] * 4, ["TX"] * 4)
    assert np.isnan(amounts.iloc[[0, 2, 3]]).all()
    assert not math.isnan(amounts.iloc[1])
    assert len(caplog.records) == 1
    assert "3 of 4" in caplog.records[0].getMessage()
    assert "ZZZZZ" not in caplog.records[0].getMessage()


def test_result_keeps_the_index_of_a_series_input():
    index = pd.Index([10, 20], name="line")
    amounts = medicare_amount(
        pd.Series(["99285", "71046"], index=index),
        pd.Series([None, "26"], index=index),
        pd.Series(["23", "11"], index=index),
        pd.Series(["TX", "TX"], index=index),
    )
    assert amounts.index.equals(index)
    assert amounts.dtype == np.float64


def test_inputs_of_different_lengths_are_rejected():
    with pytest.raises(ValueError, match="same length"):
        medicare_amount(["99285", "99285"], [None], ["23", "23"], ["TX", "TX"])


def test_is_known_code():
    known = is_known_code(pd.Series(["99285", "00790", "A0427", "00740", "ZZZZZ", None, "99243"]))
    assert known.tolist() == [True, True, True, False, False, False, True]


# --- Code families -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "family"),
    [
        ("99281", "em_ed"),
        ("99285", "em_ed"),
        ("99288", "em_ed"),
        ("99286", "em_other"),
        ("99291", "critical_care"),
        ("99292", "critical_care"),
        ("99466", "critical_care"),
        ("99480", "critical_care"),
        ("99481", "em_other"),
        ("99202", "em_other"),
        ("99499", "em_other"),
        ("00100", "anesthesia"),
        ("01999", "anesthesia"),
        ("10004", "surgery"),
        ("69990", "surgery"),
        ("70010", "radiology"),
        ("79999", "radiology"),
        ("80047", "pathology"),
        ("89398", "pathology"),
        ("90281", "medicine"),
        ("99199", "medicine"),
        ("99500", "medicine"),
        ("99607", "medicine"),
        ("A0021", "ambulance"),
        ("A0999", "ambulance"),
        ("a0427", "ambulance"),
        ("A1000", "hcpcs_other"),
        ("G0390", "hcpcs_other"),
        ("0075T", "hcpcs_other"),
        ("00099", "unknown"),
        ("99201", "unknown"),
        ("99608", "unknown"),
        ("9928", "unknown"),
        ("992855", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_code_family_boundaries(code, family):
    assert code_family(pd.Series([code])).iloc[0] == family
    assert reference.code_family_one(code) == family


def test_one_code_falls_in_the_family_the_column_gives():
    """``code_family_one`` (the single-claim path: priced codes from a table made once) equals ``code_family``."""
    rng = np.random.default_rng(5)
    codes = [
        *rng.choice(list(reference._price_table().codes), 2000),
        " 99285 ",
        "a0427",
        "0075t",
        "G9999",
        "12",
        "ABCDE",
        "99999",
        "",
    ]
    assert [reference.code_family_one(code) for code in codes] == code_family(pd.Series(codes)).tolist()


def test_code_family_is_a_string_series_over_the_declared_families():
    families = code_family(pd.Series(["99285", "00790", "ZZ"], index=[5, 6, 7]))
    assert families.dtype == "str"
    assert families.index.tolist() == [5, 6, 7]
    assert set(families) <= set(CODE_FAMILIES)


def test_curated_codes_fall_in_their_own_family():
    prices = reference._price_table()
    anesthesia_codes = prices.codes[prices.anesthesia_units[:-1] > 0]
    ambulance_codes = prices.codes[prices.ambulance_rate[:-1] > 0]
    assert set(code_family(pd.Series(anesthesia_codes))) == {"anesthesia"}
    assert set(code_family(pd.Series(ambulance_codes))) == {"ambulance"}


# --- CARC categories and NSA remark codes -----------------------------------------------------------------


def test_carc_categories_are_the_design_grouping():
    assert {
        "pricing": {"CO-45", "CO-131", "CO-147", "CO-242"},
        "bundling": {"CO-97", "CO-59", "CO-234", "CO-236", "CO-4"},
        "level_of_service": {"CO-150", "CO-151"},
        "medical_necessity": {"CO-50", "CO-96", "CO-204", "CO-167", "CO-11"},
        "authorization": {"CO-197", "CO-B7"},
        "administrative": {"CO-16", "CO-252", "CO-18", "CO-29", "CO-109"},
        "patient_share": {"PR-1", "PR-2", "PR-3"},
        "other_payer": {"OA-23"},
    } == CARC_CATEGORIES


def test_carc_flags_parse_comma_separated_pairs():
    flags = carc_flags(pd.Series(["CO-45, PR-2", " co-197 ,CO-45 ", None, "", "PI-45,CO-999", "CO-45,CO-45"]))
    assert list(flags.columns) == [f"carc_{category}" for category in CARC_CATEGORIES] + [
        "carc_count",
        "carc_unrecognised",
    ]
    assert flags["carc_pricing"].tolist() == [True, True, False, False, False, True]
    assert flags["carc_patient_share"].tolist() == [True, False, False, False, False, False]
    assert flags["carc_authorization"].tolist() == [False, True, False, False, False, False]
    assert flags["carc_count"].tolist() == [2, 2, 0, 0, 2, 1]
    assert flags["carc_unrecognised"].tolist() == [0, 0, 0, 0, 2, 0]
    assert flags.dtypes.iloc[:-2].eq(bool).all()


@pytest.mark.parametrize(
    ("carc_codes", "category"),
    [
        ("CO-45,CO-197,CO-50", "authorization"),
        ("CO-45,CO-50,CO-150", "medical_necessity"),
        ("CO-97,CO-151", "level_of_service"),
        ("CO-16,CO-59", "bundling"),
        ("CO-45,CO-16", "administrative"),
        ("OA-23,CO-45", "pricing"),
        ("PR-2,OA-23", "other_payer"),
        ("PR-1", "patient_share"),
        ("PI-45", "none"),
        (None, "none"),
    ],
)
def test_denial_category_precedence(carc_codes, category):
    assert denial_category(pd.Series([carc_codes])).iloc[0] == category
    assert reference.carc_one(carc_codes)[1] == category


def test_one_claims_carc_codes_read_as_the_columns_do():
    texts = [
        "CO-45, PR-2",
        " co-197 ,CO-45 ",
        None,
        "",
        "PI-45,CO-999",
        "CO-45,CO-45",
        "CO-16,CO-59",
        "OA-23",
        "PR-1,PR-3,CO-50",
    ]
    flags, categories = carc_flags(pd.Series(texts)), denial_category(pd.Series(texts))
    for position, text in enumerate(texts):
        one, category = reference.carc_one(text)
        assert one == {name: int(value) for name, value in flags.iloc[position].items()}
        assert category == categories.iloc[position]


def test_mentions_nsa_remark():
    remarks = pd.Series(["N859", "M15, N869", "n862;MA01", "N858", "N871", "N872", None])
    assert mentions_nsa_remark(remarks).tolist() == [True, True, True, False, True, False, False]


# --- The shipped tables are exactly what the build script produces ------------------------------------------

needs_cms_source = pytest.mark.skipif(
    not CMS_SOURCE.is_dir(), reason=f"CMS source files not found at {CMS_SOURCE} (../shared/reference/cms)"
)


def load_build_script():
    spec = importlib.util.spec_from_file_location("build_reference", REPO_ROOT / "scripts" / "build_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_cms_source
def test_rebuilding_reproduces_the_shipped_tables(tmp_path):
    build = load_build_script()
    written = build.build(CMS_SOURCE, tmp_path)
    assert [path.name for path in written] == [
        build.PFS_TABLE,
        build.STATE_TABLE,
        build.ANESTHESIA_TABLE,
        build.AMBULANCE_TABLE,
        build.README,
    ]
    for path in written:
        rebuilt, shipped = path.read_bytes(), (SHIPPED_DATA / path.name).read_bytes()
        if path.suffix == ".gz":
            # compare the content: compressed bytes may differ between zlib builds for the same input
            rebuilt, shipped = gzip.decompress(rebuilt), gzip.decompress(shipped)
        assert rebuilt == shipped, f"{path.name} is stale: run python scripts/build_reference.py"


@needs_cms_source
def test_conversion_factors_match_the_source_files():
    build = load_build_script()
    assert build.conversion_factor(build.read_rvus(CMS_SOURCE)) == reference.PFS_CONVERSION_FACTOR
    _, national_anesthesia_cf = build.read_anesthesia_cf(CMS_SOURCE)
    assert national_anesthesia_cf == reference.NATIONAL_ANESTHESIA_CONVERSION_FACTOR


def test_one_line_prices_as_the_columns_do(caplog):
    """``medicare_amount_one`` (the single-claim path) equals ``medicare_amount`` on every kind of input."""
    rng = np.random.default_rng(4)
    codes = [
        *rng.choice(list(reference._price_table().codes), 400),
        "99285",
        " 99285 ",
        "00790",
        "A0427",
        "A0425",
        "ZZZZZ",
        None,
    ]
    choices = {
        "cpt_code": codes,
        "modifier": [None, "", "26", "tc", "59", " TC "],
        "place_of_service": [None, "23", "11", "2", "21", "99"],
        "state": [None, "TX", "ny", "XX", "PR"],
        "units": [None, 1.0, 2.0, 3.5, math.nan],
    }
    lines = pd.DataFrame(
        {name: [values[i] for i in rng.integers(0, len(values), 5000)] for name, values in choices.items()}
    )
    with caplog.at_level(logging.ERROR):  # unknown codes warn on both paths
        expected = reference.medicare_amount(
            lines["cpt_code"], lines["modifier"], lines["place_of_service"], lines["state"], lines["units"]
        ).to_numpy()
        got = np.array([reference.medicare_amount_one(*line) for line in lines.itertuples(index=False)])
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(expected).any() and (~np.isnan(expected)).sum() > 3000
