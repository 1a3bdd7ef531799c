"""The ``recoup`` command: thin, typed Typer commands over plain pipeline functions.

Training code is imported inside the training subcommands only, so a serving image never needs it.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

app = typer.Typer(
    help="Out-of-network claim recovery: validate, simulate, train, promote, serve, score.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

InputPath = Annotated[Path, typer.Argument(help="CSV or Parquet file, or a directory of parts.")]
Seed = Annotated[int, typer.Option(help="Random seed; the same seed gives the same result.")]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _fail(message: object, code: int = 2) -> NoReturn:
    """End the command with one line on stderr: the file, the line and the reason, never a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _model_store(tracking_uri: str | None) -> str:
    """The tracking store of a command that reads a model: it must exist (an error line otherwise)."""
    from models.served import TrackingStoreMissing, existing_tracking_uri

    try:
        return existing_tracking_uri(tracking_uri)
    except TrackingStoreMissing as error:
        _fail(error)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False):
    _setup_logging(verbose)


@app.command()
def validate(
    source: InputPath,
    rejects: Annotated[Path | None, typer.Option(help="Write rejected rows with their errors here.")] = None,
    max_problems: Annotated[int, typer.Option(help="How many problems to list.")] = 20,
    encoding: Encoding = "utf-8",
) -> None:
    """Check a negotiation history against the data contract and print the report."""
    from features.io import TableReadError, read_table
    from features.validation import validate_history

    try:
        table, _ = read_table(source, encoding=encoding)
    except TableReadError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    result = validate_history(table)
    typer.echo(result.report.to_text(max_problems=max_problems))
    if rejects is not None and len(result.rejected):
        result.rejected.to_csv(rejects, index_label="row")
        typer.echo(f"rejected rows written to {rejects}")
    if not result.report.ok:
        raise typer.Exit(1)


class Engine(StrEnum):
    local = "local"
    dask = "dask"


EngineOption = Annotated[Engine, typer.Option(help="local, or dask (a cluster; scoring reads Parquet).")]
SchedulerOption = Annotated[str | None, typer.Option(help="Dask scheduler address (default: a LocalCluster).")]
WorkersOption = Annotated[int | None, typer.Option(help="LocalCluster worker processes (default: one per core).")]
Encoding = Annotated[
    str,
    typer.Option(help="Encoding of a CSV input (default UTF-8); a line that does not decode is a rejected row."),
]
TrackingUri = Annotated[
    str | None, typer.Option(envvar="MLFLOW_TRACKING_URI", help="MLflow tracking store (default sqlite:///mlflow.db).")
]
StoreUri = Annotated[
    str | None,
    typer.Option(
        envvar="RECOUP_STORE_URI",
        help="Store of claims, attempts and predictions (default recoup-store.db beside a sqlite tracking store).",
    ),
]


def _open_store(store_uri: str | None, tracking_uri: str | None):
    from features.store import Store, default_store_uri
    from service.settings import DEFAULT_TRACKING_URI

    return Store.open(store_uri or default_store_uri(tracking_uri or DEFAULT_TRACKING_URI))


DRIFT_HELP = (
    "Payers that change behaviour or are new. PAYER:LEVEL:FACTOR@DATE multiplies PAYER's odds of success at "
    "LEVEL (a level name, 1-5, or all) by FACTOR (below 1 = tougher) for attempts from DATE; PAYER:new@DATE "
    "gives PAYER no claims serviced before DATE. Items separated by commas, e.g. "
    "BCBS_TX:reconsideration:0.4@2025-06-01,HUMANA:new@2026-01-01"
)


