"""Federal IDR arbitration: payer behaviour learned from the CMS public use files (PUF).

Three jobs, each a plain function in its own module:

* ``ingest.ingest_idr`` maps the CMS dispute-line-item columns (any release's spelling, CSV or Parquet, with
  or without the helper columns of the public processing) to the IDR dataset, and reports every mapping and
  every dropped row with its reason;
* ``fit.train_idr_model`` learns P(provider prevails) and the prevailing offer as a ratio of QPA with a
  temporal split (features and split in ``features``), reports them beside baselines and tracks the run in
  MLflow;
* ``benchmarks.payer_idr_benchmarks`` summarises, per payer group, how providers fare against that payer at
  IDR.

``report`` formats what `recoup ingest-idr` and `recoup train-idr` print.

Offers are chosen by the parties. Whatever the models say about offer levels is an association in
observational data, never the effect of asking for more or less.
"""

from training.idr.benchmarks import payer_idr_benchmarks
from training.idr.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, temporal_split
from training.idr.fit import IdrOutcomeModel, IdrTrainResult, train_idr_model
from training.idr.ingest import (
    DATASET_COLUMNS,
    IdrIngestResult,
    ingest_idr,
    normalise_column_name,
    parse_quarter,
    read_idr_dataset,
    write_idr_dataset,
)
from training.idr.report import format_idr_ingest_report, format_idr_train_report

__all__ = [
    "CATEGORICAL_FEATURES",
    "DATASET_COLUMNS",
    "NUMERIC_FEATURES",
    "IdrIngestResult",
    "IdrOutcomeModel",
    "IdrTrainResult",
    "format_idr_ingest_report",
    "format_idr_train_report",
    "ingest_idr",
    "normalise_column_name",
    "parse_quarter",
    "payer_idr_benchmarks",
    "read_idr_dataset",
    "temporal_split",
    "train_idr_model",
    "write_idr_dataset",
]
