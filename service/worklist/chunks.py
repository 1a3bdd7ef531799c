"""One chunk of a worklist scored: every input row back with its scores or its errors, and the rank keys."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.io import READ_ERROR_COLUMN, TableReadError, table_files
from features.validation import ValidationResult, validate_claims
from models.batching import BATCH_KEY_COLUMNS, batch_candidates, plan_batches
from models.bundle import RecoupBundle, output_columns
from models.ladder import IDR_BATCH_ID, IDR_BATCH_SIZE, LadderPolicy

#: Claims per chunk: measured on 1M claims with 2 workers, 10k chunks took 58 s, 20k 51-56 s, 40k 49 s;
#: each worker then peaks near 700 MB, whatever the input size.
DEFAULT_CHUNK_ROWS = 40_000
ROW_COLUMN = "row"
ERROR_COLUMN = "errors"
RANK_COLUMN = "expected_net_recovery"

RESERVED_COLUMNS = frozenset([ROW_COLUMN, ERROR_COLUMN, READ_ERROR_COLUMN, *output_columns()])


def score_chunk(
    chunk: pd.DataFrame,
    bundle: RecoupBundle,
    policy: LadderPolicy | None = None,
    batches: pd.DataFrame | None = None,
    validated: ValidationResult | None = None,
) -> pd.DataFrame:
    """Every input row back, in input order: ``row``, the input columns, the scores, and ``errors`` (empty
    for a scored row; for a rejected row its problems, and no scores).

    ``chunk`` is raw input indexed by 1-based row number (as ``features.io`` reads it). Each row is scored
    on its own, so the result does not depend on how the input is cut into chunks or partitions; the one
    thing shared between rows is the worklist's IDR batches (``batches``: the plan of ``plan_worklist``,
    by row number), which price Federal IDR at each claim's share of its batch's fees. ``validated``: the
    chunk's ``validate_claims`` result, when the batching pass made it already (``saved_candidates``).
    """
    result = validated if validated is not None else validate_claims(chunk)
    valid = result.valid if batches is None else with_batches(result.valid, batches)
    scores = (
        bundle.score(valid, policy=policy) if len(valid) else pd.DataFrame(index=valid.index, columns=output_columns())
    )
    inputs = chunk.drop(columns=[name for name in chunk.columns if name in RESERVED_COLUMNS])
    if inputs.columns.duplicated().any():  # validation rejected every row; the files need unique names
        inputs.columns = _numbered_copies(inputs.columns)
    combined = inputs.join(scores)
    combined[ERROR_COLUMN] = result.rejected[ERROR_COLUMN].reindex(combined.index).fillna("")
    combined.index.name = ROW_COLUMN
    return combined.reset_index()


def chunk_candidates(chunk: pd.DataFrame, policy: LadderPolicy) -> pd.DataFrame:
    """The claims of one raw chunk that may join a batched IDR dispute (``models.batching``), by row."""
    return _candidates(validate_claims(chunk).valid, policy)


def saved_candidates(chunk: pd.DataFrame, policy: LadderPolicy, saved: Path) -> pd.DataFrame:
    """``chunk_candidates``, with the raw chunk and its validation saved to ``saved`` (``load_chunk`` reads
    them back): the scoring pass then neither parses the input again nor validates it again, the two
    largest costs of the batching pass."""
    result = validate_claims(chunk)
    with open(saved, "wb") as file:
        pickle.dump((chunk, result), file, protocol=pickle.HIGHEST_PROTOCOL)
    return _candidates(result.valid, policy)


def load_chunk(saved: Path) -> tuple[pd.DataFrame, ValidationResult]:
    """A raw chunk and its validation as ``saved_candidates`` saved them (a file this run wrote in its own
    scratch directory), which is then removed: the directory holds only the chunks not yet scored."""
    with open(saved, "rb") as file:
        chunk, result = pickle.load(file)
    saved.unlink()
    return chunk, result


def _candidates(valid: pd.DataFrame, policy: LadderPolicy) -> pd.DataFrame:
    if not len(valid):
        return pd.DataFrame({name: pd.Series(dtype=object) for name in BATCH_KEY_COLUMNS}, index=valid.index)
    return batch_candidates(valid, policy)


def plan_worklist(candidates: list[pd.DataFrame], policy: LadderPolicy) -> pd.DataFrame:
    """The worklist's IDR batches from its chunks' candidates (``chunk_candidates``), by row number."""
    return plan_batches(pd.concat(candidates) if candidates else chunk_candidates(pd.DataFrame(), policy), policy)


def with_batches(valid: pd.DataFrame, batches: pd.DataFrame) -> pd.DataFrame:
    """Validated claims with their IDR batch (``plan_worklist``): its id ("" alone) and size (1 alone)."""
    return valid.assign(
        **{
            IDR_BATCH_ID: batches[IDR_BATCH_ID].reindex(valid.index).fillna("").to_numpy(dtype=object),
            IDR_BATCH_SIZE: batches[IDR_BATCH_SIZE].reindex(valid.index).fillna(1.0).to_numpy(dtype="float64"),
        }
    )


def _numbered_copies(names: pd.Index) -> list[str]:
    """Column names with every later copy of a name marked with its position: ``x``, ``x (column 7)``."""
    seen: set[str] = set()
    unique = []
    for position, name in enumerate(names, start=1):
        unique.append(f"{name} (column {position})" if name in seen else name)
        seen.add(name)
    return unique


def rank_order(frame: pd.DataFrame | pa.Table) -> np.ndarray:
    """Positions of ``frame``'s rows by expected net recovery, highest first; ties in input row order."""
    net, row = rank_keys(frame)
    return np.lexsort((row, -net))


def rank_keys(frame: pd.DataFrame | pa.Table) -> tuple[np.ndarray, np.ndarray]:
    net = np.asarray(frame[RANK_COLUMN], dtype="float64")
    return np.where(np.isnan(net), -np.inf, net), np.asarray(frame[ROW_COLUMN], dtype="int64")


def parquet_metadata(path: Path) -> pq.FileMetaData:
    try:
        return pq.ParquetFile(path).metadata
    except Exception as error:  # pyarrow raises several unrelated types for a corrupt file
        raise TableReadError(f"{path}: not a readable Parquet file ({error})") from None


def input_rows(source: Path) -> int | None:
    """Data rows of a Parquet input from its metadata (for the progress bar); None for CSV."""
    files = table_files(source)
    if any(path.suffix.lower() == ".csv" for path in files):
        return None
    return sum(parquet_metadata(path).num_rows for path in files)
