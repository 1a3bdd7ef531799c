"""The OpenAPI document is the API's reference: every field described, every response with an example."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from pydantic import BaseModel

from features.requests import EXAMPLE_CLAIM
from service import schemas
from service.app import create_app
from service.settings import Settings

REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def document() -> dict:
    return create_app(Settings(reload_interval_seconds=0)).openapi()


def _operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_field_of_every_model_is_described(document):
    undescribed = [
        f"{name}.{field}"
        for name, schema in document["components"]["schemas"].items()
        for field, spec in schema.get("properties", {}).items()
        if not spec.get("description", "").strip()
    ]
    assert not undescribed, f"fields without a description: {undescribed}"


def test_every_parameter_is_described(document):
    undescribed = [
        f"{label} {parameter['name']}"
        for label, operation in _operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["in"] != "header" and not parameter.get("description", "").strip()
    ]
    assert not undescribed


def _has_example(media: dict, document: dict) -> bool:
    if "example" in media or media.get("examples"):
        return True
    reference = media.get("schema", {}).get("$ref", "")
    return reference.startswith(REF) and bool(document["components"]["schemas"][reference[len(REF) :]].get("examples"))


def test_every_response_is_described_and_has_a_schema_and_an_example(document):
    problems = []
    for label, operation in _operations(document):
        for status, response in operation["responses"].items():
            where = f"{label} {status}"
            if not response.get("description", "").strip():
                problems.append(f"{where}: no description")
            content = response.get("content")
            if not content:
                problems.append(f"{where}: no content")
                continue
            for media_type, media in content.items():
                if not media.get("schema"):
                    problems.append(f"{where} {media_type}: empty schema")
                if not _has_example(media, document):
                    problems.append(f"{where} {media_type}: no example")
    assert not problems, "\n".join(problems)


def test_dollar_amounts_say_their_unit(document):
    step = document["components"]["schemas"]["LadderStep"]["properties"]
    for name in ("cost", "expected_allowed", "expected_recovery", "net_value"):
        assert "dollars" in step[name]["description"], name


def _response_models() -> list[type[BaseModel]]:
    return [
        value
        for value in vars(schemas).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == schemas.__name__
    ]


@pytest.mark.parametrize("model", _response_models(), ids=lambda model: model.__name__)
def test_each_model_has_an_example_that_it_accepts(model):
    found = model.model_json_schema().get("examples")
    assert found, f"{model.__name__} has no example"
    for example in found:
        model.model_validate(example)


def test_the_worklist_answer_is_a_described_multipart_body_with_documented_headers(document):
    answer = document["paths"]["/v1/worklists"]["post"]["responses"]["200"]
    assert list(answer["content"]) == ["multipart/mixed"]  # never JSON
    parts = answer["content"]["multipart/mixed"]["schema"]["properties"]
    assert set(parts) == {"ranked", "rejects", "batches"} and all(part["description"] for part in parts.values())
    assert set(answer["headers"]) == set(schemas.WORKLIST_HEADERS)
    assert all(header["description"] and header["schema"]["type"] for header in answer["headers"].values())


def test_a_real_worklist_answer_sends_exactly_the_documented_headers(client):
    body = pd.DataFrame([EXAMPLE_CLAIM]).to_csv(index=False).encode()
    response = client.post("/v1/worklists", files={"file": ("worklist.csv", io.BytesIO(body), "text/csv")})
    assert response.status_code == 200
    sent = {name.lower() for name in response.headers if name.lower().startswith("x-recoup-")}
    assert sent == {name.lower() for name in schemas.WORKLIST_HEADERS}
    assert int(response.headers["X-Recoup-Rows-Scored"]) == 1
