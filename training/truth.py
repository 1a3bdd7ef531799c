"""On simulated data: the distance to the simulator's truth, and the regret of the decision policy.

Every policy is valued under the TRUE probabilities, amounts and days of the world that generated the
history, so the model's recommendations, the truth-optimal ones and the fixed rules are compared on the
same footing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import CLAIM_COLUMN_NAMES, Level
from models.bundle import RecoupBundle
from models.decision import StepEstimates, decide, step_pairs
from models.ladder import LadderPolicy
from models.metrics import log_loss
from training.world import World

POLICY_SAMPLE_CLAIMS = 20_000
#: Fresh claims simulated after the history to compare predicted and true recovery by payer segment
SEGMENT_CLAIMS = 5_000
#: The segment worklist's as_of_date: this long after the history's last attempt
SEGMENT_AS_OF_DAYS = 15
SEGMENTS = ("steady", "changed", "new")


def truth_metrics(
    test: pd.DataFrame, truth: pd.DataFrame, predicted: pd.DataFrame, bundle: RecoupBundle | None, seed: int = 0
) -> dict[str, float]:
    """Distance of the model's estimates to the truth on the test slice (``truth`` aligned with it)."""
    y = test["success"].to_numpy(dtype=float)
    truth_p = truth["truth_p_success"].to_numpy(dtype=float)
    model_p = predicted["p_success"].to_numpy(dtype=float)
    truth_loss, model_loss = log_loss(y, truth_p), log_loss(y, model_p)
    won = test["success"].to_numpy()
    metrics = {
        "truth_log_loss": truth_loss,
        "model_to_truth_log_loss_ratio": model_loss / truth_loss,
        "p_success_mae_vs_truth": float(np.mean(np.abs(model_p - truth_p))),
        "expected_allowed_mae_vs_truth": float(
            np.mean(
                np.abs(predicted["expected_allowed"].to_numpy()[won] - truth["truth_expected_allowed"].to_numpy()[won])
            )
        ),
        "expected_days_mae_vs_truth": float(
            np.mean(np.abs(predicted["expected_days"].to_numpy() - truth["truth_expected_days"].to_numpy()))
        ),
    }
    if bundle is not None:
        world = world_of(truth)
        metrics |= policy_metrics(bundle, decision_points(test, seed=seed), world)
        as_of = (test["submitted_date"].max() + pd.Timedelta(days=SEGMENT_AS_OF_DAYS)).date()
        metrics |= segment_metrics(bundle, world, as_of, seed=seed)
    return metrics


def payer_segments(world: World, payer_ids: pd.Series) -> np.ndarray:
    """Each payer's segment under the world's drift: ``new`` (no claims before some date), ``changed`` (its
    behaviour changes from some date) or ``steady``."""
    new = {entry.payer_id for entry in world.drift.entries}
    changed = {change.payer_id for change in world.drift.changes} - new
    ids = payer_ids.astype(str)
    return np.where(ids.isin(new), "new", np.where(ids.isin(changed), "changed", "steady"))


def segment_metrics(
    bundle: RecoupBundle, world: World, as_of, claims: int = SEGMENT_CLAIMS, seed: int = 0
) -> dict[str, float]:
    """Predicted vs true expected net recovery, by payer segment (``payer_segments``), on fresh claims the
    world sends after the history (a worklist as of ``as_of``): what the model promises a billing team
    for the claims it would work next, against what following its recommendations truly yields.

    Per segment: ``segment_<s>_claims``, ``..._predicted_recovery_per_claim`` (the model's
    expected_net_recovery), ``..._true_recovery_per_claim`` (its recommended path valued under the truth)
    and ``..._recovery_bias_pct`` (predicted over true, minus one, in percent)."""
    from features.validation import validate_claims
    from training.simulator import simulate_worklist

    worklist = validate_claims(simulate_worklist(claims, seed=seed + 1, world=world, as_of=as_of)).valid
    scored = bundle.score(worklist)
    paths = [tuple(path.split(" > ")) if path else () for path in scored["path"]]
    true_value = path_value(worklist, paths, true_estimates(worklist, world), bundle.policy)
    predicted = scored["expected_net_recovery"].to_numpy(dtype="float64")
    segments = payer_segments(world, worklist["payer_id"])
    metrics: dict[str, float] = {}
    for segment in SEGMENTS:
        rows = segments == segment
        if not rows.any():
            continue
        truly, promised = float(true_value[rows].mean()), float(predicted[rows].mean())
        metrics |= {
            f"segment_{segment}_claims": float(rows.sum()),
            f"segment_{segment}_predicted_recovery_per_claim": promised,
            f"segment_{segment}_true_recovery_per_claim": truly,
            f"segment_{segment}_recovery_bias_pct": 100 * (promised / truly - 1) if truly else float("nan"),
        }
    return metrics


def world_of(truth: pd.DataFrame) -> World:
    """The world whose truth the ``truth_`` columns hold (``truth_world``; the default world if absent)."""
    if "truth_world" not in truth:
        return World()
    described = truth["truth_world"].dropna().astype("str").unique()
    if len(described) != 1:
        raise ValueError(f"the history mixes rows of {len(described)} simulated worlds: {', '.join(described)}")
    return World.described(described[0])


