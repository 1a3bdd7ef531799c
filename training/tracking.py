"""MLflow: where runs go, how the bundle is logged and registered, and how a version is found again."""

from __future__ import annotations

import tempfile
from pathlib import Path

import joblib
import matplotlib
import mlflow
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import AnyType, ColSpec, Schema

from features.schema import REQUEST_TABLE
from models.bundle import RecoupBundle
from models.pyfunc import BUNDLE_ARTIFACT, RecoupModel, score_frame
from models.served import tracking_uri

matplotlib.use("Agg")

REGISTERED_MODEL = "recoup"
CHAMPION_ALIAS = "champion"
EXPERIMENT = "recoup"
HOLDOUT_ARTIFACT = "holdout/test_attempts.parquet"
DIGEST_TAG = "dataset_digest"  # the training run's tag: which validated history the version was trained on


def configure(uri: str | None = None, experiment: str = EXPERIMENT) -> str:
    resolved = tracking_uri(uri)
    mlflow.set_tracking_uri(resolved)
    mlflow.set_registry_uri(resolved)
    mlflow.set_experiment(experiment)
    return resolved


def champion_version() -> str | None:
    """The version behind alias ``champion`` in the configured registry, or None."""
    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(REGISTERED_MODEL, CHAMPION_ALIAS).version)
    except mlflow.exceptions.MlflowException:
        return None


def versions_trained_on(digest: str) -> list[str]:
    """Registered versions of ``recoup`` whose training run logged dataset digest ``digest``, newest first."""
    client = mlflow.MlflowClient()
    versions = client.search_model_versions(f"name='{REGISTERED_MODEL}'")
    return [
        str(version.version)
        for version in sorted(versions, key=lambda version: int(version.version), reverse=True)
        if version.run_id and client.get_run(version.run_id).data.tags.get(DIGEST_TAG) == digest
    ]


def request_example(attempts: pd.DataFrame, rows: int = 3) -> pd.DataFrame:
    """Scoring requests built from history rows: the contract's claim columns as the API receives them."""
    from features.schema import CLAIM_COLUMN_NAMES

    example = attempts.drop_duplicates("claim_id").head(rows)[list(CLAIM_COLUMN_NAMES)].copy()
    example["current_level"] = "none"
    example["current_allowed_amount"] = example["initial_allowed_amount"]
    example["as_of_date"] = (example["service_date"] + pd.Timedelta(days=45)).dt.strftime("%Y-%m-%d")
    for column in ("service_date", "initial_payment_date"):
        example[column] = example[column].dt.strftime("%Y-%m-%d")
    for column in example.columns:
        if example[column].dtype == "string":
            example[column] = example[column].astype(object).where(example[column].notna(), None)
    return example.reset_index(drop=True)


def request_signature(bundle: RecoupBundle, example: pd.DataFrame) -> ModelSignature:
    """The pyfunc's signature: every contract request column by name, required only where the contract
    requires it, of any type. Files give one column several types (dates as text or as dates, codes as
    text or, in Parquet, as integers, flags as words or booleans), and the contract's own validator inside
    ``predict`` types them and names every problem by row, as ``recoup score`` does; a narrower type here
    would make MLflow refuse a whole request, or a worklist read with pandas, before that."""
    inputs = Schema([ColSpec(AnyType(), column.name, required=column.required) for column in REQUEST_TABLE])
    return ModelSignature(inputs, infer_signature(example, score_frame(bundle, example)).outputs)


def log_bundle(bundle: RecoupBundle, example: pd.DataFrame, register: bool = True):
    """Log the bundle as one pyfunc with signature and input example; register it as ``recoup``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bundle.joblib"
        joblib.dump(bundle, path)
        signature = request_signature(bundle, example)
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=RecoupModel(),
            artifacts={BUNDLE_ARTIFACT: str(path)},
            signature=signature,
            input_example=example,
            registered_model_name=REGISTERED_MODEL if register else None,
            pip_requirements=_requirements(),
        )


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [
        f"{name}=={version(name)}"
        for name in ("recoup", "lightgbm", "pandas", "scikit-learn", "numpy", "mlflow", "holidays", "pyarrow")
    ]


def log_figure(figure, name: str) -> None:
    mlflow.log_figure(figure, f"plots/{name}.png")
    matplotlib.pyplot.close(figure)


def log_table(frame: pd.DataFrame, name: str) -> None:
    mlflow.log_table(frame.reset_index(), artifact_file=f"tables/{name}.json")
