"""The ``recoup`` commands end a user's mistake with one line naming the file and the reason: no traceback."""

from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

from service.cli import app as cli


def run(*arguments: str, env: dict | None = None):
    result = CliRunner().invoke(cli, list(arguments), env=env)
    assert isinstance(result.exception, SystemExit) or result.exception is None, result.output
    assert "Traceback" not in result.output
    return result


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_train_on_a_file_with_no_valid_rows_is_one_error_line(tmp_path):
    source = tmp_path / "colours.csv"
    source.write_text("colour,size\nred,1\nblue,2\n")
    result = run("train", str(source), "--tracking-uri", f"sqlite:///{tmp_path / 'new.db'}")
    assert result.exit_code == 2
    assert error_lines(result) == [
        f"error: {source}: no valid rows to train on (2 of 2 rows rejected); first problem: header, column "
        "'claim_id', value '': required column is missing"
    ]


def test_train_on_an_unreadable_file_is_one_error_line(tmp_path):
    source = tmp_path / "empty.csv"
    source.write_bytes(b"")
    result = run("train", str(source))
    assert result.exit_code == 2
    assert error_lines(result) == [f"error: {source}: line 1: the file is empty (no header line)"]


@pytest.mark.parametrize(
    "command",
    [
        ["score", "{source}", "--output", "{out}", "--no-compile"],
        ["evaluate"],
        ["promote"],
    ],
)
def test_a_missing_sqlite_store_is_an_error_not_a_new_empty_store(command, tmp_path):
    source = tmp_path / "w.csv"
    source.write_text("claim_id\nC1\n")
    store = tmp_path / "nowhere.db"
    arguments = [part.format(source=source, out=tmp_path / "ranked.csv") for part in command]
    result = run(*arguments, "--tracking-uri", f"sqlite:///{store}")
    assert result.exit_code == 2
    assert error_lines(result) == [
        f"error: tracking store sqlite:///{store}: {store} does not exist (train a model first, or give the "
        "tracking URI of the store that holds it)"
    ]
    assert not store.exists()


def test_serve_on_a_missing_sqlite_store_stops_before_serving(tmp_path):
    store = tmp_path / "nowhere.db"
    result = run("serve", env={"RECOUP_TRACKING_URI": f"sqlite:///{store}"})
    assert result.exit_code == 2 and len(error_lines(result)) == 1 and "does not exist" in result.stderr
    assert not store.exists()


def test_score_without_the_model_in_the_store_is_one_error_line(tmp_path):
    store = tmp_path / "empty.db"
    sqlite3.connect(store).close()
    source = tmp_path / "w.csv"
    source.write_text("claim_id\nC1\n")
    uri = f"sqlite:///{store}"
    result = run("score", str(source), "--output", str(tmp_path / "r.csv"), "--no-compile", "--tracking-uri", uri)
    assert result.exit_code == 2
    assert error_lines(result) == [
        f"error: cannot load model models:/recoup@champion from {uri}: MlflowException: Registered Model with "
        "name=recoup not found"
    ]
