"""The model bundle: transformer, outcome models, ladder policy and payer profiles, scored as one.

``RecoupBundle.score_columns`` is the whole scoring rule: typed claim columns in (``features.columns``),
a structured ``models.result.ScoreResult`` out. The house reads one way: typed columns -> features (one
kernel, ``ClaimFeatures.features``) -> models -> decision -> structured result. The frame path
(``score``), single claims (``score_claims``), the worklist, Dask, the HTTP service and the MLflow pyfunc
are adapters onto it, so every interface gives the same answer for the same claim.

Fitted state is built with the bundle (``__post_init__``) and again when a bundle is unpickled, never at
a first score: the step table and its check, the payer attempt counts, the transformer's lookup tables.
One pickling policy everywhere: derived state (each class's ``DERIVED``) is never pickled and is rebuilt
on load. ``BUNDLE_FORMAT`` numbers the pickled layout; ``_migrate`` brings older bundles to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.columns import TEXT_COLUMNS, ClaimColumns, claim_columns, claim_columns_of
from features.payer_kinds import payer_kinds
from features.schema import ESCALATION_LEVELS, LEVEL_NAMES, Level
from features.transformer import CATEGORICAL_SOURCES, FLAG_SOURCES, MISSING_CATEGORY, ClaimFeatures
from models.decision import (
    ACCEPT,
    LEVEL_NUMBERS,
    Decision,
    PairLayout,
    StepEligibility,
    StepGrid,
    decide,
    pair_layout,
    step_eligibility,
    step_pairs,
)
from models.estimators import OutcomeModels
from models.explain import top_reasons
from models.ladder import IDR_BATCH_ID, IDR_BATCH_SIZE, LadderClaims, LadderPolicy
from models.result import LEVEL_COLUMNS, LEVEL_FIELD_NAMES, SEPARATOR, ScoreResult, output_columns

__all__ = ["LEVEL_COLUMNS", "LEVEL_FIELD_NAMES", "SEPARATOR", "PayerProfiles", "RecoupBundle", "output_columns"]

#: The pickled layout. 1: bundles from before the number (lazy caches pickled beside the fields, no
#: ``reason_method`` in the oldest); 2: fields only, derived state rebuilt on load; 3: the payer offsets may
#: carry the shifts of payers the models never saw, by payer kind (``OutcomeModels.payer_offsets``), which
#: code reading format 2 would ignore (it would score those payers otherwise). A format-2 bundle has none
#: and scores an unknown payer as before.
BUNDLE_FORMAT = 3
#: The settlement quantiles predicted for the ladder a claim is shown (its steps from its current level);
#: the steps after a failure only feed the recursion, which reads none of them. The median model is
#: trained and evaluated but not served: the output shows the interval, and the decision the mean.
SHOWN_QUANTILES = ("allowed_p10", "allowed_p90")
#: The steps after a failure get no interval, so their expected amount is not clipped into one: it moves
#: the net values of the rare step whose mean model falls outside its quantiles (1 claim in 4,000 measured).
#: Reason attribution: ``RecoupBundle.reason_method`` ("path" Saabas, the training default, or "shap" exact
#: TreeSHAP, ~45x dearer). On 20,000 claims the two agree on the top reason for 76% of claims, on its
#: direction for all, and share 78% of the top three.
REASON_METHODS = ("shap", "path")
_LEVEL_NAMES = np.array(LEVEL_NAMES, dtype=object)
_LEVEL_NUMBER = {level.name: int(level) for level in Level}


@dataclass
class PayerProfiles:
    """What the history says about each payer: ``summary`` per payer, ``by_level`` per payer and level,
    ``by_family`` per payer and code family (None in bundles trained before it was kept)."""

    summary: pd.DataFrame
    by_level: pd.DataFrame
    by_family: pd.DataFrame | None = None

    #: never pickled: attempts by (payer, level) as a plain dict; "_counts" is an older cache (a Series)
    DERIVED = ("_attempt_counts", "_counts")

    def __post_init__(self) -> None:
        self._derive()

    def _derive(self) -> None:
        table = self.by_level
        self.__dict__["_attempt_counts"] = dict(
            zip(
                zip(table["payer_id"].astype(str), table["level"].astype(str), strict=True),
                table["attempts"].astype(float),
                strict=True,
            )
        )

    def __getstate__(self) -> dict:
        return {name: value for name, value in self.__dict__.items() if name not in self.DERIVED}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({name: value for name, value in state.items() if name not in self.DERIVED})
        self._derive()

    def attempts(self, payer_ids: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Historical resolved attempts for each (payer, level); 0 where the payer never tried it."""
        counts = self.__dict__["_attempt_counts"]
        return np.array(
            [counts.get((payer, level), 0.0) for payer, level in zip(payer_ids, levels, strict=True)], dtype="float64"
        )


