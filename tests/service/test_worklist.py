"""Worklist scoring on one machine: CSV and Parquet, ranking, rejects, the summary, crash safety."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from features.schema import ESCALATION_LEVELS
from features.validation import validate_claims
from models.batching import idr_batches
from models.bundle import output_columns
from models.pyfunc import score_frame
from service.worklist import csv_rows, merge_runs, rank_order, score_worklist
from service.worklist import run as worklist_run
from service.worklist import writer as worklist_writer
from tests.service import fixtures_worklist
from tests.service.fixtures_worklist import BAD_ROWS, write_csv, write_parquet_parts

worklist, worklist_bundle = fixtures_worklist.worklist, fixtures_worklist.worklist_bundle  # the fixtures

REQUIRED_COLUMNS = ["recommended_action", "expected_net_recovery", "reasons", "warnings"] + [
    f"{name}_{level.name}"
    for level in ESCALATION_LEVELS
    for name in ("eligible", "p_success", "expected_allowed", "expected_days", "net_value")
]
CHUNK_ROWS = 150


@pytest.fixture(scope="module")
def ranked_csv(tmp_path_factory, worklist, worklist_bundle):
    """The worklist as CSV, scored in chunks to a ranked CSV: (summary, output frame, rejects frame)."""
    folder = tmp_path_factory.mktemp("csv")
    source = write_csv(worklist, folder / "worklist.csv")
    summary = score_worklist(source, folder / "ranked.csv", worklist_bundle, chunk_rows=CHUNK_ROWS, progress=False)
    return (
        summary,
        read_ranked(folder / "ranked.csv"),
        pd.read_csv(folder / "ranked.rejects.csv"),
    )


def test_output_holds_the_input_columns_and_every_score_ranked(ranked_csv, worklist):
    summary, ranked, _ = ranked_csv
    assert list(ranked.columns) == ["row", *worklist.columns, *output_columns()]
    assert set(REQUIRED_COLUMNS) <= set(ranked.columns)
    assert len(ranked) == summary.scored == len(worklist) - len(BAD_ROWS)
    net = ranked["expected_net_recovery"].to_numpy()
    assert np.all(np.diff(net) <= 0), "ranked by expected net recovery, highest first"
    ties = ranked.groupby("expected_net_recovery")["row"].apply(lambda rows: rows.is_monotonic_increasing)
    assert ties.all(), "ties keep input order"
    original = worklist.set_index(np.arange(1, len(worklist) + 1))
    assert (ranked.set_index("row")["claim_id"] == original.loc[ranked["row"], "claim_id"].to_numpy()).all()


def assert_same_scores(scored: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Every scoring column of ``scored`` (read back from a file) equals ``expected``'s, row for row."""
    for column in output_columns():
        if expected[column].dtype.kind in "fb":
            np.testing.assert_allclose(
                scored[column].astype(float), expected[column].astype(float), rtol=1e-12, err_msg=column
            )
        elif expected[column].dtype.kind == "M":
            got = pd.to_datetime(scored[column]).astype("datetime64[ns]")
            assert got.equals(expected[column].astype("datetime64[ns]")), column
        else:
            got, wanted = (values.fillna("").astype(str) for values in (scored[column], expected[column]))
            assert (got == wanted).all(), column


def test_scores_equal_scoring_the_whole_table_at_once(tmp_path, worklist, worklist_bundle):
    """Without IDR batching, chunking, sorting and writing change nothing: the pyfunc's scores, row for row."""
    source = write_csv(worklist, tmp_path / "worklist.csv")
    score_worklist(
        source, tmp_path / "ranked.csv", worklist_bundle, chunk_rows=CHUNK_ROWS, progress=False, batch_idr=False
    )
    scored = read_ranked(tmp_path / "ranked.csv").set_index("row").sort_index()
    direct = score_frame(worklist_bundle, worklist)
    direct.index = np.arange(1, len(direct) + 1)
    assert_same_scores(scored, direct.loc[scored.index])
    assert not (tmp_path / "ranked.batches.csv").exists()