@app.command()
def simulate(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Where to write: .parquet, .csv, or a folder (partitioned Parquet, for --engine dask).",
        ),
    ],
    claims: Annotated[int, typer.Option(help="Claims in the negotiation history.")] = 50_000,
    worklist: Annotated[int | None, typer.Option(help="Write N fresh unscored claims instead.")] = None,
    seed: Seed = 0,
    world_seed: Annotated[int, typer.Option(help="Which simulated world (its payers and their behaviour).")] = 2026,
    drift: Annotated[str | None, typer.Option(help=DRIFT_HELP)] = None,
    end: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="Last day of the history.")] = datetime(
        2025, 12, 31
    ),
    as_of: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="The worklist's as_of_date.")] = datetime(
        2026, 1, 15
    ),
    x12: Annotated[
        Path | None,
        typer.Option(help="Also write the claims as X12 835 and 837P files (and a history's appeals log) here."),
    ] = None,
    part_rows: Annotated[int, typer.Option(min=1, help="Rows per Parquet part when OUTPUT is a folder.")] = 25_000,
) -> None:
    """Write a simulated negotiation history (with truth_ columns) or a worklist of fresh claims."""
    import time

    from training.simulator import simulate_history, simulate_worklist
    from training.world import Drift, DriftSpecError, World

    try:
        world = World(world_seed, Drift.parse(drift or ""))
    except DriftSpecError as error:
        raise typer.BadParameter(str(error), param_hint="--drift") from None
    started = time.perf_counter()
    if worklist:
        frame = simulate_worklist(worklist, seed=seed, world=world, as_of=as_of.date())
    else:
        frame = simulate_history(claims, seed=seed, world=world, end=end.date())
    _write_table(frame, output, part_rows)
    what = "worklist claims" if worklist else "attempt rows"
    typer.echo(f"wrote {len(frame):,} {what} to {output} in {time.perf_counter() - started:.1f}s")
    if x12 is not None:
        from training.x12_writer import write_x12

        files = write_x12(frame, x12)
        typer.echo(
            f"wrote {files.claims_written:,} claims as {files.adjudications:,} 835 claim payments in "
            f"{len(files.remits):,} files ({x12 / 'remits'}), {len(files.claims):,} 837P files ({x12 / 'claims'})"
            + (f" and the appeals log {files.appeals}" if files.appeals else "")
        )


def _write_table(frame, output: Path, part_rows: int = 25_000) -> None:
    """``frame`` as CSV or Parquet by the suffix of ``output``; without one, as a folder of Parquet parts
    (``part-00000.parquet`` ...) of ``part_rows`` rows (``features.writer``)."""
    from features.writer import TableWriteError, write_table

    try:
        write_table(frame, output, part_rows)
    except TableWriteError as error:
        raise typer.BadParameter(str(error), "-o") from None


@app.command()
def train(
    source: InputPath,
    seed: Seed = 0,
    tracking_uri: TrackingUri = None,
    register: Annotated[bool, typer.Option(help="Register the bundle as model 'recoup'.")] = True,
    engine: EngineOption = Engine.local,
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
    reasons: Annotated[
        str,
        typer.Option(
            help="Reason attribution: path (Saabas) or shap (exact TreeSHAP, "
            "~45x dearer: a 1M worklist takes minutes, not seconds)."
        ),
    ] = "path",
) -> None:
    """Train the outcome models on a history, report metrics beside the baselines, log to MLflow."""
    from functools import partial

    from features.io import TableReadError
    from training.data import TrainingDataError
    from training.pipeline import train as train_pipeline

    train_pipeline = partial(train_pipeline, reason_method=reasons)
    try:
        if engine is Engine.dask:
            from service.dask_scoring import dask_client
            from training.fit_dask import fit_outcome_models_dask

            with dask_client(scheduler, workers) as client:
                result = train_pipeline(
                    source,
                    seed=seed,
                    tracking_uri=tracking_uri,
                    register=register,
                    fit=partial(fit_outcome_models_dask, client=client),
                )
        else:
            result = train_pipeline(source, seed=seed, tracking_uri=tracking_uri, register=register)
    except TableReadError as error:
        _fail(error)
    except TrainingDataError as error:
        _fail(f"{source}: {error}")
    typer.echo(result.summary())


