"""x12sdk, with two of its per-instance recomputations memoized: the only change recoup makes to it.

On every loop it validates and every loop it serializes, x12sdk 2.2 works out again from the type
annotations which fields are lists (``models._is_list_field``, for the single-repeat wrapper and the
parser's field splitting) and which model type a field holds (``models._field_type``, for ``x12()``).
The answers depend on the annotation alone and the annotations are the models' own, created once with
the classes; walking ``typing.get_args`` for them again was a third of the import's and of the
simulator's X12 writing time. Both functions are replaced by the same functions behind a table keyed by
the annotation object, so every model validates and serializes exactly as before
(``tests/features/x12/test_sdk.py`` compares them on every field of every model recoup uses). The
parser's per-segment field layout is cached the same way in ``features.x12.reader``.

``install()`` runs before any X12 is parsed or written: ``features.x12.reader`` and ``training.x12_writer``
call it when they are imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import x12sdk.models
import x12sdk.parsing

ORIGINAL_IS_LIST_FIELD = getattr(x12sdk.models._is_list_field, "__wrapped__", x12sdk.models._is_list_field)
ORIGINAL_FIELD_TYPE = getattr(x12sdk.models._field_type, "__wrapped__", x12sdk.models._field_type)


def by_annotation(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``function`` of an annotation, computed once per annotation object. Keyed by identity (the
    annotation is kept alive beside its answer, so an id is never reused): hashing a ``typing``
    construct costs about as much as the walk it saves."""
    answers: dict[int, tuple[Any, Any]] = {}

    def cached(annotation: Any) -> Any:
        found = answers.get(id(annotation))
        if found is None:
            found = answers[id(annotation)] = (annotation, function(annotation))
        return found[1]

    cached.__wrapped__ = function
    return cached


def install() -> None:
    """Put the memoized functions where x12sdk looks them up (idempotent)."""
    if getattr(x12sdk.models._is_list_field, "__wrapped__", None) is ORIGINAL_IS_LIST_FIELD:
        return
    is_list_field = by_annotation(ORIGINAL_IS_LIST_FIELD)
    x12sdk.models._is_list_field = is_list_field
    x12sdk.parsing._is_list_field = is_list_field  # imported by name there
    x12sdk.models._field_type = by_annotation(ORIGINAL_FIELD_TYPE)
