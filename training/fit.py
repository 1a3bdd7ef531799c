"""Fitting the outcome models on a time-ordered split."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from features.payer_kinds import PAYER_KINDS, payer_kinds
from features.transformer import OTHER_CATEGORY, ClaimFeatures
from models.calibration import PlattCalibrator
from models.estimators import SETTLEMENT_QUANTILES, OutcomeModels
from training.data import Split

EARLY_STOPPING_ROUNDS = 30
#: The amount and days models learn smooth targets; past this many rows more data barely moves them but
#: costs minutes (five of the six models are regressors), so they train on a seeded sample.
REGRESSION_MAX_ROWS = 300_000
#: Isotonic calibration needs this many validation attempts; below it, it overfits the slice (measured:
#: on 4,000 simulated claims isotonic raised test log loss from 0.641 to 0.658, Platt scaling did not).
ISOTONIC_MIN_ROWS = 20_000
PAYER_CATEGORY = "payer_id"
LEVEL_FEATURE = "level"
#: The payer x level offsets' prior weight, in attempts. Measured on a drifted world (20,000 claims; five
#: payers at 0.4x odds from a year before the worklist, three new ones; segment report of ``training.truth``):
#: predicted vs true recovery of the changed payers +40.8% without offsets, +18.2% at 40, +15.8% at 20,
#: +15.1% at 10; steady payers -9.8%, -1.6%, +0.1%, +1.7%; test log loss 0.596, 0.584, 0.585, 0.587. At 20
#: and below, payers that did not change drift off their calibration on small histories (the outcome-loop
#: test flags two steady payers beside the changed one), so 40.
OFFSET_PRIOR = 40.0
OFFSET_NEWTON_STEPS = 4
#: A kind's shift for an unknown payer is shrunk toward the whole market's by a prior worth this many payers
#: (a kind with one known payer is half that payer, half the market).
KIND_PRIOR_PAYERS = 1.0
#: A payer's validation attempts at a level below this many say too little of how it differs there.
KIND_MIN_ATTEMPTS = 5


def booster_params(seed: int, **overrides) -> dict:
    params = dict(
        n_estimators=2000,
        learning_rate=0.1,
        num_leaves=31,
        min_child_samples=100,
        max_bin=127,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        reg_lambda=1.0,
        random_state=seed,
        n_jobs=-1,
        verbose=-1,
    )
    params.update(overrides)
    return params


def _fit_early_stopped(model, train_x, train_y, valid_x, valid_y):
    model.fit(
        train_x,
        train_y,
        eval_X=(valid_x,),
        eval_y=(valid_y,),
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )
    return model


def calibrator_for(valid_rows: int):
    """Isotonic regression when the calibration slice is large enough, Platt scaling otherwise."""
    if valid_rows >= ISOTONIC_MIN_ROWS:
        return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    return PlattCalibrator()


def sample_rows(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions of the rows in ``mask``, a sorted seeded sample of ``REGRESSION_MAX_ROWS`` if more."""
    rows = np.flatnonzero(mask)
    if len(rows) <= REGRESSION_MAX_ROWS:
        return rows
    return np.sort(rng.choice(rows, REGRESSION_MAX_ROWS, replace=False))


