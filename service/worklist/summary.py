"""What a worklist run did: counts, and expected recovery by recommended action and by payer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.batching import batch_totals
from models.ladder import IDR_BATCH_ID
from service.worklist.chunks import ERROR_COLUMN, RANK_COLUMN

IDR_ACTION = "external_review"
IDR_NET_VALUE = f"net_value_{IDR_ACTION}"

TOP_PAYERS_SHOWN = 10
ERRORS_SHOWN = 5


@dataclass
class WorklistSummary:
    """What a worklist run did: counts, and expected recovery by recommended action and by payer."""

    output: Path
    rejects: Path
    rows_read: int = 0
    scored: int = 0
    rejected: int = 0
    seconds: float = 0.0
    by_action: pd.DataFrame = field(default_factory=lambda: _totals_frame("recommended_action"))
    by_payer: pd.DataFrame = field(default_factory=lambda: _totals_frame("payer_id"))
    #: per IDR batch: claims, recommending_idr and combined_expected_net_value (``models.batching``)
    by_batch: pd.DataFrame = field(default_factory=lambda: batch_totals(np.array([], dtype=object), [], []))
    #: the batches file (``idr_batch_id`` rows), when the run batched IDR disputes
    batches: Path | None = None
    sample_errors: list[str] = field(default_factory=list)

    @property
    def total_expected_recovery(self) -> float:
        return float(self.by_action["expected_net_recovery"].sum())

    def add(self, scored: pd.DataFrame, rejected: pd.DataFrame) -> None:
        """Count one chunk's scored and rejected rows."""
        self.rows_read += len(scored) + len(rejected)
        self.scored += len(scored)
        self.rejected += len(rejected)
        if len(scored):  # a file missing its columns scores nothing, and has no payer_id to group by
            # scored rows passed validation, whose payer normalisation (trim, upper-case) is repeated here
            payer = scored["payer_id"].astype("string").str.strip().str.upper()
            self.by_action = _add_totals(self.by_action, scored, scored["recommended_action"].astype("string"))
            self.by_payer = _add_totals(self.by_payer, scored, payer)
            if IDR_BATCH_ID in scored:
                chunk = batch_totals(
                    scored[IDR_BATCH_ID].to_numpy(dtype=object),
                    scored[IDR_NET_VALUE].to_numpy(dtype="float64"),
                    scored["recommended_action"].eq(IDR_ACTION).to_numpy(),
                )
                self.by_batch = _add_batches(self.by_batch, chunk)
        missing = ERRORS_SHOWN - len(self.sample_errors)
        if missing > 0:
            self.sample_errors += rejected[ERROR_COLUMN].head(missing).tolist()

    def merge(self, other: WorklistSummary) -> None:
        """Add the counts and totals of ``other`` (a later part of the same input)."""
        self.rows_read += other.rows_read
        self.scored += other.scored
        self.rejected += other.rejected
        self.by_action = _merge_totals(self.by_action, other.by_action)
        self.by_payer = _merge_totals(self.by_payer, other.by_payer)
        self.by_batch = _add_batches(self.by_batch, other.by_batch)
        self.sample_errors = (self.sample_errors + other.sample_errors)[:ERRORS_SHOWN]

    def to_dict(self) -> dict:
        def records(frame: pd.DataFrame) -> dict:
            return {
                str(key): {"claims": int(row["claims"]), "expected_net_recovery": float(row[RANK_COLUMN])}
                for key, row in frame.iterrows()
            }

        return {
            "output": str(self.output),
            "rejects": str(self.rejects),
            "rows_read": self.rows_read,
            "scored": self.scored,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "total_expected_recovery": self.total_expected_recovery,
            "by_action": records(self.by_action),
            "by_payer": records(self.by_payer),
            "batches": None if self.batches is None else str(self.batches),
            "idr_batches": {
                "batches": len(self.by_batch),
                "claims": int(self.by_batch["claims"].sum()),
                "recommending_idr": int(self.by_batch["recommending_idr"].sum()),
                "combined_expected_net_value": float(self.by_batch["combined_expected_net_value"].sum()),
            },
        }

    def to_text(self, top_payers: int = TOP_PAYERS_SHOWN) -> str:
        rate = self.rows_read / self.seconds if self.seconds else 0.0
        lines = [
            f"rows read      {self.rows_read:>12,}",
            f"scored         {self.scored:>12,}   -> {self.output}",
            f"rejected       {self.rejected:>12,}   -> {self.rejects}",
            f"time           {self.seconds:>12.1f} s ({rate:,.0f} claims/s)",
            f"total expected net recovery  ${self.total_expected_recovery:,.0f}",
        ]
        lines += _table_lines("by recommended action", self.by_action)
        payers = self.by_payer.sort_values(RANK_COLUMN, ascending=False)
        lines += _table_lines(
            f"by payer (top {min(top_payers, len(payers))} of {len(payers)})", payers.head(top_payers)
        )
        if self.batches is not None:
            batches = self.by_batch
            lines += [
                "",
                f"IDR batches    {len(batches):>12,}   -> {self.batches}",
                f"  claims in them {int(batches['claims'].sum()):>10,}, "
                f"{int(batches['recommending_idr'].sum()):,} recommending IDR, combined expected net value "
                f"${batches['combined_expected_net_value'].sum():,.0f}",
            ]
        if self.sample_errors:
            lines += ["", "first rejected rows:", *(f"  {error}" for error in self.sample_errors)]
        return "\n".join(lines)


def _totals_frame(key: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"claims": pd.Series(dtype="int64"), RANK_COLUMN: pd.Series(dtype="float64")},
        index=pd.Index([], dtype="string", name=key),
    )


def _add_totals(totals: pd.DataFrame, scored: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    if scored.empty:
        return totals
    chunk = scored.groupby(keys.to_numpy(), sort=False)[RANK_COLUMN].agg(["size", "sum"])
    return _merge_totals(totals, chunk.rename(columns={"size": "claims", "sum": RANK_COLUMN}))


def _merge_totals(totals: pd.DataFrame, more: pd.DataFrame) -> pd.DataFrame:
    if more.empty:
        return totals
    return totals.add(more, fill_value=0).astype({"claims": "int64"}).rename_axis(totals.index.name)


def _add_batches(totals: pd.DataFrame, more: pd.DataFrame) -> pd.DataFrame:
    """Batch totals of two parts of a worklist added (a batch may span chunks)."""
    if more.empty:
        return totals
    if totals.empty:
        return more
    return totals.add(more, fill_value=0).astype({"claims": "int64", "recommending_idr": "int64"})


def _table_lines(title: str, frame: pd.DataFrame) -> list[str]:
    lines = ["", f"{title:<30}{'claims':>8}   {'expected net recovery':>22}"]
    return lines + [
        f"  {key!s:<28}{int(row['claims']):>8,}   ${row[RANK_COLUMN]:>21,.0f}" for key, row in frame.iterrows()
    ]