@dataclass
class RecoupBundle:
    transformer: ClaimFeatures
    models: OutcomeModels
    policy: LadderPolicy
    profiles: PayerProfiles
    metadata: dict = field(default_factory=dict)
    thin_data_attempts: int = 30
    # one of REASON_METHODS, fixed per model so every interface agrees; bundles pickled before the field
    # existed used exact TreeSHAP
    reason_method: str = "shap"
    format_version: int = BUNDLE_FORMAT

    #: never pickled: (step columns, their values for each ``step_pairs`` a batch can need, stacked by
    #: pair), built with the bundle
    DERIVED = ("_step_table",)

    def __post_init__(self) -> None:
        self._derive()

    def __getstate__(self) -> dict:
        return {name: value for name, value in self.__dict__.items() if name not in self.DERIVED}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(_migrate(dict(state)))
        self._derive()

    def _derive(self) -> None:
        """Check that the models and the transformer agree, and build the step table."""
        trained = [list(categories) for categories in (self.models.success.booster_.pandas_categorical or [])]
        if trained and trained != [self.transformer.categories_[name] for name in CATEGORICAL_SOURCES]:
            raise ValueError("the outcome models were trained on other categories than the transformer's")
        columns, values = self._step_table()
        stacked = {}
        for lowest in range(int(Level.legal)):  # a batch's pairs depend only on its lowest current level
            pairs = step_pairs(np.array([lowest]))
            stacked[pairs] = np.stack([values[pair] for pair in pairs])
            stacked[pairs].flags.writeable = False  # shared by every score
        self.__dict__["_step_table"] = (columns, stacked)

    def score_columns(self, claims: ClaimColumns, policy: LadderPolicy | None = None) -> ScoreResult:
        """The structured answer for validated claims given as typed columns (``features.columns``)."""
        policy = policy or self.policy
        ladder = LadderClaims(
            claims["current_level"],
            claims["current_allowed_amount"],
            claims["billed_amount"],
            claims["nsa_eligible"].astype(bool),
            *(claims[name].astype("datetime64[D]") for name in ("as_of_date", "initial_payment_date")),
            claims["current_level_date"].astype("datetime64[D]"),
            claims["state"],
            claims.get(IDR_BATCH_SIZE),
        )
        base = self.transformer.matrix(_attempts(claims, 0, Level.reconsideration))
        layout = pair_layout(step_pairs(ladder.current_level))
        eligible = step_eligibility(ladder, layout, policy)
        payers = _Payers.of(claims["payer_id"], self)
        steps = self._estimate(ladder, base, layout, eligible, payers.kind_rows)
        decision = decide(ladder, steps.grid, policy, eligible)
        return self._result(ladder.current_level, decision, steps, claims, payers)

    def predict_attempts(self, attempts: pd.DataFrame, features: pd.DataFrame | None = None) -> pd.DataFrame:
        """The models' estimates for history rows (``OutcomeModels.predict``; ``features``: their
        ``transform``, when already made), a payer the models never saw shifted by its kind as scoring
        shifts it: evaluation, promotion and retraining judge what is served."""
        features = self.transformer.transform(attempts) if features is None else features
        payers = _Payers.of(attempts["payer_id"].to_numpy(dtype=object), self)
        billed, allowed = attempts["billed_amount"].to_numpy(), attempts["allowed_before"].to_numpy()
        return self.models.predict(features, billed, allowed, kinds=payers.kind_rows)

    def score(self, claims: pd.DataFrame, policy: LadderPolicy | None = None) -> pd.DataFrame:
        """The frame adapter: flat scoring output (``output_columns()``) for a validated claims frame, same
        index."""
        return pd.DataFrame(self.score_columns(claim_columns(claims), policy).columns(), index=claims.index)

    def score_claims(self, claims: Sequence[Mapping[str, Any]], policy: LadderPolicy | None = None) -> ScoreResult:
        """The single-claim adapter: claims given as plain values (``features.requests.typed_claim``),
        scored together, without a DataFrame."""
        return self.score_columns(claim_columns_of(claims), policy)

    def _estimate(
        self,
        ladder: LadderClaims,
        base: np.ndarray,
        layout: PairLayout,
        eligible: StepEligibility,
        kinds: np.ndarray | None = None,
    ) -> _StepPredictions:
        """Model estimates for every (from_level, target) step the decision needs, and no more.

        A claim's features differ between steps only in the step's level columns, so the claim features
        are built once (``base``) and only those columns are overwritten per step. Steps from the claim's
        own level (the ladder it is shown) get every number, the interval included; steps from a later
        level only feed the recursion, so they get p_success, expected_allowed and expected_days, and only
        where the recursion can use them (the step is eligible from that level).
        """
        current, billed, allowed = ladder.current_level, ladder.billed, ladder.current_allowed
        pairs = step_pairs(current)
        starts = layout.starts[:, None]
        step_columns, step_values = self._step_features(pairs)
        # (pair, claim) positions, the shown steps first: the interval is predicted for those rows only
        shown = np.nonzero(starts == current)
        later = np.nonzero((current < starts) & eligible.steps)
        pair_of_row, rows = (np.concatenate(parts) for parts in zip(shown, later, strict=True))
        matrix = base[rows]
        matrix[:, step_columns] = step_values[pair_of_row]
        predicted = self.models.predict_steps(
            matrix,
            billed[rows],
            allowed[rows],
            SHOWN_QUANTILES,
            interval_rows=len(shown[0]),
            kinds=None if kinds is None else kinds[rows],
        )
        del matrix
        values = {}
        for name, predictions in predicted.items():
            grid = np.full((len(pairs), len(ladder)), np.nan)  # NaN: a step the claim cannot take or is not shown
            grid[pair_of_row[: len(predictions)], rows[: len(predictions)]] = predictions
            values[name] = grid
        return _StepPredictions(pairs, values, base, step_columns, step_values)

    def _step_features(self, pairs: tuple[tuple[int, Level], ...]) -> tuple[np.ndarray, np.ndarray]:
        """Which feature columns depend on the step, and their values for each of ``pairs``."""
        columns, stacked = self.__dict__["_step_table"]
        return columns, stacked[pairs]

    def _step_table(self) -> tuple[np.ndarray, dict[tuple[int, Level], np.ndarray]]:
        """The step columns and their values at every step, found by transforming two unlike claims at
        every step, so the transformer stays the only place that knows how a step becomes features. The
        two must agree on those columns, else a feature depends on the claim and the step together and
        cannot be shared between steps."""
        every_pair = step_pairs(np.zeros(1, dtype="int64"))
        first, last = (
            np.vstack([self.transformer.matrix(_attempts(claim, start, target)) for start, target in every_pair])
            for claim in _probe_claims(self.transformer)
        )
        same = (first == first[:1]) | (np.isnan(first) & np.isnan(first[:1]))
        varying = np.flatnonzero(~same.all(axis=0))
        if not np.array_equal(first[:, varying], last[:, varying], equal_nan=True):
            raise ValueError("a feature depends on both the claim and the ladder step")
        return varying, dict(zip(every_pair, first[:, varying], strict=True))

    def _result(
        self,
        current: np.ndarray,
        decision: Decision,
        steps: _StepPredictions,
        claims: ClaimColumns,
        payers: _Payers,
    ) -> ScoreResult:
        """The structured result. Per-level fields come from the step predictions or, by the field's name,
        from the ``Decision`` (a dict by level): a field the decision carries needs only its declaration in
        ``models.result``. A per-claim field goes into ``claim`` under its declared name."""
        # each level's numbers from each claim's own current level (NaN where it is at or beyond it)
        own = steps.pair_index(current, LEVEL_NUMBERS[:, None])
        rows = np.arange(len(current))
        levels = {
            name: np.where(own >= 0, steps.values[name][own, rows], np.nan).T
            for name in ("p_success", "expected_allowed", "allowed_p10", "allowed_p90", "expected_days")
        }
        for name in LEVEL_FIELD_NAMES:  # the rest are the decision's, by level
            if name not in levels:
                levels[name] = _by_level(getattr(decision, name))
        explained = self._explained_level(decision)
        batch_id = claims.get(IDR_BATCH_ID)
        if batch_id is None:  # scored alone (not by a worklist that batches IDR disputes)
            batch_id = np.full(len(current), "", dtype=object)
        return ScoreResult(
            claim={
                "recommended_action": decision.action,
                "expected_net_recovery": decision.expected_net_recovery,
                IDR_BATCH_ID: batch_id,
            },
            levels=levels,
            path=decision.path,
            reasons=self._reasons(current, explained, steps),
            warnings=self._warnings(claims, explained, steps.base, payers),
        )

    @staticmethod
    def _explained_level(decision: Decision) -> np.ndarray:
        """The recommended level, or for ``accept`` the best-valued eligible level (why it falls short)."""
        values = _by_level(decision.net_value)
        best = _LEVEL_NAMES[LEVEL_NUMBERS[np.argmax(np.where(np.isnan(values), -np.inf, values), axis=1)]]
        return np.where(decision.action == ACCEPT, best, decision.action)

    def _reasons(self, current: np.ndarray, levels: np.ndarray, steps: _StepPredictions) -> list[list[str]]:
        """Plain-word reasons from the success model's contributions, for each claim's explained step only."""
        reasons: list[list[str]] = [[] for _ in range(len(current))]
        targets = np.array([_LEVEL_NUMBER[level] for level in levels.tolist()], dtype="int64")
        explainable = np.flatnonzero(targets > current)
        if len(explainable):
            pair = steps.pair_index(current[explainable], targets[explainable])
            matrix = steps.base[explainable]
            matrix[:, steps.step_columns] = steps.step_values[pair]
            contributions = self.models.success_contributions(matrix, self.reason_method)
            explained = top_reasons(
                contributions, self.models.feature_names, levels[explainable], matrix, self.transformer.categories_
            )
            for position, sentences in zip(explainable.tolist(), explained, strict=True):
                reasons[position] = sentences
        return reasons

    def _warnings(self, claims: ClaimColumns, levels: np.ndarray, base: np.ndarray, payers: _Payers) -> list[list[str]]:
        """Unknown payer (scored like the known payers of its kind where the models know kinds) or code, and
        thin data with the payer at the explained level (``base`` holds the transformer's Medicare price of
        each claim)."""
        payer_ids, cpt_codes = claims["payer_id"], claims["cpt_code"]
        known_payer = payers.known
        by_kind = "kind_table" in self.models.payer_offsets
        kinds = [""] * len(known_payer) if payers.kinds is None else payers.kinds.tolist()
        payer_notes = [
            ""
            if payer_known
            else f"unknown payer: scored like the known {kind} payers, with a wider interval"
            if by_kind and kind
            else "unknown payer: scored with the market-wide behaviour"
            for payer_known, kind in zip(known_payer.tolist(), kinds, strict=True)
        ]
        known_code = self.transformer.known_values(cpt_codes, "cpt_code")
        priced = ~np.isnan(base[:, self.transformer.feature_names_out_.index("log_medicare")])
        attempts = self.profiles.attempts(payer_ids, levels)
        thin = known_payer & (attempts < self.thin_data_attempts)
        code_notes = np.where(
            priced,
            np.where(known_code, "", "service code rare in the history: scored with similar services"),
            "unknown service code: no Medicare benchmark",
        )
        # one pass over the rows in Python: cheaper than joining object arrays note by note, at any size
        return [
            [
                note
                for note in (
                    payer_note,
                    code_note,
                    f"thin data: {count} past attempts with this payer at {level.replace('_', ' ')}" if is_thin else "",
                )
                if note
            ]
            for payer_note, code_note, is_thin, count, level in zip(
                payer_notes,
                code_notes.tolist(),
                thin.tolist(),
                attempts.astype("int64").tolist(),
                levels.tolist(),
                strict=True,
            )
        ]


