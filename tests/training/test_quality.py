"""Model quality under change: payer x level offsets, unknown payers by kind, conformal interval margins, the
payer-segment report."""

from __future__ import annotations

from pathlib import Path

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.payer_kinds import PAYER_KINDS, payer_kinds
from features.schema import Level
from features.transformer import OTHER_CATEGORY, ClaimFeatures
from training.data import time_split
from training.fit import (
    KIND_MIN_ATTEMPTS,
    KIND_PRIOR_PAYERS,
    conformal_margins,
    payer_level_offsets,
    unknown_payer_shifts,
)
from training.simulator import simulate_history
from training.truth import payer_segments, segment_metrics
from training.world import Drift, World

REFERENCE_BUNDLE = Path(__file__).resolve().parents[1] / "fixtures" / "scoring_reference" / "bundle.joblib"


@pytest.fixture(scope="module")
def split_and_features():
    history = simulate_history(6000, seed=5)
    from training.data import load_history

    attempts = load_history(history).resolved
    split = time_split(attempts)
    transformer = ClaimFeatures(min_category_count=10).fit(split.train)
    return split, transformer


def _quantile_models(split, transformer, alphas):
    won = split.train[split.train["success"]]
    x = transformer.transform(won)
    share = (won["final_allowed_amount"] / won["billed_amount"]).to_numpy()
    return {
        name: lgb.LGBMRegressor(objective="quantile", alpha=alpha, n_estimators=60, verbose=-1).fit(x, share)
        for name, alpha in alphas.items()
    }


