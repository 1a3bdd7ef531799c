"""Beyond one machine, on a LocalCluster: Dask scoring equals local scoring exactly; Dask training agrees
with local training within a stated tolerance.

Tolerance for training (same split, same parameters, 2 workers): data-parallel LightGBM builds its
histograms from each worker's rows and bags per worker, so its trees differ from one machine's. On the
test slice the success model's Brier score must agree within 0.02 and its AUC within 0.05, and the
settlement and days models' mean absolute errors within 10%. (Not log loss: on a history this small the
calibrated probabilities reach 0 or 1 for a few claims and log loss swings with them.)
"""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from sklearn.metrics import brier_score_loss, roc_auc_score

from features.transformer import ClaimFeatures
from models.bundle import RecoupBundle
from service.dask_scoring import score_worklist_dask
from service.worklist import score_worklist
from tests.service import fixtures_worklist
from tests.service.fixtures_worklist import write_csv, write_parquet_parts

worklist, worklist_bundle = fixtures_worklist.worklist, fixtures_worklist.worklist_bundle  # the fixtures

HISTORY_CLAIMS = 2000
BRIER_TOLERANCE = 0.02
AUC_TOLERANCE = 0.05
ERROR_TOLERANCE = 0.10


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.fixture(params=["lightgbm", "compiled"])
def bundle(request, worklist_bundle, tmp_path_factory):
    if request.param == "lightgbm":
        return worklist_bundle
    compiled = pickle.loads(pickle.dumps(worklist_bundle))
    compiled.models.compile(tmp_path_factory.getbasetemp() / "trees")
    return compiled


def test_dask_scores_equal_local_scores(tmp_path, client, worklist, bundle):
    source = write_parquet_parts(worklist, tmp_path / "parts", parts=3, row_group_rows=70)
    options = {"chunk_rows": 150, "progress": False}
    local = score_worklist(source, tmp_path / "local.parquet", bundle, **options)
    distributed = score_worklist_dask(source, tmp_path / "dask.parquet", bundle, client, **options)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "dask.parquet"), pd.read_parquet(tmp_path / "local.parquet")
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "dask.rejects.parquet"), pd.read_parquet(tmp_path / "local.rejects.parquet")
    )
    assert (distributed.scored, distributed.rejected) == (local.scored, local.rejected)
    pd.testing.assert_frame_equal(distributed.by_payer.sort_index(), local.by_payer.sort_index())
    batches = pd.read_parquet(tmp_path / "dask.batches.parquet")
    assert len(batches) > 0, "the worklist's IDR batches, found by the workers"
    pd.testing.assert_frame_equal(batches, pd.read_parquet(tmp_path / "local.batches.parquet"))


def test_dask_engine_reads_parquet_only(tmp_path, client, worklist, worklist_bundle):
    source = write_csv(worklist.head(10), tmp_path / "worklist.csv")
    with pytest.raises(ValueError, match="reads Parquet"):
        score_worklist_dask(source, tmp_path / "out.csv", worklist_bundle, client, progress=False)


def _test_metrics(models, split, transformer) -> dict[str, float]:
    test = split.test
    features = transformer.transform(test)
    predicted = models.predict(features, test["billed_amount"].to_numpy(), test["allowed_before"].to_numpy())
    won = test["success"].to_numpy()
    return {
        "brier": brier_score_loss(test["success"], predicted["p_success"]),
        "auc": roc_auc_score(test["success"], predicted["p_success"]),
        "settlement_mae": float(
            np.mean(np.abs(predicted["expected_allowed"][won] - test["final_allowed_amount"][won]))
        ),
        "days_mae": float(np.mean(np.abs(predicted["expected_days"] - test["days_to_resolution"]))),
    }


def test_dask_training_agrees_with_local_training(tmp_path, client, worklist, worklist_bundle):
    from training.data import load_history, time_split
    from training.fit import fit_outcome_models
    from training.fit_dask import fit_outcome_models_dask
    from training.simulator import simulate_history

    history = simulate_history(HISTORY_CLAIMS, seed=11)
    history = history.drop(columns=[name for name in history.columns if name.startswith("truth_")])
    split = time_split(load_history(history).resolved)
    transformer = ClaimFeatures().fit(split.train)
    local = fit_outcome_models(split, transformer, seed=0)
    distributed = fit_outcome_models_dask(split, transformer, client, seed=0)

    assert isinstance(distributed.success, lgb.LGBMClassifier) and distributed.success.best_iteration_ > 0
    ours, theirs = _test_metrics(distributed, split, transformer), _test_metrics(local, split, transformer)
    assert abs(ours["brier"] - theirs["brier"]) < BRIER_TOLERANCE, (ours, theirs)
    assert abs(ours["auc"] - theirs["auc"]) < AUC_TOLERANCE, (ours, theirs)
    for name in ("settlement_mae", "days_mae"):
        assert abs(ours[name] / theirs[name] - 1) < ERROR_TOLERANCE, (name, ours, theirs)

    # the Dask-trained models drop into a bundle and score like any other
    bundle = RecoupBundle(transformer, distributed, worklist_bundle.policy, worklist_bundle.profiles)
    source = write_csv(worklist.head(50), tmp_path / "worklist.csv")
    summary = score_worklist(source, tmp_path / "ranked.csv", bundle, progress=False)
    assert summary.scored + summary.rejected == 50 and summary.scored > 0


def test_a_local_cluster_logs_warnings_only_unless_verbose(caplog):
    import logging

    from service.dask_scoring import dask_client

    caplog.set_level(logging.DEBUG)  # the handler takes everything: only the logger levels can filter
    logging.getLogger().setLevel(logging.WARNING)  # `recoup` without --verbose
    with dask_client(None, 1) as local:
        assert local.submit(sum, [1, 2]).result() == 3
    chatter = [r for r in caplog.records if r.name.startswith("distributed") and r.levelno < logging.WARNING]
    assert not chatter, [r.getMessage() for r in chatter[:5]]