@dataclass(frozen=True)
class _Payers:
    """Whether the models know each claim's payer and, when some payer is unknown to them, each claim's payer
    kind (``features.payer_kinds``; "" when none is known) and its row of the unknown-payer shifts
    (``OutcomeModels.kind_rows``): a batch of known payers looks up no kind."""

    known: np.ndarray
    kinds: np.ndarray | None
    kind_rows: np.ndarray | None

    @classmethod
    def of(cls, payer_ids: np.ndarray, bundle: RecoupBundle) -> _Payers:
        known = bundle.transformer.known_values(payer_ids, "payer_id")
        if known.all():
            return cls(known, None, None)
        kinds = payer_kinds(pd.Series(payer_ids, dtype=object)).to_numpy(dtype=object)
        return cls(known, kinds, bundle.models.kind_rows(kinds))


@dataclass
class _StepPredictions:
    """Model predictions for every (from_level, target) pair, and what is needed to rebuild a step's features.

    ``values[name]`` is a (pairs, claims) grid, NaN where a claim is already beyond the pair's from_level.
    """

    pairs: tuple[tuple[int, Level], ...]
    values: dict[str, np.ndarray]
    base: np.ndarray  # claim features (model matrix) with placeholder step columns
    step_columns: np.ndarray
    step_values: np.ndarray  # (pairs, step columns)

    def __post_init__(self) -> None:
        self.grid = StepGrid(
            self.pairs, self.values["p_success"], self.values["expected_allowed"], self.values["expected_days"]
        )

    def pair_index(self, start: np.ndarray, target: np.ndarray | int) -> np.ndarray:
        """Position in ``pairs`` of each (start, target); -1 where the pair was not predicted."""
        return self.grid.layout.position[start, target]


