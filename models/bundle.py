"""The model bundle: transformer, outcome models, ladder policy and payer profiles, scored as one.

``RecoupBundle.score`` is the whole scoring rule. The MLflow pyfunc, the HTTP service and the worklist
scorer all call it, so every interface gives the same answer for the same claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.reference import medicare_amount
from features.schema import ESCALATION_LEVELS, Level
from features.transformer import ClaimFeatures
from models.decision import ACCEPT, Decision, StepEstimates, decide, step_pairs
from models.estimators import OutcomeModels
from models.explain import top_reasons
from models.ladder import LadderPolicy

LEVEL_FIELDS = ("eligible", "ineligible_reason", "p_success", "expected_allowed", "allowed_p10", "allowed_p90",
                "expected_days", "expected_recovery", "cost", "net_value")
SEPARATOR = "; "


def output_columns() -> list[str]:
    """The flat scoring output, in order: the decision, then each level's numbers."""
    columns = ["recommended_action", "expected_net_recovery", "path"]
    for level in ESCALATION_LEVELS:
        columns += [f"{name}_{level.name}" for name in LEVEL_FIELDS]
    return [*columns, "reasons", "warnings"]


@dataclass
class PayerProfiles:
    """What the history says about each payer: ``summary`` per payer, ``by_level`` per payer and level."""

    summary: pd.DataFrame
    by_level: pd.DataFrame

    def attempts(self, payer_ids: pd.Series, levels: np.ndarray) -> np.ndarray:
        """Historical resolved attempts for each (payer, level); 0 where the payer never tried it."""
        counts = self.by_level.set_index(["payer_id", "level"])["attempts"]
        keys = pd.MultiIndex.from_arrays([payer_ids.astype(str).to_numpy(), np.asarray(levels, dtype=object)])
        return counts.reindex(keys).fillna(0).to_numpy()