def decision_points(test: pd.DataFrame, sample: int = POLICY_SAMPLE_CLAIMS, seed: int = 0) -> pd.DataFrame:
    """Test claims as they stood before their first attempt: the moment the worklist would score them."""
    first = test[test["prior_level"] == 0].drop_duplicates("claim_id")
    if len(first) > sample:
        first = first.sample(sample, random_state=seed)
    claims = first[list(CLAIM_COLUMN_NAMES)].copy()
    claims["current_level"] = 0
    claims["current_allowed_amount"] = claims["initial_allowed_amount"]
    claims["current_level_date"] = pd.NaT
    claims["as_of_date"] = first["submitted_date"]
    return claims.reset_index(drop=True)


def true_estimates(claims: pd.DataFrame, world: World) -> dict[tuple[int, Level], StepEstimates]:
    estimates = {}
    for start, target in step_pairs(claims["current_level"].to_numpy()):
        attempts = claims.assign(
            level=int(target),
            prior_level=start,
            allowed_before=claims["current_allowed_amount"],
            submitted_date=claims["as_of_date"],
        )
        truth = world.truth(attempts)
        estimates[(start, target)] = StepEstimates(
            truth["p_success"].to_numpy(), truth["expected_allowed"].to_numpy(), truth["expected_days"].to_numpy()
        )
    return estimates


def path_value(claims: pd.DataFrame, paths: list[tuple[str, ...]], estimates, policy: LadderPolicy) -> np.ndarray:
    """Expected net recovery of following each claim's path (next step after each failure) under truth."""
    allowed = claims["current_allowed_amount"].to_numpy(dtype=float)
    nsa = claims["nsa_eligible"].to_numpy(dtype=bool)
    current = claims["current_level"].to_numpy(dtype=int)
    # the fees of every step are those in force on as_of (the decision dates later steps a little later)
    fees = policy.idr_fees(claims["as_of_date"].to_numpy(dtype="datetime64[D]"), nsa, None)
    values = np.zeros(len(claims))
    keys = pd.Series([tuple(path) for path in paths])
    for path, rows in keys.groupby(keys).indices.items():
        value = np.zeros(len(rows))
        starts = [None, *path[:-1]] if path else []
        for step, start in zip(reversed(path), reversed(starts), strict=True):
            target = Level[step]
            origin = current[rows] if start is None else np.full(len(rows), int(Level[start]))
            p, gain, days = (np.empty(len(rows)) for _ in range(3))
            for origin_level in np.unique(origin):
                inside = origin == origin_level
                truth = estimates[(int(origin_level), target)]
                p[inside] = truth.p_success[rows][inside]
                gain[inside] = np.maximum(truth.expected_allowed[rows][inside] - allowed[rows][inside], 0.0)
                days[inside] = truth.expected_days[rows][inside]
            idr = target is Level.external_review
            cost = policy.cost_of(target) + (fees.admin[rows] if idr else 0.0)
            fee = fees.entity[rows] if idr else 0.0
            value = -cost + policy.discount(days) * (p * gain + (1 - p) * (value - fee))
        values[rows] = value
    return values


def fixed_rule_paths(claims: pd.DataFrame) -> dict[str, list[tuple[str, ...]]]:
    nsa = claims["nsa_eligible"].to_numpy(dtype=bool)
    n = len(claims)
    to_idr_nsa = ("reconsideration", "external_review")
    to_idr_other = ("written_appeal", "external_review")
    return {
        "always_accept": [()] * n,
        "always_reconsideration": [("reconsideration",)] * n,
        "always_next_rung": [("reconsideration", "written_appeal", "peer_to_peer", "external_review")] * n,
        "idr_whenever_eligible": [to_idr_nsa if is_nsa else to_idr_other for is_nsa in nsa],
    }


def policy_metrics(bundle: RecoupBundle, claims: pd.DataFrame, world: World) -> dict[str, float]:
    """Expected net recovery (under truth) of the model's recommendations, the truth-optimal ones, and
    the fixed rules; regret and uplift in dollars and percent."""
    estimates = true_estimates(claims, world)
    optimal = decide(claims, estimates, bundle.policy)
    optimal_value = float(optimal.expected_net_recovery.sum())
    scored = bundle.score(claims)
    model_paths = [tuple(p.split(" > ")) if p else () for p in scored["path"]]
    model_value = float(path_value(claims, model_paths, estimates, bundle.policy).sum())
    rules = {
        name: float(path_value(claims, paths, estimates, bundle.policy).sum())
        for name, paths in fixed_rule_paths(claims).items()
    }
    best_rule = max(rules, key=rules.get)
    n = len(claims)
    metrics = {
        "policy_claims": float(n),
        "policy_truth_optimal_recovery_per_claim": optimal_value / n,
        "policy_model_recovery_per_claim": model_value / n,
        "policy_regret_dollars_per_claim": (optimal_value - model_value) / n,
        "policy_regret_pct": 100 * (optimal_value - model_value) / optimal_value,
        "best_fixed_rule_recovery_per_claim": rules[best_rule] / n,
        "uplift_over_best_fixed_rule_pct": 100 * (model_value - rules[best_rule]) / abs(rules[best_rule]),
        "policy_agreement_with_truth_optimal": float(
            np.mean(scored["recommended_action"].to_numpy() == optimal.action)
        ),
    }
    metrics |= {f"fixed_rule_{name}_recovery_per_claim": value / n for name, value in rules.items()}
    return metrics
