"""The MLflow pyfunc wrapper: validation, scoring and the decision rule in one ``predict``.

Every serving path (HTTP, batch, Dask, ``mlflow models serve``) goes through this class, so the policy,
thresholds and explanations are the same everywhere.
"""

from __future__ import annotations

import joblib
import mlflow.pyfunc
import pandas as pd

from features.validation import validate_claims
from models.bundle import RecoupBundle, output_columns

BUNDLE_ARTIFACT = "bundle"
ERROR_COLUMN = "errors"


def score_frame(bundle: RecoupBundle, claims: pd.DataFrame) -> pd.DataFrame:
    """Score raw request rows: every input row comes back, scored or with its validation errors."""
    claims = claims.copy()
    claims.index = pd.RangeIndex(1, len(claims) + 1, name="row")
    result = validate_claims(claims)
    scored = bundle.score(result.valid) if len(result.valid) else pd.DataFrame(columns=output_columns())
    scored[ERROR_COLUMN] = ""
    errors = pd.DataFrame({ERROR_COLUMN: result.rejected["errors"]}, index=result.rejected.index)
    combined = pd.concat([scored, errors]).reindex(claims.index)
    return combined.reset_index(drop=True)


class RecoupModel(mlflow.pyfunc.PythonModel):
    """Scores claims with the bundle logged beside it."""

    def load_context(self, context) -> None:
        self.bundle: RecoupBundle = joblib.load(context.artifacts[BUNDLE_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return score_frame(self.bundle, model_input)
