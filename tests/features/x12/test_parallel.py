"""Files read side by side (``ImportOptions.workers``), and claims built a few at a time
(``importer.CHUNK_ROWS``), import exactly what one process building every claim at once imports: the same
claims, screening, re-adjudications, history and report, entry for entry and in the same order."""

from __future__ import annotations

import pandas as pd
import pytest

from features.writer import TableWriter
from features.x12 import ImportError_, ImportOptions, import_x12, importer, stream_x12, x12_scoring_table
from tests.features.x12.builders import claim, interchange, remit
from training.simulator import simulate_history
from training.x12_writer import write_x12


def _bad_files(folder):
    """Defects the reader reports at several levels, among the simulator's files."""
    bad = claim("BAD1", charge="1000.00")
    bad[0] = bad[0].replace("*1000.00*", "*10O0.00*")
    (folder / "amount.835").write_text(interchange(remit(claim("OK1"), bad, claim("OK2"))))
    (folder / "count.835").write_text(interchange(remit(claim("GOOD1"))).replace("SE*16*0001", "SE*15*0001"))
    (folder / "notes.csv").write_text("claim_id,level\nC1,1\n")


def _imports(folder, files, workers: int):
    return import_x12(
        [folder / "remits"], ImportOptions(claims_837=[folder / "claims"], workers=workers), appeals=files.appeals
    )


def _assert_same(one, two) -> None:
    pd.testing.assert_frame_equal(one.result.claims, two.result.claims)
    pd.testing.assert_frame_equal(one.result.screening, two.result.screening)
    pd.testing.assert_frame_equal(one.result.readjudications, two.result.readjudications)
    pd.testing.assert_frame_equal(one.history, two.history)
    assert one.report == two.report


def test_two_workers_import_what_one_imports(tmp_path):
    files = write_x12(simulate_history(250, seed=3), tmp_path)
    _bad_files(tmp_path / "remits")
    one, two = (_imports(tmp_path, files, workers) for workers in (1, 2))
    assert len(one.result.claims) > 200 and one.report.problems  # real claims and real defects
    _assert_same(one, two)


def test_claims_built_in_chunks_import_what_one_pass_imports(tmp_path, monkeypatch):
    history = simulate_history(250, seed=3)
    future = history["claim_id"].isin(history["claim_id"].unique()[::30])
    history.loc[future, "service_date"] = pd.Timestamp("2099-01-01")  # rejected by the contract
    files = write_x12(history, tmp_path)
    _bad_files(tmp_path / "remits")
    log = pd.read_csv(files.appeals)
    log.loc[log.index[::20], "Plan Type"] = "EPO"  # against what CLP06 says: conflicts with the X12
    log.to_csv(files.appeals, index=False)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 10**9)
    whole = _imports(tmp_path, files, 1)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 7)
    chunked = _imports(tmp_path, files, 1)
    rules = {problem.rule for problem in whole.report.problems}
    assert "claim does not meet the data contract; not imported" in rules
    assert any(rule.startswith("column 'plan_type' differs") for rule in rules), rules
    _assert_same(whole, chunked)


def test_the_streamed_import_writes_what_the_in_memory_import_holds(tmp_path, monkeypatch):
    """``stream_x12`` (``recoup import-x12``, ``recoup score``) writes each chunk's candidates as they are
    built and keeps only the appeals log's claims: the written table, the history and the report are
    those of one in-memory pass, whatever the chunks and the format."""
    files = write_x12(simulate_history(250, seed=3), tmp_path)
    _bad_files(tmp_path / "remits")
    monkeypatch.setattr(importer, "CHUNK_ROWS", 10**9)
    whole = _imports(tmp_path, files, 1)
    expected = whole.result.candidates
    assert 50 < len(expected) < len(whole.result.claims)  # candidates and claims screened out
    monkeypatch.setattr(importer, "CHUNK_ROWS", 7)
    options = ImportOptions(claims_837=[tmp_path / "claims"], workers=2)
    for name in ("claims.parquet", "claims.csv", "parts"):
        output = tmp_path / "out" / name
        with TableWriter(output, part_rows=40) as writer:
            streamed = stream_x12([tmp_path / "remits"], writer.write, options, appeals=files.appeals)
        assert streamed.candidates == len(expected)
        assert streamed.report == whole.report
        pd.testing.assert_frame_equal(streamed.history, whole.history)
        if name == "claims.csv":
            assert output.read_text() == expected.to_csv(index=False, date_format="%Y-%m-%d")
        else:
            parts = sorted(output.glob("part-*.parquet")) if name == "parts" else [output]
            assert len(parts) == (-(-len(expected) // 40) if name == "parts" else 1)
            written = pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)
            pd.testing.assert_frame_equal(written, expected)
    assert not list((tmp_path / "out").glob("*.partial"))


def test_a_failed_streamed_import_leaves_no_output(tmp_path):
    (tmp_path / "remits").mkdir()
    (tmp_path / "remits" / "one.835").write_text(interchange(remit(claim("OK1"))))
    output = tmp_path / "claims.parquet"
    with pytest.raises(ImportError_, match="no claims to score"):
        x12_scoring_table([tmp_path / "remits"], output, ImportOptions())  # no place of service: none valid
    assert list(tmp_path.iterdir()) == [tmp_path / "remits"]
