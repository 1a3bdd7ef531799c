"""features.writer: tables written a frame at a time, never half-written under the final name."""

from __future__ import annotations

import pandas as pd
import pytest

from features.io import read_table
from features.writer import TableWriteError, TableWriter


@pytest.mark.parametrize("name", ["claims.parquet", "claims.csv", "claims"])
def test_frames_written_one_after_another_read_back_as_one_table(tmp_path, name):
    output = tmp_path / name
    with TableWriter(output, part_rows=3) as writer:
        for start in range(0, 7, 2):
            writer.write(pd.DataFrame({"claim_id": [f"C{i}" for i in range(start, min(start + 2, 7))]}))
    table, _ = read_table(output)
    assert table["claim_id"].astype(str).tolist() == [f"C{i}" for i in range(7)]
    assert not output.with_name(name + ".partial").exists()


def test_a_folder_of_parts_does_not_replace_a_file(tmp_path):
    output = tmp_path / "claims"
    output.write_text("someone's notes")
    with pytest.raises(TableWriteError, match="is a file"):
        TableWriter(output)
    assert output.read_text() == "someone's notes"


def test_an_error_while_writing_leaves_no_output(tmp_path):
    output = tmp_path / "claims.parquet"
    with pytest.raises(RuntimeError), TableWriter(output) as writer:
        writer.write(pd.DataFrame({"claim_id": ["C1"]}))
        raise RuntimeError("the import failed")
    assert not output.exists() and not output.with_name("claims.parquet.partial").exists()
