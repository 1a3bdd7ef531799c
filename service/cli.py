"""The ``recoup`` command: thin, typed Typer commands over plain pipeline functions.

Training code is imported inside the training subcommands only, so a serving image never needs it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Out-of-network claim recovery: validate, simulate, train, promote, serve, score.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

InputPath = Annotated[Path, typer.Argument(help="CSV or Parquet file, or a directory of parts.")]
Seed = Annotated[int, typer.Option(help="Random seed; the same seed gives the same result.")]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False):
    _setup_logging(verbose)


@app.command()
def validate(
    source: InputPath,
    rejects: Annotated[Path | None, typer.Option(help="Write rejected rows with their errors here.")] = None,
    max_problems: Annotated[int, typer.Option(help="How many problems to list.")] = 20,
) -> None:
    """Check a negotiation history against the data contract and print the report."""
    from features.io import TableReadError, read_table
    from features.validation import validate_history

    try:
        table, _ = read_table(source)
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


if __name__ == "__main__":
    app()