@app.command()
def score(
    source: InputPath,
    output: Annotated[Path, typer.Option("--output", "-o", help="Ranked output: .csv or .parquet.")],
    rejects: Annotated[Path | None, typer.Option(help="Rejected rows (default: OUTPUT.rejects.EXT).")] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Claims per chunk; memory grows with it.")] = 40_000,
    engine: EngineOption = Engine.local,
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
    model_uri: Annotated[str, typer.Option(envvar="RECOUP_MODEL_URI", help="Model to score with.")] = (
        "models:/recoup@champion"
    ),
    tracking_uri: TrackingUri = None,
    jobs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes for the local engine, about 0.7 GB each "
            "(default: one per CPU this process may use).",
        ),
    ] = (len(os.sched_getaffinity(0))),
    record: Annotated[
        bool, typer.Option("--record", help="Record every scored claim's prediction in the store (source worklist).")
    ] = False,
    store_uri: StoreUri = None,
    compile_trees: Annotated[
        bool,
        typer.Option(
            "--compile/--no-compile",
            envvar="RECOUP_COMPILE_TREES",
            help="Score with compiled trees (same numbers, several times faster; compiled once per model "
            "version and cached in $RECOUP_COMPILED_TREES_DIR, else ~/.cache/recoup/trees).",
        ),
    ] = True,
    encoding: Encoding = "utf-8",
    batch_idr: Annotated[
        bool,
        typer.Option(
            "--batch-idr/--no-batch-idr",
            help="Group the claims that may share a batched Federal IDR dispute, price IDR at each claim's "
            "share of the batch's fees, and write the batches to OUTPUT.batches.EXT.",
        ),
    ] = True,
    claims_837: Annotated[
        list[Path] | None, typer.Option("--claims-837", help="X12 input: 837 files or directories (repeatable).")
    ] = None,
    payer_map: Annotated[Path | None, typer.Option(help="X12 input: payer map CSV (see import-x12).")] = None,
    default: Annotated[
        list[str] | None, typer.Option(help="X12 input: COLUMN=VALUE for a column no file gives (repeatable).")
    ] = None,
) -> None:
    """Rank a worklist by expected net recovery; rejected rows go to a rejects file.

    SOURCE may also be X12 835 remittances (a file or a directory, detected by content): they are imported
    as by `recoup import-x12` and the denied and underpaid claims are scored.
    """
    import contextlib
    import tempfile

    from features.x12 import is_x12_source

    with contextlib.ExitStack() as stack:
        if is_x12_source(source):
            from features.x12 import ImportError_, ImportOptions, parse_defaults, x12_scoring_table
            from features.x12.payers import PayerMapError

            table = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recoup-x12-"))) / "claims.parquet"
            try:
                options = ImportOptions(
                    list(claims_837 or []), payer_map, parse_defaults(list(default or [])), workers=jobs
                )
                typer.echo(x12_scoring_table([source], table, options).to_text())
            except (ImportError_, PayerMapError) as error:
                typer.echo(f"error: {error}", err=True)
                raise typer.Exit(2) from None
            source = table

        import mlflow
        from mlflow.exceptions import MlflowException

        from features.io import TableReadError
        from features.store import describe_store_error
        from models.served import load_served_bundle
        from service.worklist import score_worklist

        uri = _model_store(tracking_uri)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            bundle = load_served_bundle(model_uri, compile_trees=compile_trees)
        except MlflowException as error:  # no such model, version or alias; an unreadable store
            _fail(f"cannot load model {model_uri} from {uri}: {describe_store_error(error)}")
        try:
            if engine is Engine.dask:
                from service.dask_scoring import dask_client, score_worklist_dask

                with dask_client(scheduler, workers) as client:
                    summary = score_worklist_dask(
                        source, output, bundle, client, rejects=rejects, chunk_rows=chunk_rows, batch_idr=batch_idr
                    )
            else:
                summary = score_worklist(
                    source,
                    output,
                    bundle,
                    rejects=rejects,
                    chunk_rows=chunk_rows,
                    jobs=jobs,
                    encoding=encoding,
                    batch_idr=batch_idr,
                )
        except (TableReadError, ValueError) as error:  # unreadable input; CSV given to the dask engine
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
        typer.echo(summary.to_text())
        if summary.scored == 0:
            raise typer.Exit(1)
        if record:
            from mlflow import MlflowClient

            from service.model_holder import resolve_target
            from service.recording import record_worklist

            target = resolve_target(model_uri, MlflowClient(tracking_uri=uri, registry_uri=uri))
            store = _open_store(store_uri, uri)
            recorded = record_worklist(output, store, target.name, target.version)
            typer.echo(f"recorded {recorded:,} predictions of {target.name} v{target.version} in the store")