def test_batched_scores_equal_the_whole_table_batched_at_once(ranked_csv, worklist, worklist_bundle):
    """With IDR batching (the default), chunks change nothing either: batches span chunks, and each claim is
    priced as scoring the whole validated table with its batches (``models.batching.idr_batches``) would."""
    summary, ranked, _ = ranked_csv
    valid = validate_claims(worklist.set_axis(np.arange(1, len(worklist) + 1))).valid
    batches = idr_batches(valid, worklist_bundle.policy)
    assert (batches.size > 1).sum() >= 2, "the fixture worklist has batched claims"
    direct = worklist_bundle.score(valid.assign(idr_batch_size=batches.size, idr_batch_id=batches.batch_id))
    scored = ranked.set_index("row").sort_index()
    assert_same_scores(scored, direct.loc[scored.index])
    alone = worklist_bundle.score(valid)
    changed = direct["net_value_external_review"].ne(alone["net_value_external_review"]) & (batches.size > 1)
    assert changed.sum() == (batches.size > 1).sum(), "a batched claim pays its share of the batch's fees"
    table = pd.read_csv(summary.batches)
    assert summary.batches == summary.output.with_name("ranked.batches.csv")
    assert sorted(table["idr_batch_id"]) == sorted(set(batches.batch_id) - {""})
    by_batch = direct[batches.size > 1].groupby("idr_batch_id")
    assert table.set_index("idr_batch_id")["claims"].to_dict() == by_batch.size().to_dict()
    np.testing.assert_allclose(
        table.set_index("idr_batch_id")["combined_expected_net_value"].sort_index(),
        by_batch["net_value_external_review"].sum().fillna(0).sort_index(),
    )


def read_ranked(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"cpt_code": str, "place_of_service": str, "idr_batch_id": str})


def test_rejected_rows_go_to_the_rejects_file_with_their_reasons(ranked_csv, worklist):
    summary, ranked, rejects = ranked_csv
    assert tuple(rejects["row"]) == BAD_ROWS
    assert list(rejects.columns) == ["row", *worklist.columns, "errors"]
    assert rejects["errors"].str.contains("billed_amount").iloc[0]
    assert rejects["errors"].str.contains("state").iloc[1]
    assert rejects["errors"].str.contains("legal is the last level").iloc[2]
    assert not set(BAD_ROWS) & set(ranked["row"])
    assert summary.rejected == len(BAD_ROWS) and summary.rows_read == len(worklist)


def test_summary_totals_by_action_and_payer(ranked_csv):
    summary, ranked, _ = ranked_csv
    by_action = ranked.groupby("recommended_action")["expected_net_recovery"].sum()
    totals = summary.by_action["expected_net_recovery"].sort_index()
    np.testing.assert_allclose(totals, by_action.sort_index())
    assert summary.by_payer["claims"].sum() == summary.scored
    assert summary.total_expected_recovery == pytest.approx(ranked["expected_net_recovery"].sum())
    text = summary.to_text()
    for expected in ("rows read", "rejected", "by recommended action", "by payer", f"row {BAD_ROWS[0]},"):
        assert expected in text


def test_parquet_parts_give_the_same_output_as_csv(tmp_path, ranked_csv, worklist, worklist_bundle):
    _, from_csv, rejects_csv = ranked_csv
    source = write_parquet_parts(worklist, tmp_path / "parts")
    summary = score_worklist(
        source, tmp_path / "ranked.parquet", worklist_bundle, chunk_rows=CHUNK_ROWS, progress=False
    )
    ranked = pd.read_parquet(tmp_path / "ranked.parquet")
    assert summary.scored == len(from_csv)
    assert (ranked["row"].to_numpy() == from_csv["row"].to_numpy()).all()
    np.testing.assert_allclose(ranked["expected_net_recovery"], from_csv["expected_net_recovery"], rtol=1e-12)
    assert (ranked["recommended_action"].to_numpy() == from_csv["recommended_action"].to_numpy()).all()
    assert tuple(pd.read_parquet(tmp_path / "ranked.rejects.parquet")["row"]) == tuple(rejects_csv["row"])


def test_parts_with_columns_in_another_order_score_to_one_csv(tmp_path, ranked_csv, worklist, worklist_bundle):
    folder = tmp_path / "parts"
    folder.mkdir()
    half = len(worklist) // 2
    write_csv(worklist.iloc[:half], folder / "part-0.csv")
    write_csv(worklist.iloc[half:][list(reversed(worklist.columns))], folder / "part-1.csv")
    score_worklist(folder, tmp_path / "ranked.csv", worklist_bundle, chunk_rows=CHUNK_ROWS, progress=False)
    ranked = pd.read_csv(tmp_path / "ranked.csv", dtype={"cpt_code": str, "place_of_service": str})
    pd.testing.assert_frame_equal(ranked, ranked_csv[1])