@dataclass
class RecoupBundle:
    transformer: ClaimFeatures
    models: OutcomeModels
    policy: LadderPolicy
    profiles: PayerProfiles
    metadata: dict = field(default_factory=dict)
    thin_data_attempts: int = 30

    def score(self, claims: pd.DataFrame, policy: LadderPolicy | None = None) -> pd.DataFrame:
        """Flat scoring output (``output_columns()``) for validated scoring requests, same index."""
        policy = policy or self.policy
        claims = claims.copy()
        claims["current_level"] = claims["current_level"].astype("int64")
        estimates, predictions = self._estimate(claims)
        decision = decide(claims, estimates, policy)
        return self._flatten(claims, decision, estimates, predictions)

    def _estimate(self, claims: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
        pairs = step_pairs(claims["current_level"].to_numpy())
        attempts = pd.concat([self._attempt_frame(claims, start, target) for start, target in pairs],
                             ignore_index=True)
        features = self.transformer.transform(attempts)
        predictions = self.models.predict(features, attempts["billed_amount"].to_numpy(dtype="float64"),
                                          attempts["allowed_before"].to_numpy(dtype="float64"))
        predictions["from_level"] = attempts["prior_level"].to_numpy()
        predictions["target"] = attempts["level"].to_numpy()
        n = len(claims)
        estimates = {}
        for position, (start, target) in enumerate(pairs):
            block = predictions.iloc[position * n:(position + 1) * n]
            estimates[(start, target)] = StepEstimates(block["p_success"].to_numpy(),
                                                       block["expected_allowed"].to_numpy(),
                                                       block["expected_days"].to_numpy())
        predictions.attrs["pairs"] = pairs
        predictions.attrs["features"] = features
        return estimates, predictions

    @staticmethod
    def _attempt_frame(claims: pd.DataFrame, start: int, target: Level) -> pd.DataFrame:
        frame = claims.reset_index(drop=True)
        return frame.assign(level=int(target), prior_level=start,
                            allowed_before=frame["current_allowed_amount"], attempt_date=frame["as_of_date"])

    def _flatten(self, claims: pd.DataFrame, decision: Decision, estimates: dict,
                 predictions: pd.DataFrame) -> pd.DataFrame:
        n = len(claims)
        current = claims["current_level"].to_numpy()
        pairs = predictions.attrs["pairs"]
        out = {"recommended_action": decision.action, "expected_net_recovery": decision.expected_net_recovery,
               "path": [" > ".join(path) for path in decision.path]}
        for target in ESCALATION_LEVELS:
            rows = {name: np.full(n, np.nan) for name in ("p_success", "expected_allowed", "allowed_p10",
                                                          "allowed_p90", "expected_days")}
            for start in np.unique(current):
                if target <= start:
                    continue
                block = predictions.iloc[pairs.index((int(start), target)) * n:][:n]
                selected = current == start
                for name in rows:
                    rows[name][selected] = block[name].to_numpy()[selected]
            out[f"eligible_{target.name}"] = decision.eligible[target]
            out[f"ineligible_reason_{target.name}"] = decision.ineligible_reason[target]
            for name, values in rows.items():
                out[f"{name}_{target.name}"] = values
            out[f"expected_recovery_{target.name}"] = decision.expected_recovery[target]
            out[f"cost_{target.name}"] = decision.cost[target]
            out[f"net_value_{target.name}"] = decision.net_value[target]
        out["reasons"] = self._reasons(claims, decision, predictions)
        out["warnings"] = self._warnings(claims, decision)
        return pd.DataFrame(out, index=claims.index)[output_columns()]

    def _explained_level(self, claims: pd.DataFrame, decision: Decision) -> np.ndarray:
        """The recommended level, or for ``accept`` the best-valued eligible level (why it falls short)."""
        values = np.column_stack([decision.net_value[level] for level in ESCALATION_LEVELS])
        best = np.array([level.name for level in ESCALATION_LEVELS], dtype=object)[
            np.argmax(np.where(np.isnan(values), -np.inf, values), axis=1)]
        return np.where(decision.action == ACCEPT, best, decision.action)

    def _reasons(self, claims: pd.DataFrame, decision: Decision, predictions: pd.DataFrame) -> list[str]:
        n = len(claims)
        levels = self._explained_level(claims, decision)
        features = predictions.attrs["features"]
        pairs = predictions.attrs["pairs"]
        current = claims["current_level"].to_numpy()
        positions = np.array([
            pairs.index((int(c), Level[level])) * n + i if Level[level] > c else -1
            for i, (c, level) in enumerate(zip(current, levels, strict=True))
        ])
        reasons = [""] * n
        explainable = positions >= 0
        if explainable.any():
            contributions = self.models.success_contributions(features.iloc[positions[explainable]])
            sentences = top_reasons(contributions, levels[explainable])
            for row, text in zip(np.flatnonzero(explainable), sentences, strict=True):
                reasons[row] = SEPARATOR.join(text)
        return reasons

    def _warnings(self, claims: pd.DataFrame, decision: Decision) -> list[str]:
        known_payer = self.transformer.known_mask(claims, "payer_id").to_numpy()
        priced = medicare_amount(claims["cpt_code"], claims["modifier"], claims["place_of_service"],
                                 claims["state"], claims["units"]).notna().to_numpy()
        known_code = self.transformer.known_mask(claims, "cpt_code").to_numpy()
        levels = self._explained_level(claims, decision)
        attempts = self.profiles.attempts(claims["payer_id"], levels)
        warnings = []
        for i in range(len(claims)):
            notes = []
            if not known_payer[i]:
                notes.append("unknown payer: scored with the market-wide behaviour")
            if not priced[i]:
                notes.append("unknown service code: no Medicare benchmark")
            elif not known_code[i]:
                notes.append("service code rare in the history: scored with similar services")
            if known_payer[i] and attempts[i] < self.thin_data_attempts:
                notes.append(f"thin data: {int(attempts[i])} past attempts with this payer at "
                             f"{str(levels[i]).replace('_', ' ')}")
            warnings.append(SEPARATOR.join(notes))
        return warnings
