"""Analyst notebooks run top to bottom against the installed packages, so they never rot."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_executes(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert any("image/png" in output.get("data", {}) for output in outputs), "no plots"
    tables = [output["data"]["text/html"] for output in outputs if "text/html" in output.get("data", {})]
    assert tables, "no tables"
    for html in tables:  # formatted for a reader: percentages, multiples, counts; never 0.800057
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
        raw = [text for text in cells if re.fullmatch(r"-?\d+\.\d{4,}", text.strip())]
        assert not raw, f"unformatted numbers in a table: {raw[:5]}"
