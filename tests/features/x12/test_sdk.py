"""features.x12.sdk: x12sdk's annotation look-ups, memoized, answer exactly as the library's own."""

from __future__ import annotations

import importlib
import inspect

import pydantic
import x12sdk.models
import x12sdk.parsing

from features.x12 import sdk

#: Every model package recoup reads or writes: the shared segments and the 835, 837P and 837I sets.
PACKAGES = [
    "x12sdk.v5010.segments",
    *(
        f"x12sdk.v5010.x12_{name}.{module}"
        for name in ("835_005010X221A1", "837_005010X222A2", "837_005010X223A3")
        for module in ("segments", "loops", "transaction_set")
    ),
]


def _annotations():
    for package in PACKAGES:
        for _, model in inspect.getmembers(importlib.import_module(package), inspect.isclass):
            if issubclass(model, pydantic.BaseModel):
                yield from (field.annotation for field in model.model_fields.values())


def test_the_library_looks_up_the_memoized_functions():
    assert x12sdk.models._is_list_field.__wrapped__ is sdk.ORIGINAL_IS_LIST_FIELD
    assert x12sdk.parsing._is_list_field is x12sdk.models._is_list_field
    assert x12sdk.models._field_type.__wrapped__ is sdk.ORIGINAL_FIELD_TYPE
    installed = x12sdk.models._is_list_field
    sdk.install()  # a second install changes nothing
    assert x12sdk.models._is_list_field is installed


def test_memoized_answers_equal_the_library_s_on_every_field_of_every_model():
    annotations = list(_annotations())
    assert len(annotations) > 1000
    assert {sdk.ORIGINAL_IS_LIST_FIELD(annotation) for annotation in annotations} == {True, False}
    for _ in range(2):  # computed, then from the table
        for annotation in annotations:
            assert x12sdk.models._is_list_field(annotation) == sdk.ORIGINAL_IS_LIST_FIELD(annotation), annotation
            assert x12sdk.models._field_type(annotation) is sdk.ORIGINAL_FIELD_TYPE(annotation), annotation