def payer_level_offsets(
    valid_x: pd.DataFrame, won: np.ndarray, p: np.ndarray, transformer: ClaimFeatures, prior: float = OFFSET_PRIOR
) -> dict:
    """Each payer's recent behaviour at each level, as a log-odds shift of the calibrated probability.

    Fitted on the validation slice, the newest attempts before the test slice: a payer that turned tougher
    (or easier) since most of the training history shows it there first, while the trees, fitted on years
    of older attempts, still average the old behaviour in (measured: a payer whose odds fell to 0.4x a year
    before the worklist was promised 40% more recovery than it yields). Two levels of shrinkage, each a
    penalised maximum-likelihood shift with a Gaussian prior worth ``prior`` attempts: a payer-wide shift
    (its levels pooled), then each level's deviation from it, so a payer with few recent attempts at a
    level follows its own other levels, and one with few attempts at all keeps nearly the trees' estimate.
    Payers outside the vocabulary (rare or new) share the row of the unknown category."""
    payers = _payer_codes(valid_x, transformer)
    levels = valid_x[LEVEL_FEATURE].to_numpy(dtype="int64")
    shape = (len(transformer.categories_[PAYER_CATEGORY]), int(max(levels.max(initial=0), 5)) + 1)
    logit = _logit(p)
    # the payer-wide shift pools every level, external review and legal too: an IDR entity or a court
    # decides those, but on the payer's offer and conduct, and starting them from no shift left a payer
    # that turned tougher everywhere promised its old IDR odds (scripts/measure_quality.py, 20,000 claims,
    # five mid-size payers at 0.4x odds: changed payers' recovery +23.6/+49.7/+58.5% on seeds 0-2 with
    # internal levels pooled, +3.4/+20.4/+38.0% with all); a level with evidence of its own still
    # departs from the payer-wide shift through its own deviation below
    payer_shift = _penalised_shift(payers, shape[0], won, logit, prior)
    base = np.repeat(payer_shift[:, None], shape[1], axis=1)
    logit = logit + base[payers, levels]
    cells = payers * shape[1] + levels
    level_shift = _penalised_shift(cells, shape[0] * shape[1], won, logit, prior).reshape(shape)
    return {
        "table": base + level_shift,
        "payer_column": list(valid_x.columns).index(PAYER_CATEGORY),
        "level_column": list(valid_x.columns).index(LEVEL_FEATURE),
    }


def unknown_payer_shifts(
    valid_x: pd.DataFrame, known: np.ndarray, unknown: np.ndarray, transformer: ClaimFeatures
) -> np.ndarray:
    """How far a payer the models never saw should move from the unknown category's success probability:
    one log-odds shift per payer kind (``features.payer_kinds``) and level, the last row the whole market's.

    On the validation slice each known payer's attempts are scored twice, as the payer (``known``: offsets
    included) and as an unknown payer (``unknown``), the same claims both times, so the difference is the
    payer's own effect. A kind's shift is the mean effect of its known payers, each payer weighing the same
    (a new payer is one more payer of its kind, not one more claim of its biggest member), shrunk toward the
    market's mean over every known payer by ``KIND_PRIOR_PAYERS``. Without it an unknown payer took whatever
    side of the trees' payer splits the unseen category falls on. Measured with scripts/measure_quality.py
    (20,000 claims, seeds 0-2, five payer sets of three new payers): the new payers' predicted vs true
    recovery, mean absolute bias 14.8% -> 12.6% (MOLINA, OSCAR, MULTIPLAN new: -12.8/-13.1/-18.2% ->
    -6.7/-2.9/-2.5%). Only the success odds move: settlement and days stay the unknown category's."""
    codes = valid_x[PAYER_CATEGORY].cat.codes.to_numpy().astype("int64")
    levels = valid_x[LEVEL_FEATURE].to_numpy(dtype="int64")
    width = int(max(levels.max(initial=0), 5)) + 1
    effect = _logit(known) - _logit(unknown)
    vocabulary = len(transformer.categories_[PAYER_CATEGORY]) - 2
    inside = (codes >= 0) & (codes < vocabulary)
    cells = pd.DataFrame({"payer": codes[inside], "level": levels[inside], "effect": effect[inside]})
    by_cell = cells.groupby(["payer", "level"])["effect"].agg(["mean", "size"])
    by_cell = by_cell[by_cell["size"] >= KIND_MIN_ATTEMPTS].reset_index()
    names = pd.Series(transformer.categories_[PAYER_CATEGORY][:vocabulary], dtype=object)
    by_cell["kind"] = payer_kinds(names).to_numpy()[by_cell["payer"].to_numpy()]
    table = np.zeros((len(PAYER_KINDS) + 1, width))
    market = by_cell.groupby("level")["mean"].agg(["sum", "size"])
    table[-1, market.index] = market["sum"] / market["size"]
    kinds = by_cell[by_cell["kind"] != ""].groupby(["kind", "level"])["mean"].agg(["sum", "size"]).reset_index()
    rows = pd.Index(PAYER_KINDS).get_indexer(kinds["kind"])
    columns = kinds["level"].to_numpy()
    prior = table[-1, columns]
    table[rows, columns] = (kinds["sum"] + KIND_PRIOR_PAYERS * prior) / (kinds["size"] + KIND_PRIOR_PAYERS)
    kinded = np.zeros(table.shape, bool)
    kinded[rows, columns] = True
    table[:-1] = np.where(kinded[:-1], table[:-1], table[-1])  # a kind without payers at a level: the market
    return table


