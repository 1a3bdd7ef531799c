"""Payer profiles and payers unknown to the models as the bundle reads them at scoring time."""

from __future__ import annotations

import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from features.columns import claim_columns
from features.payer_kinds import PAYER_KINDS
from features.validation import validate_claims
from models.bundle import BUNDLE_FORMAT, PayerProfiles, RecoupBundle
from training.data import load_history
from training.simulator import simulate_history, simulate_worklist
from training.world import World

REFERENCE_BUNDLE = Path(__file__).resolve().parents[1] / "fixtures" / "scoring_reference" / "bundle.joblib"


def test_attempt_counts_by_payer_and_level_built_with_the_profiles_and_never_pickled():
    by_level = pd.DataFrame(
        {"payer_id": ["A", "A", "B"], "level": ["reconsideration", "legal", "legal"], "attempts": [5, 2, 40]}
    )
    profiles = PayerProfiles(pd.DataFrame(), by_level)
    profiles.__dict__["_counts"] = by_level.set_index(["payer_id", "level"])["attempts"]  # an older cache
    payers = np.array(["A", "A", None, "B", "C"], dtype=object)
    levels = np.array(["reconsideration", "legal", "legal", "legal", "legal"], dtype=object)
    np.testing.assert_array_equal(profiles.attempts(payers, levels), [5, 2, 0, 40, 0])
    assert not {"_counts", "_attempt_counts"} & set(profiles.__getstate__())
    restored = pickle.loads(pickle.dumps(profiles))
    assert "_counts" not in restored.__dict__ and "_attempt_counts" in restored.__dict__  # rebuilt on load
    np.testing.assert_array_equal(restored.attempts(payers, levels), [5, 2, 0, 40, 0])


def _with_kind_shifts(bundle: RecoupBundle, kind_table: np.ndarray) -> RecoupBundle:
    """A copy of ``bundle`` whose payer offsets are none for known payers and ``kind_table`` for unknown ones."""
    copy = pickle.loads(pickle.dumps(bundle))
    names = copy.transformer.feature_names_out_
    payers = len(copy.transformer.categories_["payer_id"])
    copy.models.payer_offsets = {
        "table": np.zeros((payers, 6)),
        "payer_column": names.index("payer_id"),
        "level_column": names.index("level"),
        "unknown_payer_code": payers - 2,
        "kinds": list(PAYER_KINDS),
        "kind_table": kind_table,
    }
    return copy


def test_an_unknown_payer_is_scored_with_the_shift_of_known_payers_of_its_kind_and_says_so():
    """SPRINGTIDE (a repricer in the public kind table) and ACME HEALTH (no kind) are unknown to the
    reference bundle: the first moves by the repricer row, the second by the market row, a known payer by
    neither; the warnings name what each was scored like."""
    bundle = joblib.load(REFERENCE_BUNDLE)
    assert "SPRINGTIDE" not in bundle.transformer.categories_["payer_id"]
    kind_table = np.zeros((len(PAYER_KINDS) + 1, 6))
    kind_table[PAYER_KINDS.index("repricer")] = 2.0
    kind_table[-1] = -2.0
    shifted, plain = _with_kind_shifts(bundle, kind_table), _with_kind_shifts(bundle, np.zeros_like(kind_table))
    claims = simulate_worklist(1, seed=3, world=World())
    claims = pd.concat([claims.assign(payer_id=payer) for payer in ("SPRINGTIDE", "ACME HEALTH", "ZELIS")])
    claims = validate_claims(claims.reset_index(drop=True)).valid

    def p_reconsideration(model: RecoupBundle) -> np.ndarray:
        return model.score(claims)["p_success_reconsideration"].to_numpy()

    moved, unmoved = p_reconsideration(shifted), p_reconsideration(plain)
    assert moved[0] > unmoved[0] + 0.05 and moved[1] < unmoved[1] - 0.05, (moved, unmoved)
    assert moved[2] == unmoved[2]  # ZELIS is known: its own (zero) offsets
    warnings = shifted.score_columns(claim_columns(claims)).warnings
    assert "unknown payer: scored like the known repricer payers, with a wider interval" in warnings[0]
    assert "unknown payer: scored with the market-wide behaviour" in warnings[1]
    assert not any("unknown payer" in note for note in warnings[2])


def test_bundles_of_format_2_load_and_score_unknown_payers_as_before():
    bundle = joblib.load(REFERENCE_BUNDLE)
    state = bundle.__getstate__() | {"format_version": 2}
    restored = RecoupBundle.__new__(RecoupBundle)
    restored.__setstate__(state)
    assert restored.format_version == BUNDLE_FORMAT == 3
    assert "kind_table" not in restored.models.payer_offsets


def test_history_rows_of_an_unknown_payer_are_estimated_as_scoring_shifts_them():
    """Evaluation, promotion and retraining estimate history rows with ``predict_attempts``: an unknown
    repricer moves by the repricer row there too, not by the market row its category alone would give."""
    bundle = joblib.load(REFERENCE_BUNDLE)
    kind_table = np.zeros((len(PAYER_KINDS) + 1, 6))
    kind_table[PAYER_KINDS.index("repricer")] = 2.0
    kind_table[-1] = -2.0
    shifted = _with_kind_shifts(bundle, kind_table)
    history = load_history(simulate_history(300, seed=4, world=World())).resolved.head(40)
    attempts = history.assign(payer_id=["SPRINGTIDE", "ZELIS"] * 20)
    estimated = shifted.predict_attempts(attempts)["p_success"].to_numpy()
    features = shifted.transformer.transform(attempts)
    billed, allowed = attempts["billed_amount"].to_numpy(), attempts["allowed_before"].to_numpy()
    as_market = shifted.models.predict(features, billed, allowed)["p_success"].to_numpy()
    assert (estimated[0::2] > as_market[0::2]).all()  # the repricer row (+2) against the market's (-2)
    np.testing.assert_array_equal(estimated[1::2], as_market[1::2])  # ZELIS is known: its own offsets
