"""The model bundle: transformer, outcome models, ladder policy and payer profiles, scored as one.

``RecoupBundle.score`` is the whole scoring rule. The MLflow pyfunc, the HTTP service and the worklist
scorer all call it, so every interface gives the same answer for the same claim.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.schema import ESCALATION_LEVELS, LEVEL_NAMES, Level
from features.transformer import ClaimFeatures
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
from models.ladder import LadderClaims, LadderPolicy

LEVEL_FIELDS = (
    "eligible",
    "ineligible_reason",
    "p_success",
    "expected_allowed",
    "allowed_p10",
    "allowed_p90",
    "expected_days",
    "expected_recovery",
    "cost",
    "net_value",
)
SEPARATOR = "; "
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


ATTEMPT_COUNTS = "_attempt_counts"  # PayerProfiles' cache: attempts by (payer, level), a plain dict


#: Each level field's output columns, one per level in ladder order
LEVEL_COLUMNS = {name: [f"{name}_{level.name}" for level in ESCALATION_LEVELS] for name in LEVEL_FIELDS}
_OUTPUT_COLUMNS = (
    "recommended_action",
    "expected_net_recovery",
    "path",
    *(LEVEL_COLUMNS[name][position] for position in range(len(ESCALATION_LEVELS)) for name in LEVEL_FIELDS),
    "reasons",
    "warnings",
)
_LEVEL_NAMES = np.array(LEVEL_NAMES, dtype=object)
_LEVEL_NUMBER = {level.name: int(level) for level in Level}


def output_columns() -> list[str]:
    """The flat scoring output, in order: the decision, then each level's numbers."""
    return list(_OUTPUT_COLUMNS)