def _payer_codes(valid_x: pd.DataFrame, transformer: ClaimFeatures) -> np.ndarray:
    """Each row's payer code, payers outside the vocabulary as the unknown category's."""
    payers = valid_x[PAYER_CATEGORY].cat.codes.to_numpy().astype("int64")
    return np.where(payers < 0, len(transformer.categories_[PAYER_CATEGORY]) - 2, payers)


def _as_unknown_payer(features: pd.DataFrame) -> pd.DataFrame:
    """``features`` with every payer replaced by the unknown category: how a payer the models never saw is
    scored."""
    masked = features.copy()
    masked[PAYER_CATEGORY] = pd.Categorical(
        np.full(len(features), OTHER_CATEGORY), dtype=features[PAYER_CATEGORY].dtype
    )
    return masked


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped))


def _penalised_shift(groups: np.ndarray, count: int, won: np.ndarray, logit: np.ndarray, prior: float) -> np.ndarray:
    """Per group, the log-odds shift maximising the log likelihood minus ``prior/8 * shift**2`` (a Gaussian
    prior the weight of ``prior`` attempts at p = 0.5), by Newton's method from no shift."""
    shift, penalty = np.zeros(count), prior / 4
    for _ in range(OFFSET_NEWTON_STEPS):
        q = 1.0 / (1.0 + np.exp(-(logit + shift[groups])))
        gradient = np.bincount(groups, won - q, minlength=count) - penalty * shift
        curvature = np.bincount(groups, q * (1 - q), minlength=count) + penalty
        shift += gradient / curvature
    return shift


def conformal_margins(
    quantiles: dict[str, lgb.LGBMRegressor], valid_x: pd.DataFrame, share: np.ndarray, transformer: ClaimFeatures
) -> dict:
    """Split-conformal margins for the P10-P90 interval (conformalised quantile regression, one margin per
    tail): on the held-out won attempts, the lower margin is the finite-sample 90% quantile of how far the
    P10 model sits above the outcome, the upper one of how far the outcome sits above P90, so each tail
    holds about 10% and the interval about 80% of new outcomes. The models under-cover without them
    (76.5% measured where 80% is promised). The same on the slice with every payer replaced by the unknown
    category gives the wider margins of a payer the models never saw."""
    payer_column = list(valid_x.columns).index(PAYER_CATEGORY)
    unknown_code = len(transformer.categories_[PAYER_CATEGORY]) - 2  # the vocabulary ends other, missing
    as_unknown = _as_unknown_payer(valid_x)

    def margins(features: pd.DataFrame) -> dict[str, float]:
        tails = {name: alpha for name, alpha in SETTLEMENT_QUANTILES.items() if alpha != 0.5}
        out = {}
        for name, alpha in tails.items():
            predicted = quantiles[name].predict(features)
            below = alpha < 0.5
            miss = (predicted - share) if below else (share - predicted)  # how far the bound misses
            tail = alpha if below else 1 - alpha
            level = min(1.0, np.ceil((len(share) + 1) * (1 - tail)) / len(share))
            margin = float(np.quantile(miss, level)) if len(share) else 0.0
            out[name] = -margin if below else margin
        return out

    return {
        "known": margins(valid_x),
        "unknown": margins(as_unknown),
        "payer_column": payer_column,
        "unknown_payer_code": float(unknown_code),
    }


