"""The fitted outcome models and how they are read at scoring time.

- success: a LightGBM classifier over all levels, calibrated with isotonic regression on a newer slice;
- settlement: the final allowed amount given success, as a fraction of billed: a mean model (for the
  expected value the decision needs) and P10/P50/P90 quantile models (the interval);
- days: days to resolution.
Fitting lives in ``training``; this module only predicts, so serving never imports training code.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import lightgbm.basic as lgb_basic
import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.isotonic import IsotonicRegression

from models.compiled import compile_forests, default_cache_dir, is_cached

SETTLEMENT_QUANTILES = {"allowed_p10": 0.1, "allowed_p50": 0.5, "allowed_p90": 0.9}
MIN_GAIN_DOLLARS = 0.01
#: Probabilities are kept this far from 0 and 1 before a log-odds shift (which would map them to +-inf)
PROBABILITY_EDGE = 1e-6
#: Below this many rows a prediction runs on one thread: starting a thread team costs more than it saves.
SINGLE_THREAD_ROWS = 256
#: Up to this many path values (rows x trees x features), path contributions are summed from the gathered
#: table rows; beyond, through a sparse product that never holds them all. Both add in tree order.
DENSE_PATH_VALUES = 2_000_000
_thread_limit = {"threads": os.cpu_count() or 1}


def limit_predict_threads(threads: int) -> None:
    """Predict on at most ``threads`` threads in this process (one per worker when processes share CPUs)."""
    _thread_limit["threads"] = max(1, threads)


def predict_threads(rows: int) -> int:
    return 1 if rows < SINGLE_THREAD_ROWS else _thread_limit["threads"]


def model_matrix(features: pd.DataFrame, booster: lgb.Booster) -> np.ndarray:
    """``features`` as the float64 matrix LightGBM itself makes of a DataFrame (categories as their codes
    in the training vocabulary, unknown as NaN). Converting once lets six models and many ladder steps
    share one matrix instead of converting the frame on every call."""
    matrix = np.empty(features.shape, dtype="float64")
    trained_categories = iter(booster.pandas_categorical or [])
    for position, (_, values) in enumerate(features.items()):
        if isinstance(values.dtype, pd.CategoricalDtype):
            trained = next(trained_categories)
            if list(values.cat.categories) != list(trained):
                values = values.cat.set_categories(trained)
            codes = values.cat.codes.to_numpy()
            matrix[:, position] = np.where(codes < 0, np.nan, codes)
        else:
            matrix[:, position] = values.to_numpy(dtype="float64", na_value=np.nan)
    return matrix


@dataclass
class OutcomeModels:
    """The fitted outcome models. Derived state (``DERIVED``: the feature names and the success model's
    path tables) is built with the models and again on unpickling, never pickled; compiled forests belong
    to one process (``compile``)."""

    success: lgb.LGBMClassifier
    calibrator: IsotonicRegression
    settlement_mean: lgb.LGBMRegressor
    settlement_quantiles: dict[str, lgb.LGBMRegressor]
    days: lgb.LGBMRegressor
    #: conformal margins (share of billed) added to the interval's quantile models so that P10-P90 covers
    #: 80% of a held-out slice (``training.fit.conformal_margins``): ``known`` for a payer the models know,
    #: ``unknown`` for one they do not (its rows carry ``unknown_payer_code`` in column ``payer_column``:
    #: scored with the market, so a wider interval). Empty: the raw quantiles (older bundles).
    interval_margins: dict = field(default_factory=dict)
    #: each payer's recent behaviour at each level as a log-odds shift of the calibrated success
    #: probability (``training.fit.payer_level_offsets``): ``table`` (payer code x level), and the matrix
    #: columns of the payer and the level. Empty: no shift (older bundles). A payer the models never saw
    #: (code ``unknown_payer_code`` or above) takes its kind's row of ``kind_table`` instead
    #: (``training.fit.unknown_payer_shifts``; rows follow ``kinds``, the last is the market's); bundles
    #: trained before it keep the unknown category's row of ``table``.
    payer_offsets: dict = field(default_factory=dict)

    #: never pickled: rebuilt from the models (the first two), or made per process by ``compile`` (the
    #: next two); "_row_coding" is a cache older bundles carry
    DERIVED = ("_feature_names", "_path_table", "_forests", "_forests_dir", "_row_coding")

    def __post_init__(self) -> None:
        self._derive()

    def _derive(self) -> None:
        booster = self.success.booster_
        self.__dict__["_feature_names"] = booster.feature_name()
        table = path_tables(booster)
        # ``_leaf_indices`` sizes LightGBM's output buffer by this table's trees: they must be the trees the
        # leaf prediction walks, or LightGBM would write past the buffer
        walked = booster.predict(np.zeros((1, booster.num_feature())), pred_leaf=True).shape[1]
        if walked != len(table):
            raise ValueError(f"the success model's leaf prediction walks {walked} trees, its dump has {len(table)}")
        self.__dict__["_path_table"] = table

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({name: value for name, value in state.items() if name not in self.DERIVED})
        self.__dict__.setdefault("interval_margins", {})
        self.__dict__.setdefault("payer_offsets", {})
        self._derive()

    def matrix(self, features: pd.DataFrame) -> np.ndarray:
        """The feature matrix every outcome model predicts on (they share one training vocabulary)."""
        return model_matrix(features, self.success.booster_)

    def named(self) -> dict[str, lgb.LGBMModel]:
        """Every fitted model by name: success, settlement_mean, the quantile models, days."""
        return {
            "success": self.success,
            "settlement_mean": self.settlement_mean,
            **self.settlement_quantiles,
            "days": self.days,
        }

    def compile(self, cache_dir: Path | None = None, cancel: threading.Event | None = None) -> None:
        """Predict with compiled forests (``models.compiled``) from now on: same numbers, several times faster.
        Not pickled: a loaded copy predicts with LightGBM until it is compiled in its own process."""
        cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.__dict__["_forests"] = compile_forests(self._boosters(), cache_dir, cancel=cancel)
        self.__dict__["_forests_dir"] = cache_dir

    def is_cached(self, cache_dir: Path | None = None) -> bool:
        """Whether ``compile`` would only load object code from ``cache_dir`` (a second or so), not compile."""
        return is_cached(self._boosters(), cache_dir)

    def _boosters(self) -> dict[str, lgb.Booster]:
        return {name: model.booster_ for name, model in self.named().items()}

    @property
    def compiled_dir(self) -> Path | None:
        """Where this copy's compiled forests are cached; None when it predicts with LightGBM."""
        return self.__dict__.get("_forests_dir")

    def __getstate__(self) -> dict:
        return {name: value for name, value in self.__dict__.items() if name not in self.DERIVED}

    def _predict(self, name: str, matrix: np.ndarray, **options) -> np.ndarray:
        """Model ``name``'s prediction: compiled when compiled (plain predictions only), else LightGBM's."""
        threads = predict_threads(len(matrix))  # a small input on one thread: a thread team costs more
        forests = self.__dict__.get("_forests")
        if forests is not None and not options:
            return forests[name].predict(matrix, n_jobs=threads)
        # the booster directly: what the sklearn wrapper calls (best iteration), minus its per-call checks
        return self.named()[name].booster_.predict(matrix, num_threads=threads, **options)

    def calibrated(self, raw: np.ndarray) -> np.ndarray:
        """The isotonic calibration of raw success probabilities, clipped to [0, 1].

        ``IsotonicRegression.predict`` (clip to the fitted range, then linear interpolation between its
        thresholds) done with ``np.interp``, without sklearn's per-call input checks.
        """
        calibrator = self.calibrator
        thresholds = getattr(calibrator, "X_thresholds_", None)
        if thresholds is None or len(thresholds) < 2 or calibrator.out_of_bounds != "clip":
            return np.clip(calibrator.predict(raw), 0.0, 1.0)
        clipped = np.clip(np.asarray(raw, dtype="float64"), calibrator.X_min_, calibrator.X_max_)
        return np.clip(np.interp(clipped, thresholds, calibrator.y_thresholds_), 0.0, 1.0)

    def p_success(self, features: pd.DataFrame | np.ndarray, kinds: np.ndarray | None = None) -> np.ndarray:
        """Calibrated and shifted success probabilities; ``kinds`` as in ``shifted``."""
        matrix = self.matrix(features) if isinstance(features, pd.DataFrame) else features
        return self.shifted(self.calibrated(self._predict("success", matrix)), matrix, kinds)

    def kind_rows(self, kinds: Sequence[str]) -> np.ndarray:
        """Each payer kind's row of the unknown-payer shifts (``payer_offsets["kind_table"]``): the market's
        for a payer of no known kind, and for every payer in a bundle without the table."""
        names = self.payer_offsets.get("kinds", [])
        rows = {name: row for row, name in enumerate(names)}
        return np.array([rows.get(kind, len(names)) for kind in kinds], dtype="int64")

    def shifted(self, p: np.ndarray, matrix: np.ndarray, kinds: np.ndarray | None = None) -> np.ndarray:
        """``p`` moved by each row's payer x level offset (``payer_offsets``); unchanged without one. Rows of
        a payer the models never saw move by their kind's shift, ``kinds`` giving each row's ``kind_rows``
        (None: the market's)."""
        offsets = self.payer_offsets
        if not offsets:
            return p
        table = offsets["table"]
        # missing (NaN) as the table's last payer and as level 0; ``np.where`` rather than ``np.nan_to_num``,
        # whose checks cost more than the rest of the shift for a claim's rows (the columns are codes: finite)
        payer, level = matrix[:, offsets["payer_column"]], matrix[:, offsets["level_column"]]
        payer = np.where(np.isnan(payer), table.shape[0] - 1, payer).astype("int64")
        level = np.clip(np.where(np.isnan(level), 0.0, level), 0, table.shape[1] - 1).astype("int64")
        shift = table[np.clip(payer, 0, table.shape[0] - 1), level]
        kind_table = offsets.get("kind_table")
        unknown = payer >= offsets.get("unknown_payer_code", table.shape[0])
        if kind_table is not None and unknown.any():
            rows = np.full(len(p), len(kind_table) - 1) if kinds is None else kinds
            shift = np.where(unknown, kind_table[rows, np.minimum(level, kind_table.shape[1] - 1)], shift)
        clipped = np.clip(p, PROBABILITY_EDGE, 1 - PROBABILITY_EDGE)
        return 1.0 / (1.0 + np.exp(-(np.log(clipped / (1 - clipped)) + shift)))

    def predict(
        self,
        features: pd.DataFrame | np.ndarray,
        billed: np.ndarray,
        allowed_before: np.ndarray,
        index: pd.Index | None = None,
        kinds: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Per attempt: p_success, expected_allowed, allowed_p10/p50/p90 and expected_days.

        ``features`` is a transformed frame or its ``matrix``; ``kinds`` as in ``shifted`` (for history
        rows: ``RecoupBundle.predict_attempts``). Amounts given success are kept strictly above the allowed
        amount before the attempt (success means it rose) and at most billed; the quantiles are sorted so
        the interval never crosses.
        """
        if isinstance(features, pd.DataFrame):
            index = features.index
            features = self.matrix(features)
        quantiles = tuple(self.settlement_quantiles)
        result = self.predict_steps(features, billed, allowed_before, quantiles, kinds=kinds)
        order = ["p_success", "expected_allowed", *self.settlement_quantiles, "expected_days"]
        return pd.DataFrame({name: result[name] for name in order}, index=index)

    def predict_steps(
        self,
        matrix: np.ndarray,
        billed: np.ndarray,
        allowed_before: np.ndarray,
        quantiles: tuple[str, ...] = (),
        interval_rows: int | None = None,
        kinds: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """What scoring needs, as arrays: p_success, expected_allowed, expected_days for every row, and the
        named ``quantiles`` (of ``SETTLEMENT_QUANTILES``) for the first ``interval_rows`` rows (default all)
        only; the other quantile models and rows are not evaluated.

        ``expected_allowed`` is the mean model's amount between the allowed amount before (plus a cent) and
        billed, and, where the quantiles are evaluated, within their range (with all three: exactly
        ``predict``'s value). ``kinds``: each row's ``kind_rows``, for rows of payers the models never saw.
        Scoring asks for P10 and P90 only: where the median model crosses one of them
        (no claim of the test slice measured), its interval and clipped mean differ from ``predict``'s.
        """
        floor = allowed_before + MIN_GAIN_DOLLARS
        ceiling = np.maximum(billed, floor)

        def dollars(name: str, rows: slice = slice(None)) -> np.ndarray:
            share = self._predict(name, matrix[rows]) + self._margin(name, matrix[rows])
            return np.clip(share * billed[rows], floor[rows], ceiling[rows])

        expected = dollars("settlement_mean")
        result = {"p_success": self.p_success(matrix, kinds)}
        names = [name for name in self.settlement_quantiles if name in quantiles]
        head = slice(0, len(matrix) if interval_rows is None else interval_rows)
        if names:
            values = (
                np.sort(np.column_stack([dollars(name, head) for name in names]), axis=1)
                if head.stop
                else np.empty((0, len(names)))
            )
            expected[head] = np.clip(expected[head], values[:, 0], values[:, -1])
            result.update(dict(zip(names, values.T, strict=True)))
        result["expected_allowed"] = expected
        result["expected_days"] = np.maximum(self._predict("days", matrix), 1.0)
        return result

    def _margin(self, name: str, matrix: np.ndarray) -> np.ndarray | float:
        """The conformal margin of quantile model ``name`` for each row: the unknown-payer one for a payer
        outside the training vocabulary, else the known one; 0 for a model without margins."""
        margins = self.interval_margins
        if name not in margins.get("known", {}):
            return 0.0
        unknown = matrix[:, margins["payer_column"]] == margins["unknown_payer_code"]
        return np.where(unknown, margins["unknown"][name], margins["known"][name])

    @property
    def feature_names(self) -> list[str]:
        """The models' feature names, in matrix column order."""
        return self.__dict__["_feature_names"]  # derived: the booster builds the list anew on every call

    def success_contributions(self, features: pd.DataFrame | np.ndarray, method: str = "shap") -> np.ndarray:
        """Per-feature contributions (log-odds) of the success model, for explanations: one row per claim,
        one column per ``feature_names``.

        ``method`` "shap": exact TreeSHAP (LightGBM's ``pred_contrib``); "path": each split on the row's path
        credits its feature with the change in the node's expected value (Saabas): also sums to the raw
        score, at the cost of one leaf lookup per tree instead of TreeSHAP's work per leaf and depth.
        """
        matrix = self.matrix(features) if isinstance(features, pd.DataFrame) else features
        if method == "path":
            return self._path_contributions(matrix)
        if method == "shap":
            return self._predict("success", matrix, pred_contrib=True)[:, :-1]
        raise ValueError(f"unknown contribution method {method!r}")

    def _path_contributions(self, matrix: np.ndarray) -> np.ndarray:
        tables = self._path_tables()
        leaves = _leaf_indices(self.success.booster_, matrix, len(tables))
        trees, most_leaves, features = tables.shape
        table = tables.reshape(trees * most_leaves, features)
        columns = leaves + np.arange(trees) * most_leaves  # each row's leaves, as rows of ``table``
        if columns.size * features <= DENSE_PATH_VALUES:
            return table[columns].sum(axis=1)
        # the sum of each row's table rows is that row's one-hot over (tree, leaf) times the table
        rows = sparse.csr_matrix(
            (np.ones(columns.size), columns.ravel(), np.arange(0, columns.size + 1, trees)),
            shape=(len(matrix), trees * most_leaves),
        )
        return np.asarray(rows @ table)

    def _path_tables(self) -> np.ndarray:
        """(trees, leaves, features): what each split on the way to each leaf adds, by the split's feature.
        Derived from the booster's dump (the trees ``predict`` uses: the best iteration) with the models."""
        return self.__dict__["_path_table"]


def _leaf_indices(booster: lgb.Booster, matrix: np.ndarray, trees: int) -> np.ndarray:
    """``booster.predict(matrix, pred_leaf=True)`` (the leaf of each row in each of the ``trees`` trees of
    the best iteration) as int64, by LightGBM's C API directly: ``Booster.predict`` makes a predictor and
    checks its input anew on every call, which costs three times the prediction for a claim's few rows."""
    rows = np.ascontiguousarray(matrix, dtype="float64")
    if not len(rows):
        return np.empty((0, trees), dtype="int64")
    leaves = np.empty(len(rows) * trees, dtype="float64")
    written = ctypes.c_int64(0)
    best = booster.best_iteration
    lgb_basic._safe_call(
        lgb_basic._LIB.LGBM_BoosterPredictForMat(
            booster._handle,
            rows.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            ctypes.c_int(lgb_basic._C_API_DTYPE_FLOAT64),
            ctypes.c_int32(rows.shape[0]),
            ctypes.c_int32(rows.shape[1]),
            ctypes.c_int(lgb_basic._C_API_IS_ROW_MAJOR),
            ctypes.c_int(lgb_basic._C_API_PREDICT_LEAF_INDEX),
            ctypes.c_int(0),
            ctypes.c_int(best if best > 0 else -1),
            lgb_basic._c_str(f"num_threads={predict_threads(len(rows))}"),
            ctypes.byref(written),
            leaves.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        )
    )
    if written.value != len(leaves):
        raise ValueError(f"LightGBM gave {written.value} leaf indices for {len(rows)} rows of {trees} trees")
    return leaves.astype("int64").reshape(len(rows), trees)


def path_tables(booster: lgb.Booster) -> np.ndarray:
    dump = booster.dump_model()
    features = len(dump["feature_names"])
    trees = dump["tree_info"]
    tables = np.zeros((len(trees), max(tree["num_leaves"] for tree in trees), features))
    for position, tree in enumerate(trees):
        stack = [(tree["tree_structure"], np.zeros(features))]
        while stack:
            node, credit = stack.pop()
            if "leaf_index" in node or "split_index" not in node:
                tables[position, node.get("leaf_index", 0)] = credit
                continue
            for side in ("left_child", "right_child"):
                child = node[side]
                value = child["leaf_value"] if "split_index" not in child else child["internal_value"]
                step = credit.copy()
                step[node["split_feature"]] += value - node["internal_value"]
                stack.append((child, step))
    return tables
