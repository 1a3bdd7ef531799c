"""The fuzz corpus (``scripts/build_fuzz_corpus.py``): every class of messy and hostile input, and random
mutations, through ``recoup score`` (in a process of its own) and ``POST /v1/worklists``.

The invariant for every file: no 500, no traceback; scored + rejected = the rows a strict reader counts
(Python's ``csv`` module in strict mode, one physical line a record; a Parquet file's row count); a file
beyond recovery (its header line, or a Parquet file that does not open) gets one file-level error
naming the file, the line and the reason.
"""

from __future__ import annotations

import codecs
import csv
import importlib.util
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.service.conftest import API_KEY

ROOT = Path(__file__).resolve().parents[2]
MUTATIONS = 24
WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[dict]]:
    spec = importlib.util.spec_from_file_location("build_fuzz_corpus", ROOT / "scripts" / "build_fuzz_corpus.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    folder = tmp_path_factory.mktemp("fuzz")
    manifest = script.build_corpus(folder, MUTATIONS)
    assert len(manifest) > 40 and len({entry["class"] for entry in manifest}) > 30
    return folder, manifest


# --- the oracle: what a strict reader makes of each file, written independently of features.io ---------


def strict_count(path: Path) -> tuple[int | None, int | None]:
    """(rows a strict reader counts, None) for a readable file; (None, the header's line number) for a
    CSV whose header line is beyond recovery; (None, None) for a Parquet file that does not open."""
    data = path.read_bytes()
    if path.suffix == ".parquet":
        try:
            return pq.ParquetFile(io.BytesIO(data)).metadata.num_rows, None
        except Exception:
            return None, None
    lines = [(number, raw.rstrip(b"\r\n")) for number, raw in enumerate(data.split(b"\n"), start=1)]
    lines = [(number, raw) for number, raw in lines if raw.strip()]  # blank lines are no records
    if not lines:
        return None, 1
    number, header = lines[0]
    if header.startswith(WIDE_BOMS):
        return None, number
    header = header.removeprefix(codecs.BOM_UTF8)
    try:
        text = header.decode("utf-8")
        if "\x00" in text:
            return None, number
        parsed = list(csv.reader([text], strict=True, skipinitialspace=True))
    except (UnicodeDecodeError, csv.Error):
        return None, number
    if len(parsed) != 1:
        return None, number
    return len(lines) - 1, None


def csv_records(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as file:
        return max(sum(1 for _ in csv.reader(file, strict=True)) - 1, 0)


# --- the CLI, in a process of its own ---------------------------------------------------------------------

_DRIVER = """
import json, logging, sys
from pathlib import Path
from typer.testing import CliRunner
from service.cli import app

corpus, uri, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
results = {}
for entry in json.loads((corpus / "manifest.json").read_text()):
    name = entry["file"]
    ranked = out / (name + ".ranked.csv")
    arguments = ["score", str(corpus / name), "-o", str(ranked), "--no-compile", "--jobs", "1", "--tracking-uri", uri]
    logging.root.handlers.clear()  # each run logs to its own captured stderr, as a fresh process would
    result = CliRunner().invoke(app, arguments)
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    results[name] = {
        "exit": result.exit_code,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "crash": repr(result.exception) if crashed else None,
        "ranked": str(ranked),
    }
(out / "results.json").write_text(json.dumps(results))
"""


@pytest.fixture(scope="module")
def cli_results(corpus, settings, tmp_path_factory) -> dict:
    folder, _ = corpus
    out = tmp_path_factory.mktemp("fuzz-out")
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(folder), settings.tracking_uri, str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=out,
    )
    assert done.returncode == 0, done.stderr[-3000:]  # an abort (an LLVM error, say) would show here
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


def test_the_cli_accounts_for_every_row_of_every_file(corpus, cli_results):
    folder, manifest = corpus
    broken = []
    for entry in manifest:
        name, path = entry["file"], folder / entry["file"]
        result = cli_results[name]
        where = f"{name} ({entry['class']}): exit {result['exit']}\n{result['stderr'][-1500:]}"
        assert result["crash"] is None, f"{where}\n{result['crash']}"
        assert "Traceback" not in result["stdout"] + result["stderr"], where
        count, header_line = strict_count(path)
        errors = [line for line in result["stderr"].splitlines() if line.startswith("error:")]
        if count is None:
            assert result["exit"] == 2 and len(errors) == 1, where
            assert errors[0].startswith(f"error: {path}: "), where
            if header_line is not None:
                assert errors[0].startswith(f"error: {path}: line {header_line}: "), where
            broken.append(name)
            continue
        assert result["exit"] in (0, 1) and not errors, where
        ranked = Path(result["ranked"])
        rejects = ranked.with_name(ranked.name.removesuffix(".csv") + ".rejects.csv")
        scored, rejected = csv_records(ranked), csv_records(rejects)
        assert scored + rejected == count, f"{where}\nscored {scored} + rejected {rejected} != {count}"
        summary = re.search(r"rows read +([\d,]+)\nscored +([\d,]+).*\nrejected +([\d,]+)", result["stdout"])
        assert summary and [int(n.replace(",", "")) for n in summary.groups()] == [count, scored, rejected], where
    assert {"empty.csv", "utf16.csv", "truncated.parquet", "not_parquet_at_all.parquet"} <= set(broken)


# --- the endpoint ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(settings):
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        yield client


MEDIA_TYPES = {".csv": "text/csv", ".parquet": "application/vnd.apache.parquet"}


def test_the_endpoint_accounts_for_every_row_of_every_file(corpus, api):
    folder, manifest = corpus
    for entry in manifest:
        name, path = entry["file"], folder / entry["file"]
        response = api.post("/v1/worklists", files={"file": (name, path.read_bytes(), MEDIA_TYPES[path.suffix])})
        where = f"{name} ({entry['class']}): {response.status_code} {response.text[:1500]}"
        assert response.status_code != 500 and "Traceback" not in response.text, where
        count, header_line = strict_count(path)
        if count is None:
            assert response.status_code == 422, where
            [problem] = response.json()["detail"]
            assert problem["msg"].startswith(f"{name}: "), where
            if header_line is not None:
                assert problem["msg"].startswith(f"{name}: line {header_line}: "), where
            continue
        assert response.status_code == 200, where
        read = int(response.headers["X-Recoup-Rows-Read"])
        scored, rejected = (
            int(response.headers["X-Recoup-Rows-Scored"]),
            int(response.headers["X-Recoup-Rows-Rejected"]),
        )
        assert read == scored + rejected == count, where
        assert len(response.headers["X-Recoup-Expected-Net-Recovery"]) < 20, where  # amounts are bounded