def fit_outcome_models(split: Split, transformer: ClaimFeatures, seed: int = 0) -> OutcomeModels:
    """Fit every outcome model on ``split.train``, stopping early and calibrating on ``split.valid``."""
    train_x, valid_x = transformer.transform(split.train), transformer.transform(split.valid)
    success = _fit_early_stopped(
        lgb.LGBMClassifier(**booster_params(seed)),
        train_x,
        split.train["success"],
        valid_x,
        split.valid["success"],
    )
    calibrator = calibrator_for(len(split.valid))
    calibrator.fit(success.predict_proba(valid_x)[:, 1], split.valid["success"].astype(float))

    rng = np.random.default_rng(seed)
    won_train = sample_rows(split.train["success"].to_numpy(), rng)
    won_valid = sample_rows(split.valid["success"].to_numpy(), rng)

    def settlement_share(frame: pd.DataFrame) -> np.ndarray:
        return (frame["final_allowed_amount"] / frame["billed_amount"]).to_numpy()

    def fit_settlement(**objective) -> lgb.LGBMRegressor:
        model = lgb.LGBMRegressor(**booster_params(seed, **objective))
        return _fit_early_stopped(
            model,
            train_x.iloc[won_train],
            settlement_share(split.train.iloc[won_train]),
            valid_x.iloc[won_valid],
            settlement_share(split.valid.iloc[won_valid]),
        )

    settlement_mean = fit_settlement(objective="regression")
    quantiles = {
        name: fit_settlement(objective="quantile", alpha=alpha) for name, alpha in SETTLEMENT_QUANTILES.items()
    }

    days_train = sample_rows(np.ones(len(train_x), bool), rng)
    days_valid = sample_rows(np.ones(len(valid_x), bool), rng)
    days = _fit_early_stopped(
        lgb.LGBMRegressor(**booster_params(seed, objective="poisson")),
        train_x.iloc[days_train],
        split.train["days_to_resolution"].iloc[days_train],
        valid_x.iloc[days_valid],
        split.valid["days_to_resolution"].iloc[days_valid],
    )
    return fitted_models(split, transformer, valid_x, won_valid, success, calibrator, settlement_mean, quantiles, days)


def fitted_models(
    split: Split,
    transformer: ClaimFeatures,
    valid_x: pd.DataFrame,
    won_valid: np.ndarray,
    success: lgb.LGBMClassifier,
    calibrator,
    settlement_mean: lgb.LGBMRegressor,
    quantiles: dict[str, lgb.LGBMRegressor],
    days: lgb.LGBMRegressor,
) -> OutcomeModels:
    """The outcome models with what the validation slice adds to the fitted trees (local and Dask fits
    alike): the payer x level offsets of the success probability and the interval's conformal margins."""
    valid = split.valid
    calibrated = np.clip(calibrator.predict(success.predict_proba(valid_x)[:, 1]), 0.0, 1.0)
    offsets = payer_level_offsets(valid_x, valid["success"].to_numpy(dtype=float), calibrated, transformer)
    unknown = np.clip(calibrator.predict(success.predict_proba(_as_unknown_payer(valid_x))[:, 1]), 0.0, 1.0)
    own_shift = offsets["table"][_payer_codes(valid_x, transformer), valid_x[LEVEL_FEATURE].to_numpy(dtype="int64")]
    known = 1.0 / (1.0 + np.exp(-(_logit(calibrated) + own_shift)))
    offsets |= {
        "unknown_payer_code": len(transformer.categories_[PAYER_CATEGORY]) - 2,
        "kinds": list(PAYER_KINDS),
        "kind_table": unknown_payer_shifts(valid_x, known, unknown, transformer),
    }
    won = valid.iloc[won_valid]
    share = (won["final_allowed_amount"] / won["billed_amount"]).to_numpy()
    margins = conformal_margins(quantiles, valid_x.iloc[won_valid], share, transformer)
    return OutcomeModels(success, calibrator, settlement_mean, quantiles, days, margins, offsets)