def _by_level(by_level: Mapping[Level, np.ndarray]) -> np.ndarray:
    """A decision field (an array of claims per level) as one (claims, levels) array, levels in ladder
    order (``np.array`` of the rows: a third of ``np.column_stack``'s cost, ten times per score)."""
    return np.array([by_level[level] for level in ESCALATION_LEVELS]).T


def _attempts(claims: Mapping[str, np.ndarray], start: int, target: Level) -> dict[str, np.ndarray]:
    """The claims' attempt of ``target`` from level ``start``, made on their as-of date: the transformer's
    input columns."""
    n = len(claims["billed_amount"])
    return {
        **claims,
        "level": np.full(n, int(target), dtype="int64"),
        "prior_level": np.full(n, start, dtype="int64"),
        "allowed_before": claims["current_allowed_amount"],
        "attempt_date": claims["as_of_date"],
    }


def _probe_claims(transformer: ClaimFeatures) -> list[ClaimColumns]:
    """Two claims unlike in every input (amounts, dates, flags and categories), for ``_step_table``."""

    def category(name: str, position: int) -> str | None:
        known = transformer.categories_[name][:-2]
        return known[position] if known else (MISSING_CATEGORY if position == 0 else None)

    claims = []
    for position, (billed, allowed, initial, units, flag, service, paid, as_of) in enumerate(
        (
            (1_000.0, 250.0, 200.0, 1.0, 0.0, "2025-01-10", "2025-02-01", "2025-03-01"),
            (7_500.0, 0.0, 0.0, 3.0, 1.0, "2024-06-03", "2024-08-20", "2025-01-15"),
        )
    ):
        claim: dict[str, Any] = {
            "billed_amount": billed,
            "qpa_amount": billed * 0.4,
            "initial_allowed_amount": initial,
            "current_allowed_amount": allowed,
            "units": units,
            **{name: flag for name in FLAG_SOURCES},
            "current_level": 0,
            "service_date": np.datetime64(service),
            "initial_payment_date": np.datetime64(paid),
            "current_level_date": None,
            "as_of_date": np.datetime64(as_of),
            "carc_codes": ("CO-45", "CO-50, PR-2")[position],
        }
        for name in TEXT_COLUMNS:
            if name != "carc_codes":
                claim[name] = category(name, -position)
        claims.append(claim_columns_of([claim]))
    return claims


def _migrate(state: dict) -> dict:
    """A pickled bundle's fields in the current ``BUNDLE_FORMAT``."""
    version = state.get("format_version", 1)
    if version > BUNDLE_FORMAT:
        raise ValueError(f"bundle format {version} is newer than this code reads ({BUNDLE_FORMAT}): upgrade recoup")
    if version == 1:
        state = {name: value for name, value in state.items() if name not in RecoupBundle.DERIVED}
        state.setdefault("reason_method", "shap")  # the oldest bundles predate the field: exact TreeSHAP
        state.setdefault("thin_data_attempts", 30)
        state.setdefault("metadata", {})
    state["format_version"] = BUNDLE_FORMAT
    return state
