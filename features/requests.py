"""API request models, generated from the data contract's ``Column`` declarations.

``ClaimRequest`` is built with ``pydantic.create_model`` from ``features.schema.REQUEST_TABLE``: every field's
type, description, example, enum, pattern and bound comes from its ``Column``, so the OpenAPI schema, the
file reader and the validator can never drift apart. Values are read by ``features.values``' rules, as
the table validator reads them (trimmed, upper-cased where the column says so, choices matched
case-insensitively, blanks = missing; pydantic's own lax coercions never apply).

Pydantic only checks each field on its own. The request then becomes a one-row frame and goes through
``features.validation.validate_claims``, the same function that checks worklist files, so every rule
(cross-field ones included) is shared; its ``Problem``\\s come back as field-level errors in FastAPI's
``{"detail": [{"type", "loc", "msg"}]}`` shape. Error messages quote the contract's rule text and never
echo the submitted values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError

from features import values as rules
from features.schema import REQUEST_TABLE, Column, Kind, Level, parse_level
from features.validation import HEADER_ROW, Problem, ValidationResult, validate_claims

REQUEST_COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in REQUEST_TABLE)
DATE_COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in REQUEST_TABLE if column.kind is Kind.DATE)
COLUMNS_BY_NAME: dict[str, Column] = {column.name: column for column in REQUEST_TABLE}
REQUIRED_RULE = "is required"
MAX_UNKNOWN_FIELDS_NAMED = 5
MAX_FIELD_NAME_CHARS = 40


def _encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode (JSON may carry lone surrogates, which no table can store)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SCALAR_RULES = {
    Kind.STRING: rules.text_value,
    Kind.CODE: rules.text_value,
    Kind.CHOICE: rules.text_value,
    Kind.BOOL: rules.bool_value,
    Kind.INT: rules.number_value,
    Kind.FLOAT: rules.number_value,
    Kind.DATE: rules.date_value,
}


def _normaliser(column: Column):
    """A before-validator that reads a value by ``features.values``' rules, as ``features.validation``
    reads files: pydantic's own lax coercions (``"on"`` as true, a number as a date) never apply. What is
    left to pydantic is the column's pattern, bounds and choices, declared once in the schema."""
    canonical = {choice.upper(): choice for choice in column.choices or ()}
    parse = _SCALAR_RULES.get(column.kind)
    # the column's attributes as plain locals: this runs for every field of every request
    kind, required, rule, upper = column.kind, column.required, column.rule, column.upper

    def normalise(value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            # a blank optional value means "use the default", as an empty cell does in a file (a NaN, which
            # JSON does not have, breaks a number's rule rather than being taken for a missing value)
            return "" if required and value is not None else None
        if kind is Kind.LEVEL:
            if isinstance(value, bool):
                return value
            level = parse_level(value) if isinstance(value, (str, int, float)) else None
            return level.name if level is not None else value
        if isinstance(value, str) and not _encodable(value):
            raise PydanticCustomError("string_unicode", "invalid Unicode")
        try:
            parsed = parse(value)
        except rules.BrokenRule:
            raise PydanticCustomError("contract_rule", rule) from None
        if kind is Kind.CHOICE:
            return canonical.get(parsed.upper(), parsed)
        if kind is Kind.STRING or kind is Kind.CODE:
            return parsed.upper() if upper else parsed
        if kind is Kind.INT and parsed.is_integer():
            return int(parsed)
        return parsed

    return normalise


def _base_type(column: Column) -> Any:
    if column.kind in (Kind.CHOICE, Kind.LEVEL):
        return Literal[tuple(column.choices or ())]
    return {Kind.STRING: str, Kind.CODE: str, Kind.BOOL: bool, Kind.INT: int, Kind.FLOAT: float, Kind.DATE: date}[
        column.kind
    ]


def _constraints(column: Column) -> dict[str, Any]:
    constraints: dict[str, Any] = {}
    if column.kind in (Kind.STRING, Kind.CODE):
        constraints["min_length"] = 1
        if column.pattern:
            constraints["pattern"] = f"^(?:{column.pattern})$"
    if column.kind in (Kind.INT, Kind.FLOAT) and column.minimum is not None:
        constraints["gt" if column.exclusive else "ge"] = (
            int(column.minimum) if column.kind is Kind.INT else column.minimum
        )
    if column.kind in (Kind.INT, Kind.FLOAT) and column.maximum is not None:
        constraints["le"] = column.maximum
    if column.kind is Kind.FLOAT:
        constraints["allow_inf_nan"] = False
    return constraints


def _description(column: Column) -> str:
    text = column.description
    if isinstance(column.default, str) and column.default.startswith("="):
        text += f" Default: the value of `{column.default[1:]}`."
    elif column.default is not None:
        text += f" Default: `{column.default}`."
    return f"{text} Rule: {column.rule}."


def _field(column: Column) -> tuple[Any, Any]:
    annotation: Any = _base_type(column)
    if not column.required:
        annotation = annotation | None
    literal_default = column.default is not None and not (
        isinstance(column.default, str) and column.default.startswith("=")
    )
    if column.required:
        default: Any = ...
    elif literal_default:
        default = column.default
    else:
        default = None
    examples = [column.example] if column.example is not None else None
    info = Field(default, description=_description(column), examples=examples, **_constraints(column))
    return Annotated[annotation, BeforeValidator(_normaliser(column))], info


def _example() -> dict[str, Any]:
    return {column.name: column.example for column in REQUEST_TABLE if column.example is not None}


#: One claim to score: the contract's claim columns plus the request columns (current level and dates).
ClaimRequest: type[BaseModel] = create_model(
    "ClaimRequest",
    __config__=ConfigDict(
        extra="allow",  # unknown fields are ignored with a warning, as unknown file columns are
        title="ClaimRequest",
        json_schema_extra={"examples": [_example()]},
    ),
    __doc__="One out-of-network claim to score (the data contract's claim columns plus its current level).",
    **{column.name: _field(column) for column in REQUEST_TABLE},
)

#: A valid example request, built from the contract's examples.
EXAMPLE_CLAIM: dict[str, Any] = _example()


def unknown_fields(claim: BaseModel) -> list[str]:
    """Names of fields the contract does not know (ignored, like unknown file columns)."""
    return sorted(str(name) for name in (claim.model_extra or {}))


def unknown_fields_warning(names: Sequence[str]) -> str:
    """A warning naming ignored fields (a few, shortened: field names are not claim data)."""
    shown = [printable(name[:MAX_FIELD_NAME_CHARS]) for name in names[:MAX_UNKNOWN_FIELDS_NAMED]]
    more = f" and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
    return f"unknown field(s) ignored: {', '.join(shown)}{more}"


def printable(text: str) -> str:
    """``text`` safe to put in a JSON response (lone surrogates escaped)."""
    return text if _encodable(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def to_frame(claims: Sequence[BaseModel], index: Iterable[int] | None = None) -> pd.DataFrame:
    """Validated request models as a raw contract table (ISO date strings), one row per claim.

    Built column by column from plain lists: for one claim this is the cheapest frame pandas makes.
    """
    rows = range(1, len(claims) + 1) if index is None else list(index)
    data: dict[str, list] = {name: [] for name in REQUEST_COLUMN_NAMES}
    for claim in claims:
        values = claim.__dict__
        for name in REQUEST_COLUMN_NAMES:
            value = values.get(name)
            data[name].append(value.isoformat() if isinstance(value, date) else value)
    return pd.DataFrame(data, index=pd.Index(rows, name="row"))


def validate_requests(
    claims: Sequence[BaseModel], index: Iterable[int] | None = None, *, today: date | None = None
) -> ValidationResult:
    """Run the contract's table validation over request models: the API and files share every rule.

    The request models have already checked each field against its column's rule (``features.values``),
    so the table validator only types the columns (``parsed``) and checks the rules across columns, which
    gives the same result at a fraction of the cost (a test compares the two on valid and invalid claims).
    """
    return validate_claims(to_frame(claims, index), today=today, parsed=True)


def typed_claim(claim: BaseModel, *, today: date | None = None) -> dict[str, Any] | None:
    """One request's values as ``validate_requests`` types them (defaults filled, the level as its number),
    or None when the claim breaks a rule across fields: then ``validate_requests`` words the problems. The
    rules are ``features.validation``'s for request tables, on plain values; a test holds the two paths to
    the same verdicts and values.
    """
    today = today or date.today()
    values = {name: claim.__dict__.get(name) for name in REQUEST_COLUMN_NAMES}
    for column in REQUEST_TABLE:
        if values[column.name] is None and column.default is not None:
            default = column.default
            values[column.name] = (
                values[default[1:]] if isinstance(default, str) and default.startswith("=") else default
            )
    values["current_level"] = int(parse_level(values["current_level"]))
    service, billed = values["service_date"], values["billed_amount"]
    later_dates = [values[name] for name in ("initial_payment_date", "current_level_date", "as_of_date")]
    broken = (
        service > today
        or values["initial_allowed_amount"] > billed
        or any(later is not None and later < service for later in later_dates)
        or values["current_allowed_amount"] > billed
        or (
            values["as_of_date"] is not None
            and values["current_level_date"] is not None
            and values["as_of_date"] < values["current_level_date"]
        )
        or values["current_level"] >= int(Level.legal)
    )
    if broken:
        return None
    if values["as_of_date"] is None:
        values["as_of_date"] = today
    return values


def error(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> dict[str, Any]:
    """One field-level error in FastAPI's shape (without the input: errors never echo claim data)."""
    return {"type": kind, "loc": list(loc), "msg": msg}


def problem_errors(
    problems: Iterable[Problem], loc: Sequence[str | int] = ("body",)
) -> dict[int, list[dict[str, Any]]]:
    """Validation problems as field-level errors, grouped by row number."""
    errors: dict[int, list[dict[str, Any]]] = {}
    for problem in problems:
        where = [*loc, problem.column] if problem.column else list(loc)
        kind = "missing" if problem.rule in (REQUIRED_RULE, "required column is missing") else "value_error"
        errors.setdefault(problem.row, []).append(error(where, problem.rule, kind))
    return errors


def request_problem_errors(
    result: ValidationResult, loc: Sequence[str | int] = ("body",)
) -> dict[int, list[dict[str, Any]]]:
    """The problems of a validated request frame, by row; file-level problems go to every rejected row."""
    by_row = problem_errors((p for p in result.report.problems if p.row != HEADER_ROW), loc)
    file_level = problem_errors(result.report.file_problems, loc).get(HEADER_ROW, [])
    for row in result.rejected.index:
        by_row.setdefault(int(row), []).extend(file_level)
    return by_row


def pydantic_errors(errors: Iterable[dict[str, Any]], loc: Sequence[str | int] = ()) -> list[dict[str, Any]]:
    """Pydantic errors in FastAPI's shape, with the contract's rule text for contract fields.

    ``loc`` is prepended to each error's location. An error on a contract field reads as the file
    validator would word it (``"is required"`` or the column's rule); other errors keep pydantic's message.
    """
    converted = []
    for item in errors:
        where = [*loc, *item.get("loc", ())]
        kind = str(item.get("type", "value_error"))
        message = str(item.get("msg", "invalid value"))
        field = _contract_field(where)
        if field is not None:
            column = COLUMNS_BY_NAME[field]
            missing = kind == "missing" or (column.required and item.get("input", "") in (None, ""))
            if missing:
                kind, message = "missing", REQUIRED_RULE
            else:
                message = column.rule
        converted.append(error(where, message, kind))
    return converted


def _contract_field(loc: Sequence[str | int]) -> str | None:
    """The contract column an error location points at (its last string part), if any."""
    names = [part for part in loc if isinstance(part, str)]
    if names and names[-1] in COLUMNS_BY_NAME:
        return names[-1]
    return None
