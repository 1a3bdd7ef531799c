"""The request files in examples/ are the API's own examples: the bodies ``/docs`` shows for each route.

The README's commands post them (``curl -d @examples/claim.json``), so a change to the contract's examples
that is not made to the files too fails here rather than in a user's shell.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.app import create_app
from service.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def document() -> dict:
    return create_app(Settings(reload_interval_seconds=0)).openapi()


def _request_example(document: dict, path: str) -> dict:
    reference = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    examples = document["components"]["schemas"][reference.removeprefix(REF)]["examples"]
    assert len(examples) == 1, f"POST {path}: one example expected, the document has {len(examples)}"
    return examples[0]


def _load(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(("name", "path"), [("claim.json", "/v1/score"), ("outcomes.json", "/v1/outcomes")])
def test_each_example_file_is_the_openapi_example_of_its_route(document, name, path):
    assert _load(name) == _request_example(document, path)


def test_the_mlflow_invocation_carries_the_example_claim():
    # MLflow's scoring server takes records under "dataframe_records"; the record is the same claim.
    assert _load("invocations.json") == {"dataframe_records": [_load("claim.json")]}


def test_every_file_in_examples_is_checked_here():
    assert sorted(path.name for path in EXAMPLES.iterdir()) == ["claim.json", "invocations.json", "outcomes.json"]