@app.command()
def evaluate(
    version: Annotated[str | None, typer.Option(help="Challenger version (default: newest).")] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Compare a registered version with the champion on the challenger's holdout, without promoting."""
    from training.promote import compare

    try:
        comparison, _ = compare(version, _model_store(tracking_uri))
    except LookupError as error:  # nothing registered
        _fail(error)
    typer.echo(comparison.summary())


@app.command()
def promote(
    version: Annotated[str | None, typer.Option(help="Challenger version (default: newest).")] = None,
    force: Annotated[bool, typer.Option(help="Promote even when the challenger is worse.")] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Make a registered version the champion if it is not worse than the current one."""
    from training.promote import promote as promote_version

    try:
        comparison = promote_version(version, force=force, tracking_uri=_model_store(tracking_uri))
    except LookupError as error:  # nothing registered
        _fail(error)
    typer.echo(comparison.summary())
    typer.echo("promoted to champion" if comparison.promoted else "refused: the champion stays")
    if not comparison.promoted:
        raise typer.Exit(1)


@app.command()
def bootstrap(
    history: Annotated[
        Path | None, typer.Option(help="Your history: trained on unless a registered version already was.")
    ] = None,
    claims: Annotated[
        int, typer.Option(envvar="RECOUP_DEMO_CLAIMS", help="Claims to simulate when no history is given.")
    ] = 60_000,
    tracking_uri: TrackingUri = None,
    seed: Seed = 0,
) -> None:
    """Make sure a champion model exists, trained on HISTORY when given (else on a simulated history).

    With a history, a version is trained on it and goes through the promotion gate unless a registered
    version was already trained on the same data (the dataset digest its training run logged)."""
    from training import tracking
    from training.data import history_digest
    from training.promote import promote as promote_version

    tracking.configure(tracking_uri)
    champion = tracking.champion_version()
    if history is None:
        if champion is not None:
            typer.echo(f"champion model exists (version {champion}); to train on your own history: --history FILE")
            return
        history = Path("data/demo_history.parquet")
        if not history.exists():
            from training.simulator import simulate_history

            typer.echo(f"no history given: simulating {claims:,} claims into {history}")
            _write_table(simulate_history(claims, seed=seed), history)
    elif champion is not None:
        digest = history_digest(history)
        trained = tracking.versions_trained_on(digest)
        if champion in trained:
            typer.echo(f"the champion (version {champion}) was trained on {history} (dataset digest {digest})")
            return
        if trained:
            typer.echo(
                f"version {trained[0]} was trained on {history} (dataset digest {digest}) but the promotion gate "
                f"kept version {champion} as champion; `recoup evaluate --version {trained[0]}` shows why, "
                f"`recoup promote --version {trained[0]} --force` serves it anyway"
            )
            return
        typer.echo(f"training on {history} (dataset digest {digest}); the champion is version {champion}")
    train(source=history, seed=seed, tracking_uri=tracking_uri, register=True)
    comparison = promote_version(None, tracking_uri=tracking_uri)
    typer.echo(comparison.summary())
    if comparison.promoted:
        typer.echo(f"version {comparison.challenger_version} is the champion")
    else:
        typer.echo(
            f"refused: version {comparison.champion_version} stays champion; "
            f"`recoup promote --version {comparison.challenger_version} --force` serves the new one anyway"
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    model_uri: Annotated[
        str | None, typer.Option(envvar="RECOUP_MODEL_URI", help="Model to serve (default models:/recoup@champion).")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="RECOUP_WORKERS",
            help="Server processes on the one port, each with its own copy of the model (about its size in "
            "memory each); metrics are summed across them.",
        ),
    ] = 1,
) -> None:
    """Serve the scoring API (FastAPI under uvicorn); other settings come from RECOUP_* variables."""
    from service.server import serve as run_server
    from service.settings import Settings

    if model_uri:
        os.environ["RECOUP_MODEL_URI"] = model_uri  # worker processes read their settings from the environment
    settings = Settings(model_uri=model_uri) if model_uri else Settings()
    _model_store(settings.tracking_uri)
    run_server(host, port, settings, workers=workers)


@app.command("import-x12")
def import_x12(
    sources: Annotated[list[Path], typer.Argument(help="835 files or directories (X12 is detected by content).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Scoring claims to write (.parquet or .csv).")],
    claims_837: Annotated[
        list[Path] | None, typer.Option("--claims-837", help="837P/837I files or directories (repeatable).")
    ] = None,
    appeals: Annotated[Path | None, typer.Option(help="Appeals log (CSV or Parquet) to join into a history.")] = None,
    history_out: Annotated[Path | None, typer.Option(help="History to write (needs --appeals).")] = None,
    payer_map: Annotated[Path | None, typer.Option(help="Payer map CSV; its rows win over the shipped table.")] = None,
    default: Annotated[
        list[str] | None, typer.Option(help="COLUMN=VALUE for a contract column no file gives (repeatable).")
    ] = None,
    hash_claim_ids: Annotated[
        bool, typer.Option(help="Write keyed hashes of the claim ids (salt from $RECOUP_CLAIM_ID_SALT).")
    ] = False,
    report: Annotated[Path | None, typer.Option(help="Also write the full report (every entry) here.")] = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Processes reading files side by side (default: one per CPU this process may use)."),
    ] = (len(os.sched_getaffinity(0))),
) -> None:
    """Import X12 835 remittances (+ 837 claims, + an appeals log) into the data contract.

    Writes the screened candidates (denied and underpaid claims) for scoring and, with --appeals, a
    training history; prints the report: counts by screening outcome and reason, and every problem.
    """
    from features.io import TableReadError
    from features.writer import TableWriter
    from features.x12 import ImportError_, ImportOptions, parse_defaults, stream_x12
    from features.x12.payers import PayerMapError

    if history_out is not None and appeals is None:
        typer.echo("error: --history-out needs --appeals", err=True)
        raise typer.Exit(2)
    try:
        options = ImportOptions(
            claims_837=list(claims_837 or []),
            payer_map=payer_map,
            defaults=parse_defaults(list(default or [])),
            hash_claim_ids=hash_claim_ids,
            workers=workers,
        )
        with TableWriter(output) as candidates:  # written as the claims are built: memory stays flat
            imported = stream_x12(list(sources), candidates.write, options, appeals)
    except (ImportError_, PayerMapError, TableReadError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    summary = imported.report.to_text()
    typer.echo(summary)
    typer.echo(f"wrote {imported.candidates:,} candidate claims to {output}")
    if history_out is not None:
        _write_table(imported.history, history_out)
        typer.echo(f"wrote {len(imported.history):,} history rows to {history_out}")
    if report is not None:
        report.write_text(imported.report.to_text(max_problems=len(imported.report.problems)) + "\n")
    if imported.report.claims == 0:
        raise typer.Exit(1)


outcomes_app = typer.Typer(help="Outcomes of escalation attempts, into the store.", no_args_is_help=True)
app.add_typer(outcomes_app, name="outcomes")


@outcomes_app.command("import")
def outcomes_import(
    source: InputPath,
    store_uri: StoreUri = None,
    tracking_uri: TrackingUri = None,
    max_problems: Annotated[int, typer.Option(help="How many problems to list.")] = 20,
) -> None:
    """Store history rows (outcomes) from a file: all or nothing, idempotent on (claim_id, level)."""
    from features.io import TableReadError, read_table
    from features.outcomes import import_outcomes

    try:
        table, _ = read_table(source)
    except TableReadError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    result = import_outcomes(_open_store(store_uri, tracking_uri), table)
    if result.rejected:
        typer.echo(f"{source}: nothing stored, rows were rejected", err=True)
        typer.echo(result.validation.report.to_text(max_problems=max_problems), err=True)
        raise typer.Exit(1)
    typer.echo(f"{source}: {result.summary()}", err=bool(result.conflicts))
    if result.conflicts:
        raise typer.Exit(1)


@app.command()
def monitor(
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Only predictions with an as_of_date from this day.")
    ] = None,
    model_uri: Annotated[
        str | None, typer.Option(help="Model whose training data drift is measured against (default the champion).")
    ] = None,
    store_uri: StoreUri = None,
    tracking_uri: TrackingUri = None,
    calibration_gap: Annotated[
        float, typer.Option(envvar="RECOUP_MONITOR_CALIBRATION_GAP", help="Alert above this payer calibration gap.")
    ] = 0.10,
    min_matured: Annotated[
        int, typer.Option(envvar="RECOUP_MONITOR_MIN_MATURED", help="Matured predictions a payer needs to alert.")
    ] = 30,
    z: Annotated[
        float, typer.Option(envvar="RECOUP_MONITOR_Z", help="A calibration gap must be this many standard errors out.")
    ] = 3.0,
    psi: Annotated[float, typer.Option(envvar="RECOUP_MONITOR_PSI", help="Alert above this drift PSI.")] = 0.2,
    unknown_share: Annotated[
        float, typer.Option(envvar="RECOUP_MONITOR_UNKNOWN_SHARE", help="Alert above this unknown payer/code share.")
    ] = 0.05,
    min_traffic: Annotated[
        int, typer.Option(envvar="RECOUP_MONITOR_MIN_TRAFFIC", help="Scored claims drift needs before it can alert.")
    ] = 1000,
    log_run: Annotated[
        bool, typer.Option(help="Log the report as a run in MLflow experiment recoup-monitoring.")
    ] = True,
    json_output: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
) -> None:
    """Calibration of matured predictions by level and payer, labels still awaited, drift, and alerts.

    Exits 3 when an alert is raised (so a scheduler can act on it).
    """
    import json

    from models.monitoring import Thresholds
    from training.monitor import run_monitor

    thresholds = Thresholds(calibration_gap, min_matured, z, psi, unknown_share, min_traffic)
    report, run_id = run_monitor(
        _open_store(store_uri, tracking_uri),
        model_uri=model_uri,
        thresholds=thresholds,
        since=since.date() if since else None,
        tracking_uri=tracking_uri,
        log_run=log_run,
    )
    typer.echo(report.to_text())
    if run_id:
        typer.echo(f"logged MLflow run {run_id} (experiment recoup-monitoring)")
    if json_output is not None:
        json_output.write_text(json.dumps(report.to_dict(), indent=2))
    if report.alerts:
        raise typer.Exit(3)


@app.command()
def retrain(
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Train on attempts submitted from this day (default: all)."),
    ] = None,
    seed: Seed = 0,
    force: Annotated[bool, typer.Option(help="Promote even when the challenger is worse.")] = False,
    store_uri: StoreUri = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Train on the store's history, compare with the champion on the newest matured outcomes, promote
    when not worse, and print what changed by payer."""
    from training.retrain import retrain as retrain_from_store

    try:
        result = retrain_from_store(
            _open_store(store_uri, tracking_uri),
            since=since.date() if since else None,
            seed=seed,
            tracking_uri=tracking_uri,
            force=force,
        )
    except LookupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(result.summary())
    if not result.comparison.promoted:
        raise typer.Exit(1)


@app.command("ingest-idr")
def ingest_idr(
    files: Annotated[list[Path], typer.Argument(exists=True, help="CMS Federal IDR public use file(s).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="IDR dataset to write (.parquet).")],
    quarter: Annotated[
        str | None, typer.Option(help="YYYYQn when neither a Quarter column nor the file name gives it.")
    ] = None,
    reports: Annotated[
        Path | None,
        typer.Option(help="Folder for the mapping report and the dropped rows (default: beside OUTPUT)."),
    ] = None,
) -> None:
    """Map CMS Federal IDR dispute line items to an IDR dataset, reporting every dropped row."""
    from training.idr import format_idr_ingest_report, write_idr_dataset
    from training.idr import ingest_idr as ingest

    result = ingest(files, quarter=quarter)
    written = write_idr_dataset(result, output, reports)
    typer.echo(format_idr_ingest_report(result))
    typer.echo("wrote " + ", ".join(map(str, written)))


@app.command("train-idr")
def train_idr(
    dataset: Annotated[Path, typer.Argument(exists=True, help="Dataset written by `recoup ingest-idr`.")],
    seed: Seed = 0,
    tracking_uri: TrackingUri = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "recoup-idr",
) -> None:
    """Train the IDR outcome and offer models on earlier quarters; report the latest beside baselines."""
    from training.idr import format_idr_train_report, read_idr_dataset, train_idr_model

    result = train_idr_model(read_idr_dataset(dataset), seed=seed, tracking_uri=tracking_uri, experiment=experiment)
    typer.echo(format_idr_train_report(result))


if __name__ == "__main__":
    app()