@dataclass
class PayerProfiles:
    """What the history says about each payer: ``summary`` per payer, ``by_level`` per payer and level."""

    summary: pd.DataFrame
    by_level: pd.DataFrame

    def __getstate__(self) -> dict:
        # caches are made again after loading; "_counts" is an older cache, a pandas Series, that bundles
        # logged before this one carry
        return {name: value for name, value in self.__dict__.items() if name not in (ATTEMPT_COUNTS, "_counts")}

    def attempts(self, payer_ids: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Historical resolved attempts for each (payer, level); 0 where the payer never tried it."""
        if ATTEMPT_COUNTS not in self.__dict__:  # a cache, not a field (``__getstate__`` leaves it out)
            table = self.by_level
            self.__dict__[ATTEMPT_COUNTS] = dict(
                zip(
                    zip(table["payer_id"].astype(str), table["level"].astype(str), strict=True),
                    table["attempts"].astype(float),
                    strict=True,
                )
            )
        counts = self.__dict__[ATTEMPT_COUNTS]
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

    def score(self, claims: pd.DataFrame, policy: LadderPolicy | None = None) -> pd.DataFrame:
        """Flat scoring output (``output_columns()``) for validated scoring requests, same index."""
        claims = claims.copy()
        claims["current_level"] = claims["current_level"].astype("int64")
        base = self.models.matrix(self.transformer.transform(self._attempt_frame(claims, 0, Level.reconsideration)))
        columns = self._score_arrays(
            LadderClaims.of(claims), base, _WarningInputs.of(claims), policy or self.policy, claims
        )
        return pd.DataFrame(columns, index=claims.index)[output_columns()]

    def score_one(self, claim: Mapping[str, Any], policy: LadderPolicy | None = None) -> dict[str, Any]:
        """``score`` of one validated claim given as plain values (``features.requests.typed_claim``), as
        one output row, without a DataFrame: the single-claim path (tests hold it equal to ``score``)."""
        level = int(claim["current_level"])
        ladder = LadderClaims(
            np.array([level]),
            np.array([float(claim["current_allowed_amount"])]),
            np.array([float(claim["billed_amount"])]),
            np.array([bool(claim["nsa_eligible"])]),
            *(
                np.array([claim[name]], dtype="datetime64[D]")
                for name in ("as_of_date", "initial_payment_date", "current_level_date")
            ),
        )
        attempt = {
            **claim,
            "level": int(Level.reconsideration),
            "prior_level": 0,
            "allowed_before": claim["current_allowed_amount"],
            "attempt_date": claim["as_of_date"],
        }
        base = self.models.row(self.transformer.transform_one(attempt))[None, :]
        warning_inputs = _WarningInputs(
            np.array([claim["payer_id"]], dtype=object), np.array([claim["cpt_code"]], dtype=object)
        )
        columns = self._score_arrays(ladder, base, warning_inputs, policy or self.policy, lambda: pd.DataFrame([claim]))
        return {name: columns[name][0] for name in _OUTPUT_COLUMNS}

    def _score_arrays(
        self,
        ladder: LadderClaims,
        base: np.ndarray,
        warning_inputs: _WarningInputs,
        policy: LadderPolicy,
        probe: pd.DataFrame | Callable[[], pd.DataFrame],
    ) -> dict[str, np.ndarray]:
        """The output columns as arrays, from the claims' ladder inputs and features (``base``: the model
        matrix at a placeholder step); ``probe`` (claims, or how to make them) feeds ``_step_features``."""
        layout = pair_layout(step_pairs(ladder.current_level))
        eligible = step_eligibility(ladder, layout, policy)
        steps = self._estimate(ladder, base, layout, eligible, probe)
        decision = decide(ladder, steps.grid, policy, eligible)
        return self._flatten(ladder.current_level, decision, steps, warning_inputs)

    def _estimate(
        self,
        ladder: LadderClaims,
        base: np.ndarray,
        layout: PairLayout,
        eligible: StepEligibility,
        probe: pd.DataFrame | Callable[[], pd.DataFrame],
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
        step_columns, step_values = self._step_features(probe, pairs)
        # (pair, claim) positions, the shown steps first: the interval is predicted for those rows only
        shown = np.nonzero(starts == current)
        later = np.nonzero((current < starts) & eligible.steps)
        pair_of_row, rows = (np.concatenate(parts) for parts in zip(shown, later, strict=True))
        matrix = base[rows]
        matrix[:, step_columns] = step_values[pair_of_row]
        predicted = self.models.predict_steps(
            matrix, billed[rows], allowed[rows], SHOWN_QUANTILES, interval_rows=len(shown[0])
        )
        del matrix
        values = {}
        for name, predictions in predicted.items():
            grid = np.full((len(pairs), len(ladder)), np.nan)  # NaN: a step the claim cannot take or is not shown
            grid[pair_of_row[: len(predictions)], rows[: len(predictions)]] = predictions
            values[name] = grid
        return _StepPredictions(pairs, values, base, step_columns, step_values)

    def _step_features(
        self, probe: pd.DataFrame | Callable[[], pd.DataFrame], pairs: tuple[tuple[int, Level], ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which feature columns depend on the step, and their values for each of ``pairs``.

        Found once per bundle by transforming two claims at every step, so the transformer stays the only
        place that knows how a step becomes features. The two must agree, else a feature depends on the
        claim and the step together and cannot be shared between steps.
        """
        if "_step_table" not in self.__dict__:  # a cache, not a field: bundles pickled before it lack it
            claims = probe if isinstance(probe, pd.DataFrame) else probe()
            every_pair = step_pairs(np.zeros(1, dtype="int64"))
            probes = []
            for claim in (claims.iloc[:1], claims.iloc[-1:]):
                frame = pd.concat(
                    [self._attempt_frame(claim, start, target) for start, target in every_pair], ignore_index=True
                )
                probes.append(self.models.matrix(self.transformer.transform(frame)))
            first, last = probes
            same = (first == first[:1]) | (np.isnan(first) & np.isnan(first[:1]))
            varying = np.flatnonzero(~same.all(axis=0))
            if not np.array_equal(first[:, varying], last[:, varying], equal_nan=True):
                raise AssertionError("a feature depends on both the claim and the ladder step")
            self.__dict__["_step_table"] = (varying, dict(zip(every_pair, first[:, varying], strict=True)))
        columns, values = self.__dict__["_step_table"]
        return columns, np.stack([values[pair] for pair in pairs])

    @staticmethod
    def _attempt_frame(claims: pd.DataFrame, start: int, target: Level) -> pd.DataFrame:
        frame = claims.reset_index(drop=True)
        return frame.assign(
            level=int(target),
            prior_level=start,
            allowed_before=frame["current_allowed_amount"],
            attempt_date=frame["as_of_date"],
        )

    def _flatten(
        self, current: np.ndarray, decision: Decision, steps: _StepPredictions, warning_inputs: _WarningInputs
    ) -> dict[str, np.ndarray]:
        out = {
            "recommended_action": decision.action,
            "expected_net_recovery": decision.expected_net_recovery,
            "path": decision.path,
        }
        # each level's numbers from each claim's own current level (NaN where it is at or beyond it)
        own = steps.pair_index(current, LEVEL_NUMBERS[:, None])
        rows = np.arange(len(current))
        for name in ("p_success", "expected_allowed", "allowed_p10", "allowed_p90", "expected_days"):
            table = np.where(own >= 0, steps.values[name][own, rows], np.nan)
            out |= dict(zip(LEVEL_COLUMNS[name], table, strict=True))
        for name, by_level in (
            ("eligible", decision.eligible),
            ("ineligible_reason", decision.ineligible_reason),
            ("expected_recovery", decision.expected_recovery),
            ("cost", decision.cost),
            ("net_value", decision.net_value),
        ):
            out |= dict(zip(LEVEL_COLUMNS[name], [by_level[level] for level in ESCALATION_LEVELS], strict=True))
        explained = self._explained_level(decision)
        out["reasons"] = self._reasons(current, explained, steps)
        out["warnings"] = self._warnings(warning_inputs, explained, steps.base)
        return out

    @staticmethod
    def _explained_level(decision: Decision) -> np.ndarray:
        """The recommended level, or for ``accept`` the best-valued eligible level (why it falls short)."""
        values = np.column_stack([decision.net_value[level] for level in ESCALATION_LEVELS])
        best = _LEVEL_NAMES[LEVEL_NUMBERS[np.argmax(np.where(np.isnan(values), -np.inf, values), axis=1)]]
        return np.where(decision.action == ACCEPT, best, decision.action)

    def _reasons(self, current: np.ndarray, levels: np.ndarray, steps: _StepPredictions) -> np.ndarray:
        """Plain-word reasons from the success model's contributions, for each claim's explained step only."""
        reasons = np.full(len(current), "", dtype=object)
        targets = np.array([_LEVEL_NUMBER[level] for level in levels.tolist()], dtype="int64")
        explainable = np.flatnonzero(targets > current)
        if len(explainable):
            pair = steps.pair_index(current[explainable], targets[explainable])
            matrix = steps.base[explainable]
            matrix[:, steps.step_columns] = steps.step_values[pair]
            contributions = self.models.success_contributions(matrix, self.reason_method)
            reasons[explainable] = top_reasons(
                contributions, self.models.feature_names, levels[explainable], separator=SEPARATOR
            )
        return reasons

    def _warnings(self, inputs: _WarningInputs, levels: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Unknown payer or code, and thin data with the payer at the explained level (``base`` holds the
        transformer's Medicare price of each claim)."""
        known_payer = self.transformer.known_values(inputs.payer_ids, "payer_id")
        known_code = self.transformer.known_values(inputs.cpt_codes, "cpt_code")
        priced = ~np.isnan(base[:, self.transformer.feature_names_out_.index("log_medicare")])
        attempts = self.profiles.attempts(inputs.payer_ids, levels)
        thin = known_payer & (attempts < self.thin_data_attempts)
        code_notes = np.where(
            priced,
            np.where(known_code, "", "service code rare in the history: scored with similar services"),
            "unknown service code: no Medicare benchmark",
        )
        # one pass over the rows in Python: cheaper than joining object arrays note by note, at any size
        return np.array(
            [
                SEPARATOR.join(
                    note
                    for note in (
                        "" if payer_known else "unknown payer: scored with the market-wide behaviour",
                        code_note,
                        f"thin data: {count} past attempts with this payer at {level.replace('_', ' ')}"
                        if is_thin
                        else "",
                    )
                    if note
                )
                for payer_known, code_note, is_thin, count, level in zip(
                    known_payer.tolist(),
                    code_notes.tolist(),
                    thin.tolist(),
                    attempts.astype("int64").tolist(),
                    levels.tolist(),
                    strict=True,
                )
            ],
            dtype=object,
        )


@dataclass(frozen=True)
class _WarningInputs:
    """The claim columns the warnings read, as object arrays (None where missing)."""

    payer_ids: np.ndarray
    cpt_codes: np.ndarray

    @classmethod
    def of(cls, claims: pd.DataFrame) -> _WarningInputs:
        return cls(*(claims[name].to_numpy(dtype=object, na_value=None) for name in ("payer_id", "cpt_code")))


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
