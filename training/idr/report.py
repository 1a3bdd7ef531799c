"""The summaries `recoup ingest-idr` and `recoup train-idr` print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from training.idr.features import NOT_FEATURES
from training.idr.ingest import IMPLAUSIBLE_RATIO

if TYPE_CHECKING:
    from training.idr.fit import IdrTrainResult
    from training.idr.ingest import IdrIngestResult


def format_idr_ingest_report(result: IdrIngestResult) -> str:
    """The ingest summary `recoup ingest-idr` prints."""
    report = result.to_report()
    lines = [
        f"IDR ingest: {report['rows_read']:,} rows read from {len(result.files)} file(s); "
        f"{report['rows_kept']:,} kept, {report['rows_dropped']:,} dropped"
    ]
    lines += [
        f"  {Path(file.path).name}: {file.rows_read:,} rows, quarter from the {file.quarter_from}"
        for file in result.files
    ]
    lines.append("Dropped rows by reason (each dropped row is listed in the .dropped.csv file):")
    lines += [
        f"  {reason:<40}{entry['rows']:>8,}  {entry['meaning']}"
        for reason, entry in report["dropped_by_reason"].items()
    ] or ["  none"]
    lines.append("Kept rows by quarter (rows without a prevailing offer ratio serve the outcome model only):")
    without = report["kept_without_prevailing_offer_ratio"]
    lines += [
        f"  {quarter}  {rows:>7,} rows  {without.get(quarter, 0):>7,} without offer ratios"
        for quarter, rows in report["quarters"].items()
    ]
    implausible = {column: rows for column, rows in report["implausible_offer_ratios_kept"].items() if rows}
    if implausible:
        lines.append(
            f"Offer ratios above {IMPLAUSIBLE_RATIO:g}x QPA kept as reported: "
            + ", ".join(f"{column} {rows:,}" for column, rows in implausible.items())
        )
    lines.append("Columns mapped (dataset column <- source columns):")
    lines += [f"  {target:<24}<- {' | '.join(sources)}" for target, sources in result.column_sources.items()]
    if result.missing_columns:
        lines.append("Not in the source (left empty, or derived): " + ", ".join(result.missing_columns))
    lines.append("Known source columns not used: " + (", ".join(result.ignored_columns) or "none"))
    lines.append("Unknown source columns (ignored): " + (", ".join(result.unknown_columns) or "none"))
    for target, count in result.unparseable_values.items():
        lines.append(f"Unreadable values blanked in {target}: {count:,}")
    for target, values in result.unrecognised_values.items():
        shown = ", ".join(f"{value!r} {rows:,}" for value, rows in list(values.items())[:5])
        lines.append(f"Unrecognised {target} values: {shown}" + (" ..." if len(values) > 5 else ""))
    lines.append(
        "Payer group from: " + ", ".join(f"{source} {rows:,}" for source, rows in result.payer_group_sources.items())
    )
    return "\n".join(lines)


METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "log_loss": "log loss",
    "brier": "Brier",
    "ece": "ECE",
    "mae_log": "MAE (log)",
    "median_ape": "median |% error|",
}


def _quarter_span(quarters: tuple[str, ...]) -> str:
    return quarters[0] if len(quarters) == 1 else f"{quarters[0]}-{quarters[-1]}"


def format_idr_train_report(result: IdrTrainResult, top_payers: int = 12) -> str:
    """The training summary `recoup train-idr` prints: test metrics beside the baselines, then benchmarks."""
    lines = [
        f"IDR models: run {result.run_id} in experiment {result.experiment!r} ({result.tracking_uri})",
        f"Dataset: {result.dataset_rows:,} line items, digest {result.dataset_digest}; model {result.model_uri}",
    ]
    for evaluation in result.evaluations:
        lines += [
            "",
            f"{evaluation.title}",
            f"  train {_quarter_span(evaluation.train_quarters)} ({evaluation.train_rows:,} rows), "
            f"test {_quarter_span(evaluation.test_quarters)} ({evaluation.test_rows:,} rows); "
            f"{evaluation.test_label_summary}",
        ]
        if evaluation.excluded_rows:
            lines.append(f"  excluded {evaluation.excluded_rows:,} rows: {evaluation.exclusion}")
        table = evaluation.metrics.rename(columns=METRIC_LABELS)
        lines += ["  " + line for line in table.to_string(float_format="{:.4f}".format).splitlines()]
    lines += [
        "",
        "Offers are chosen by the parties: the model given offers and these odds ratios are",
        "associations in observational data, not the effect of asking for more or less.",
    ]
    lines += [
        f"  {row.feature}: x2 offer goes with x{row.odds_ratio_per_doubling:.2f} odds of the provider "
        "prevailing (logistic regression, other features held fixed)"
        for row in result.offer_associations.itertuples()
    ]
    lines += ["", "Not used as features (leakage or availability):"]
    lines += [f"  {name}: {reason}" for name, reason in NOT_FEATURES.items()]
    shown = result.benchmarks.head(top_payers + 1)
    lines += [
        "",
        f"Payer IDR benchmarks, all quarters (win, default and offer/QPA shrunk toward all payers "
        f"by {shown['prior_strength'].iloc[0]:g} line items; full table in the run's artifacts):",
    ]
    columns = [
        "payer_id",
        "line_items",
        "provider_win_rate_raw",
        "provider_win_rate",
        "default_decision_rate",
        "median_prevailing_offer_ratio",
        "median_days",
        "median_idre_fee",
    ]
    table = shown.set_index("payer_group")[columns].fillna({"payer_id": ""})
    table.columns = ["payer_id", "lines", "win raw", "win", "default", "offer/QPA", "days", "fee $"]
    lines += ["  " + line for line in table.to_string(float_format="{:.2f}".format).splitlines()]
    return "\n".join(lines)