def test_parquet_input_to_csv_output_writes_contract_dates(tmp_path, worklist, worklist_bundle):
    """Dates read from Parquet come out as ISO dates, so a ranked CSV can be scored again."""
    source = write_parquet_parts(worklist.head(60), tmp_path / "parts", parts=1)
    score_worklist(source, tmp_path / "ranked.csv", worklist_bundle, progress=False)
    ranked = pd.read_csv(tmp_path / "ranked.csv", dtype=str)
    assert ranked["service_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    again = score_worklist(tmp_path / "ranked.csv", tmp_path / "again.csv", worklist_bundle, progress=False)
    assert again.rejected == 0


def test_many_runs_are_merged_in_passes(tmp_path, monkeypatch, ranked_csv, worklist, worklist_bundle):
    monkeypatch.setattr(worklist_writer, "MAX_MERGE_FAN_IN", 3)
    source = write_csv(worklist, tmp_path / "worklist.csv")
    score_worklist(source, tmp_path / "ranked.csv", worklist_bundle, chunk_rows=100, progress=False)
    ranked = pd.read_csv(tmp_path / "ranked.csv")
    assert (ranked["row"].to_numpy() == ranked_csv[1]["row"].to_numpy()).all()


@pytest.fixture(scope="module")
def compiled_bundle(worklist_bundle, tmp_path_factory):
    """A copy of the session's bundle predicting with compiled forests (cached in a temporary folder)."""
    bundle = pickle.loads(pickle.dumps(worklist_bundle))
    bundle.models.compile(tmp_path_factory.mktemp("trees"))
    return bundle


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_worker_processes_write_the_same_files_as_one_process(tmp_path, worklist, compiled_bundle, suffix):
    source = write_csv(worklist, tmp_path / "worklist.csv")
    one = score_worklist(source, tmp_path / f"one{suffix}", compiled_bundle, chunk_rows=CHUNK_ROWS, progress=False)
    two = score_worklist(
        source, tmp_path / f"two{suffix}", compiled_bundle, chunk_rows=CHUNK_ROWS, progress=False, jobs=2
    )
    for name in ("", ".rejects"):
        assert (tmp_path / f"one{name}{suffix}").read_bytes() == (tmp_path / f"two{name}{suffix}").read_bytes()
    assert (tmp_path / f"two{suffix}").stat().st_size > 0
    summaries = [
        {
            key: value
            for key, value in summary.to_dict().items()
            if key not in ("output", "rejects", "batches", "seconds")
        }
        for summary in (one, two)
    ]
    assert summaries[0] == summaries[1]
    assert two.scored == len(worklist) - len(BAD_ROWS)


def test_compiled_trees_rank_and_score_like_lightgbm(tmp_path, ranked_csv, worklist, compiled_bundle):
    _, plain, _ = ranked_csv
    source = write_csv(worklist, tmp_path / "worklist.csv")
    score_worklist(source, tmp_path / "ranked.csv", compiled_bundle, chunk_rows=CHUNK_ROWS, progress=False)
    compiled = pd.read_csv(tmp_path / "ranked.csv", dtype={"cpt_code": str, "place_of_service": str})
    assert list(compiled.columns) == list(plain.columns)
    for column in compiled.columns:
        if pd.api.types.is_float_dtype(plain[column]):
            np.testing.assert_allclose(compiled[column], plain[column], rtol=1e-9, err_msg=column)
        else:
            assert compiled[column].equals(plain[column]), column


def test_csv_lines_are_the_rows_of_the_csv_file():
    """Per-row CSV lines, found in pyarrow's CSV text, survive quotes and separators in fields; line breaks
    are written escaped (spreadsheet safety), so no row spans lines."""
    table = pa.table(
        {
            "amount": [5.0, None, 1.25, 3.0],
            "text": ['say "hi"\nthen', "a,b", "two\nlines", ""],
            "note": ["x", None, "\r\n", '""'],
        }
    )
    header, lines = csv_rows(table)
    assert len(lines) == table.num_rows
    written = pa.BufferOutputStream()
    pa_csv.write_csv(worklist_writer._as_csv_text(table), written, write_options=worklist_writer.CSV_OPTIONS)
    assert header + b"".join(lines.to_pylist()) == written.getvalue().to_pybytes()
    assert all(line.as_py().count(b"\n") == 1 for line in lines)
    parsed = pa_csv.read_csv(pa.py_buffer(header + lines[2].as_py()))
    assert parsed.column("text").to_pylist() == ["two\\nlines"]


def test_k_way_merge_ranks_like_one_sort(tmp_path):
    """Runs of random sizes with many tied keys merge into exactly the order of one global sort."""
    rng = np.random.default_rng(0)
    frames, runs, first = [], [], 1
    for index, size in enumerate(rng.integers(0, 400, 9)):
        frame = pd.DataFrame(
            {"row": np.arange(first, first + size), "expected_net_recovery": rng.integers(0, 20, size).astype(float)}
        )
        first += size
        frame = frame.iloc[rank_order(frame)]
        runs.append(tmp_path / f"run-{index}.parquet")
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), runs[-1], row_group_size=64)
        frames.append(frame)
    merged = pa.concat_tables(list(merge_runs(runs, batch_rows=50))).to_pandas()
    everything = pd.concat(frames, ignore_index=True)
    expected = everything.iloc[rank_order(everything)].reset_index(drop=True)
    pd.testing.assert_frame_equal(merged, expected)