def test_conformal_margins_bring_a_too_narrow_interval_to_80_percent_on_new_outcomes(split_and_features):
    """Quantile models fitted for 30%-70% (too narrow for the promised 80%) get margins from one half of the
    held-out slice; on the other half the widened interval covers close to 80%, where the raw one covers
    far less."""
    split, transformer = split_and_features
    models = _quantile_models(split, transformer, {"allowed_p10": 0.3, "allowed_p50": 0.5, "allowed_p90": 0.7})
    held = pd.concat([split.valid, split.test])
    won = held[held["success"]].sample(frac=1.0, random_state=0)
    calibrate, check = won.iloc[: len(won) // 2], won.iloc[len(won) // 2 :]
    share = lambda frame: (frame["final_allowed_amount"] / frame["billed_amount"]).to_numpy()  # noqa: E731
    margins = conformal_margins(models, transformer.transform(calibrate), share(calibrate), transformer)
    x = transformer.transform(check)
    low, high = models["allowed_p10"].predict(x), models["allowed_p90"].predict(x)
    raw = np.mean((share(check) >= low) & (share(check) <= high))
    known = margins["known"]
    widened = np.mean((share(check) >= low + known["allowed_p10"]) & (share(check) <= high + known["allowed_p90"]))
    assert raw < 0.6
    assert 0.74 <= widened <= 0.86, widened
    assert known["allowed_p10"] < 0 < known["allowed_p90"]
    # a payer the models never saw is scored as the unknown category: its own margins cover it too
    unknown = margins["unknown"]
    x["payer_id"] = pd.Categorical(np.full(len(x), OTHER_CATEGORY), dtype=x["payer_id"].dtype)
    low, high = models["allowed_p10"].predict(x), models["allowed_p90"].predict(x)
    masked = np.mean((share(check) >= low + unknown["allowed_p10"]) & (share(check) <= high + unknown["allowed_p90"]))
    assert 0.74 <= masked <= 0.86, masked
    assert margins["unknown_payer_code"] == len(transformer.categories_["payer_id"]) - 2


def test_payer_segments_follow_the_worlds_drift():
    world = World(2026, Drift.parse("AETNA:all:0.5@2025-01-01,OSCAR:new@2026-01-01,OSCAR:all:0.5@2026-02-01"))
    segments = payer_segments(world, pd.Series(["AETNA", "OSCAR", "CIGNA"]))
    assert segments.tolist() == ["changed", "new", "steady"]


def test_segment_report_compares_promised_and_true_recovery_for_each_segment():
    bundle = joblib.load(REFERENCE_BUNDLE)  # a small trained bundle, stored for the scoring reference
    world = World(2026, Drift.parse("AETNA:all:0.3@2025-01-01,OSCAR:new@2025-06-01"))
    metrics = segment_metrics(bundle, world, pd.Timestamp("2026-01-15").date(), claims=1500)
    for segment in ("steady", "changed", "new"):
        assert metrics[f"segment_{segment}_claims"] > 0, segment
        promised = metrics[f"segment_{segment}_predicted_recovery_per_claim"]
        truly = metrics[f"segment_{segment}_true_recovery_per_claim"]
        assert metrics[f"segment_{segment}_recovery_bias_pct"] == pytest.approx(100 * (promised / truly - 1))
    assert sum(metrics[f"segment_{s}_claims"] for s in ("steady", "changed", "new")) <= 1500


def test_payer_offsets_follow_a_payer_that_turned_tougher_at_every_level_including_idr(split_and_features):
    """One payer's recent attempts succeed far less often than the trees predict, at every level: its
    offsets pull all its levels down together (the payer-wide shift), external review and legal too, where
    it has few attempts of its own (without them in the pooled shift, its IDR kept most of its old odds);
    other payers barely move. When its external reviews show no change, that level departs from the
    payer-wide shift by its own evidence."""
    split, transformer = split_and_features
    x = transformer.transform(split.valid)
    payers = x["payer_id"].astype(str).to_numpy()
    tough = pd.Series(payers).value_counts().index[0]
    levels = x["level"].to_numpy(dtype="int64")
    p = np.full(len(x), 0.4)
    rng = np.random.default_rng(0)
    won = rng.random(len(x)) < np.where(payers == tough, 0.15, 0.4)
    offsets = payer_level_offsets(x, won.astype(float), p, transformer)
    table = offsets["table"]
    code = transformer.categories_["payer_id"].index(tough)
    assert (table[code, 1:6] < -0.9).all(), table[code]  # log odds: 0.4 -> 0.15 is -1.3 in full
    others = [transformer.categories_["payer_id"].index(name) for name in set(payers) - {tough}]
    assert np.abs(table[others][:, 1:4]).max() < 0.6
    assert offsets["payer_column"] == list(x.columns).index("payer_id")
    assert offsets["level_column"] == list(x.columns).index("level")

    idr = (payers == tough) & (levels == 4)
    won[idr] = rng.random(idr.sum()) < 0.4
    table = payer_level_offsets(x, won.astype(float), p, transformer)["table"]
    assert table[code, 4] > table[code, 2] + 0.4, table[code]


def test_an_unknown_payers_shift_is_the_mean_effect_of_known_payers_of_its_kind_each_payer_weighing_the_same(
    split_and_features,
):
    """Scored as themselves, repricers succeed at 1 log-odds point below the unknown category and every other
    payer 0.5 above: a repricer unknown to the models takes (nearly) the repricers' -1, shrunk a little
    toward the market, whose row is the mean over payers (not claims) of every known payer's effect."""
    split, transformer = split_and_features
    x = transformer.transform(split.valid)
    payers = x["payer_id"].astype(str).to_numpy()
    repricers = set(pd.Series(payers)[payer_kinds(pd.Series(payers)).eq("repricer").to_numpy()])
    effect = np.where(np.isin(payers, list(repricers)), -1.0, 0.5)
    unknown = np.full(len(x), 0.4)
    known = 1 / (1 + np.exp(-(np.log(0.4 / 0.6) + effect)))
    table = unknown_payer_shifts(x, known, unknown, transformer)
    level = int(Level.reconsideration)
    levels = x["level"].to_numpy(dtype="int64")
    counted = pd.Series(payers[levels == level]).value_counts()
    counted = counted[(counted >= KIND_MIN_ATTEMPTS) & (counted.index != OTHER_CATEGORY)].index
    market = np.mean([-1.0 if payer in repricers else 0.5 for payer in counted])
    repricer_count = len(repricers & set(counted))
    expected = (-repricer_count + KIND_PRIOR_PAYERS * market) / (repricer_count + KIND_PRIOR_PAYERS)
    assert table[-1, level] == pytest.approx(market)
    assert table[PAYER_KINDS.index("repricer"), level] == pytest.approx(expected)
    assert table[PAYER_KINDS.index("blue"), level] > 0.4
    assert table.shape == (len(PAYER_KINDS) + 1, 6)