def _leftovers(folder):
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def test_an_interrupted_run_keeps_the_old_output_and_leaves_no_partial_file(
    tmp_path, monkeypatch, worklist, worklist_bundle
):
    source = write_csv(worklist, tmp_path / "worklist.csv")
    output = tmp_path / "ranked.csv"
    output.write_text("the previous run's output\n")
    calls = 0
    real = worklist_run.score_chunk

    def interrupted(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(worklist_run, "score_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        score_worklist(source, output, worklist_bundle, chunk_rows=CHUNK_ROWS, progress=False)
    assert output.read_text() == "the previous run's output\n"
    assert not (tmp_path / "ranked.rejects.csv").exists()
    assert _leftovers(tmp_path) == []


def test_a_killed_run_leaves_no_file_under_the_final_name_and_a_rerun_finishes(tmp_path, worklist, worklist_bundle):
    source = write_csv(worklist, tmp_path / "worklist.csv")
    output = tmp_path / "ranked.parquet"
    joblib.dump(worklist_bundle, tmp_path / "bundle.joblib")
    script = (
        "import joblib, sys; from service.worklist import score_worklist; score_worklist(sys.argv[1], "
        "sys.argv[2], joblib.load(sys.argv[3]), chunk_rows=20, progress=False)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(source), str(output), str(tmp_path / "bundle.joblib")], cwd=os.getcwd()
    )
    work = tmp_path / f".{output.name}.work"
    deadline = time.monotonic() + 60
    while not (work.exists() and len(list(work.glob("run-*.parquet"))) >= 2):
        assert process.poll() is None and time.monotonic() < deadline, "the run should still be going"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not output.exists() and not (tmp_path / "ranked.rejects.parquet").exists()
    assert _leftovers(tmp_path) == [work.name]  # a killed process cannot clean up: the rerun does

    summary = score_worklist(source, output, worklist_bundle, chunk_rows=CHUNK_ROWS, progress=False)
    assert _leftovers(tmp_path) == []
    assert len(pd.read_parquet(output)) == summary.scored == len(worklist) - len(BAD_ROWS)


def test_recoup_score_batches_idr_by_default_and_says_so(model_store, worklist, tmp_path):
    from typer.testing import CliRunner

    from service.cli import app

    source = write_csv(worklist, tmp_path / "worklist.csv")
    base = ["score", str(source), "--jobs", "1", "--no-compile", "--tracking-uri", model_store.tracking_uri]
    runner = CliRunner()
    batched = runner.invoke(app, [*base, "-o", str(tmp_path / "ranked.csv")])
    assert batched.exit_code == 0, batched.output
    assert "IDR batches" in batched.output and str(tmp_path / "ranked.batches.csv") in batched.output
    table = pd.read_csv(tmp_path / "ranked.batches.csv")
    assert len(table) > 0 and (table["claims"] >= 2).all() and (table["claims"] <= 25).all()

    alone = runner.invoke(app, [*base, "-o", str(tmp_path / "alone.csv"), "--no-batch-idr"])
    assert alone.exit_code == 0, alone.output
    assert "IDR batches" not in alone.output and not (tmp_path / "alone.batches.csv").exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_worklist_of_one_chunk_is_scored_without_starting_workers(
    tmp_path, worklist, compiled_bundle, monkeypatch, suffix
):
    """Starting workers costs more than scoring one chunk: ``jobs`` > 1 then scores in this process, with
    the same output."""
    import service.worklist.run as run

    small = worklist.head(CHUNK_ROWS)
    source = write_csv(small, tmp_path / "small.csv")
    if suffix == ".parquet":  # rows known from the metadata, not by reading
        source = tmp_path / "small.parquet"
        small.to_parquet(source)
    one = score_worklist(source, tmp_path / "one.csv", compiled_bundle, chunk_rows=CHUNK_ROWS, progress=False)
    monkeypatch.setattr(run, "worker_pool", lambda *args: pytest.fail("workers were started for one chunk"))
    two = score_worklist(source, tmp_path / "two.csv", compiled_bundle, chunk_rows=CHUNK_ROWS, progress=False, jobs=2)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert one.scored == two.scored == CHUNK_ROWS - one.rejected
