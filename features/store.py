"""The store of claims, escalation attempts and predictions (SQLAlchemy 2 Core; SQLite or PostgreSQL).

Three tables (DESIGN.md, "The store and the loop"):

- ``claims``: the contract's claim columns, upserted by ``claim_id`` (the latest values win);
- ``attempts``: history rows, one per (``claim_id``, ``level``); a pending row may be resolved later, a
  resolved row never changes (``apply_outcomes`` reports the conflict instead);
- ``predictions``: one row per scoring of a claim: model name and version, ``as_of_date``, when it was
  served, where from (``api`` or ``worklist``), the recommended action and per level ``eligible``,
  ``p_success``, ``expected_allowed``, ``expected_recovery``, ``expected_days`` and ``net_value``.

The schema is created and upgraded by the Alembic migrations shipped in ``features/migrations`` when a
store is opened, so every replica and every command sees the same tables. An outcome for a claim the
store has never seen is stored together with its claim columns: a history row carries them (they are
required by the contract), so nothing is lost and no second message is needed.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from features.schema import CLAIM_COLUMNS, ESCALATION_LEVELS, RESOLVED_OUTCOMES, Kind, Level

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "recoup_store_version"
DEFAULT_STORE_FILE = "recoup-store.db"
#: Keys looked up per query when matching outcomes to stored attempts (well under SQLite's variable limit).
KEYS_PER_QUERY = 5_000
ROWS_PER_INSERT = 10_000
_UPGRADE_LOCK = threading.Lock()

#: Per-level numbers a prediction keeps, named as the scoring output names them (``p_success_written_appeal``).
PREDICTION_LEVEL_FIELDS = (
    "eligible",
    "p_success",
    "expected_allowed",
    "expected_recovery",
    "expected_days",
    "net_value",
)
ATTEMPT_FIELDS = ("level", "prior_level", "submitted_date", "resolved_date", "outcome", "final_allowed_amount")
#: The fields of an attempt compared when the same (claim_id, level) arrives again.
COMPARED_FIELDS = ("submitted_date", "resolved_date", "outcome", "final_allowed_amount")
CLAIM_COLUMN_NAMES = tuple(column.name for column in CLAIM_COLUMNS)


def level_columns(field_name: str) -> list[str]:
    return [f"{field_name}_{level.name}" for level in ESCALATION_LEVELS]


def _sql_type(kind: Kind) -> sa.types.TypeEngine:
    return {
        Kind.BOOL: sa.Boolean(),
        Kind.INT: sa.Integer(),
        Kind.FLOAT: sa.Float(),
        Kind.DATE: sa.Date(),
    }.get(kind, sa.String())


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only
metadata = sa.MetaData()
claims = sa.Table(
    "claims",
    metadata,
    *(
        sa.Column(
            column.name, _sql_type(column.kind), primary_key=column.name == "claim_id", nullable=not column.required
        )
        for column in CLAIM_COLUMNS
    ),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("claim_id", sa.String(), sa.ForeignKey("claims.claim_id"), primary_key=True),
    sa.Column("level", sa.SmallInteger(), primary_key=True),
    sa.Column("prior_level", sa.SmallInteger()),
    sa.Column("submitted_date", sa.Date(), nullable=False),
    sa.Column("resolved_date", sa.Date()),
    sa.Column("outcome", sa.String(), nullable=False),
    sa.Column("final_allowed_amount", sa.Float()),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("claim_id", sa.String(), sa.ForeignKey("claims.claim_id"), nullable=False, index=True),
    sa.Column("model_name", sa.String(), nullable=False),
    sa.Column("model_version", sa.String()),
    sa.Column("source", sa.String(), nullable=False),
    sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("as_of_date", sa.Date(), nullable=False, index=True),
    sa.Column("current_level", sa.SmallInteger(), nullable=False),
    sa.Column("current_allowed_amount", sa.Float(), nullable=False),
    sa.Column("recommended_action", sa.String(), nullable=False),
    sa.Column("expected_net_recovery", sa.Float()),
    *(
        sa.Column(name, sa.Boolean() if field_name == "eligible" else sa.Float())
        for field_name in PREDICTION_LEVEL_FIELDS
        for name in level_columns(field_name)
    ),
)
PREDICTION_COLUMNS = tuple(column.name for column in predictions.columns if column.name != "id")


def default_store_uri(tracking_uri: str | None) -> str:
    """A SQLite file beside a ``sqlite:///`` tracking store, else ``recoup-store.db`` in the working directory."""
    prefix = "sqlite:///"
    if tracking_uri and tracking_uri.startswith(prefix) and tracking_uri != prefix + ":memory:":
        return prefix + str(Path(tracking_uri[len(prefix) :]).with_name(DEFAULT_STORE_FILE))
    return prefix + DEFAULT_STORE_FILE


class OutcomeConflict(Exception):
    """Resolved attempts that an outcome would change: nothing was stored."""

    def __init__(self, conflicts: list[AttemptChange]):
        super().__init__(f"{len(conflicts)} outcome(s) would change a resolved attempt")
        self.conflicts = conflicts


@dataclass(frozen=True)
class AttemptChange:
    """What an outcome row did: ``inserted``, ``updated`` (a pending attempt resolved or changed),
    ``unchanged`` (sent again), or ``conflict`` (it differs from a resolved attempt in ``fields``)."""

    row: int
    claim_id: str
    level: str
    status: str
    fields: tuple[str, ...] = ()


@dataclass
class OutcomeChanges:
    changes: list[AttemptChange] = field(default_factory=list)

    def by_status(self, status: str) -> list[AttemptChange]:
        return [change for change in self.changes if change.status == status]

    @property
    def stored(self) -> list[AttemptChange]:
        return [change for change in self.changes if change.status in ("inserted", "updated")]


def _python(value: Any, is_date: bool) -> Any:
    """A frame value as the database driver wants it: None for missing, ``*_date`` columns as ``date``,
    timestamps as ``datetime``, no numpy scalars."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        if is_date:
            return value.date()
        return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of ``frame`` as driver-ready dicts over ``columns`` (missing columns become None)."""
    data = {name: frame[name].tolist() if name in frame else [None] * len(frame) for name in columns}
    dates = {name: name.endswith("_date") for name in columns}
    return [{name: _python(data[name][i], dates[name]) for name in columns} for i in range(len(frame))]


CLAIM_ROW_COLUMNS = (*CLAIM_COLUMN_NAMES, "updated_at")


def _dialect_insert(dialect_name: str) -> Callable[[sa.Table], Any]:
    """The dialect's ``insert``, which has ``on_conflict_do_update``."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


@dataclass(frozen=True)
class _DriverStatement:
    """An INSERT compiled once to the driver's SQL with positional parameters, run on rows of values
    (no dict per row, none of SQLAlchemy's per-row bookkeeping, which cost 2-3x the driver's own time),
    each value with the bind processing SQLAlchemy gives its column (SQLite's dates as ISO text,
    booleans checked).

    On SQLite a page of rows goes in one statement (``INSERT ... VALUES (...), (...), ...``): sqlite3's
    ``executemany`` releases the GIL for every row it steps and must take it back, so beside a busy
    scoring thread each row waits for a GIL hand-off and interrupts that thread as often (with a
    CPU-bound thread beside it, a page of 150 rows cost 5.5 ms of CPU and took 31% of the other thread's
    progress, against 4.4 ms and 13% as one statement). On PostgreSQL psycopg's ``executemany`` pipelines
    the rows and is the cheaper (one statement of many rows cost psycopg 5x the CPU, turning its
    placeholders into PostgreSQL's). Pages follow SQLAlchemy's own "insertmanyvalues" limits
    (``insertmanyvalues_page_size`` rows, ``insertmanyvalues_max_parameters``)."""

    head: str  # up to and with " VALUES "
    group: str  # one row's placeholders (with psycopg, each with its type's cast)
    tail: str  # after it (ON CONFLICT ...)
    columns: int
    rows_per_page: int
    one_statement_per_page: bool
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    @classmethod
    def compile(
        cls, statement: sa.Insert, table: sa.Table, names: Sequence[str], dialect: sa.Dialect
    ) -> _DriverStatement:
        # psycopg's own placeholders are pyformat (named); it takes positional ``%s`` as well
        positional = dialect if dialect.positional else type(dialect)(paramstyle="format")
        compiled = statement.compile(dialect=positional, column_keys=list(names))
        if tuple(compiled.positiontup) != tuple(names):
            raise ValueError(f"{table.name}: the statement's parameters are not in the columns' order")
        head, found, rest = compiled.string.partition(" VALUES ")
        if not found or " VALUES " in rest:
            raise ValueError(f"{table.name}: the statement has no single VALUES clause")
        group = rest[: _group_end(rest)]
        processors = []
        for index, name in enumerate(names):
            processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors.append((index, processor))
        rows = min(dialect.insertmanyvalues_page_size, dialect.insertmanyvalues_max_parameters // len(names))
        return cls(
            head + " VALUES ", group, rest[len(group) :], len(names), rows, dialect.name == "sqlite", tuple(processors)
        )

    def execute(self, connection: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (values in the compiled columns' order)."""
        for start in range(0, len(rows), self.rows_per_page):
            page = rows[start : start + self.rows_per_page]
            columns: list[Iterable[Any]] = list(zip(*page, strict=True))
            if len(columns) != self.columns:
                raise ValueError(f"rows of {len(columns)} values for {self.columns} columns")
            for index, processor in self.processors:
                columns[index] = map(processor, columns[index])
            processed = zip(*columns, strict=True)
            if self.one_statement_per_page:
                groups = ", ".join([self.group] * len(page))
                connection.exec_driver_sql(f"{self.head}{groups}{self.tail}", tuple(chain.from_iterable(processed)))
            else:
                connection.exec_driver_sql(f"{self.head}{self.group}{self.tail}", list(processed))


def _group_end(text: str) -> int:
    """Where the parenthesised group that ``text`` starts with ends."""
    if not text.startswith("("):
        raise ValueError("no parenthesised group")
    depth = 0
    for position, character in enumerate(text):
        depth += {"(": 1, ")": -1}.get(character, 0)
        if depth == 0:
            return position + 1
    raise ValueError("unbalanced parentheses")


class Store:
    """One database of claims, attempts and predictions. Thread-safe: each call takes its own connection."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, uri: str, *, upgrade: bool = True, **engine_options: Any) -> Store:
        """Connect to ``uri`` and (by default) bring its schema to the newest migration."""
        if uri.startswith(("postgresql://", "postgres://")):  # the driver this package installs (psycopg 3)
            uri = "postgresql+psycopg://" + uri.split("://", 1)[1]
        # parameters stay out of error messages: they hold claim values, and errors reach logs and /readyz
        engine = sa.create_engine(uri, hide_parameters=True, **engine_options)
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        if upgrade:
            store.upgrade()
        return store

    def upgrade(self) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        # Alembic's context is module-global, so one migration runs at a time in a process; across
        # processes (replicas) env.py takes a PostgreSQL advisory lock
        with _UPGRADE_LOCK, self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(sa.select(1))

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    # --- writing ------------------------------------------------------------------------------------------

    @cached_property
    def _claims_upsert(self) -> _DriverStatement:
        statement = _dialect_insert(self.engine.dialect.name)(claims)
        updates = {name: statement.excluded[name] for name in CLAIM_ROW_COLUMNS if name != "claim_id"}
        statement = statement.on_conflict_do_update(index_elements=["claim_id"], set_=updates)
        return _DriverStatement.compile(statement, claims, CLAIM_ROW_COLUMNS, self.engine.dialect)

    @cached_property
    def _predictions_insert(self) -> _DriverStatement:
        return _DriverStatement.compile(predictions.insert(), predictions, PREDICTION_COLUMNS, self.engine.dialect)

    def upsert_claims(self, connection: Connection, claim_rows: Iterable[Mapping[str, Any]]) -> None:
        """Insert or update claims by ``claim_id`` (the last row of a claim wins)."""
        self.upsert_claim_values(connection, [tuple(map(row.get, CLAIM_COLUMN_NAMES)) for row in claim_rows])

    def upsert_claim_values(self, connection: Connection, claim_values: Iterable[Sequence[Any]]) -> None:
        """``upsert_claims`` of rows given as values in ``CLAIM_COLUMN_NAMES`` order (``claim_id`` first).

        Rows are written in ``claim_id`` order: PostgreSQL locks each row it upserts, so two transactions
        that write overlapping claims in different orders can each wait on the other (a deadlock, one of
        them aborted); in one global order the second simply waits for the first."""
        now = datetime.now(UTC)
        latest = {values[0]: values for values in claim_values}
        self._claims_upsert.execute(connection, [(*latest[claim_id], now) for claim_id in sorted(latest)])

    def record_predictions(self, claim_rows: list[Mapping[str, Any]], prediction_rows: list[Mapping[str, Any]]) -> None:
        """Store scored claims and their predictions in one transaction."""
        self.record_prediction_values(
            [tuple(map(row.get, CLAIM_COLUMN_NAMES)) for row in claim_rows],
            [tuple(map(row.get, PREDICTION_COLUMNS)) for row in prediction_rows],
        )

    def record_prediction_values(
        self, claim_values: list[Sequence[Any]], prediction_values: list[Sequence[Any]]
    ) -> None:
        """``record_predictions`` of rows given as values in ``CLAIM_COLUMN_NAMES`` and ``PREDICTION_COLUMNS``
        order: the recorder's path, which builds no dict per row."""
        with self.transaction() as connection:
            self.upsert_claim_values(connection, claim_values)
            self._predictions_insert.execute(connection, prediction_values)

    def apply_outcomes(self, history: pd.DataFrame) -> OutcomeChanges:
        """Store validated history rows (``features.validation.validate_history``'s ``valid``, indexed by
        row number) in one transaction: new attempts are inserted, pending ones updated, identical ones
        left alone. Raises ``OutcomeConflict`` (and stores nothing) when a row would change a resolved
        attempt."""
        incoming = records(history, (*CLAIM_COLUMN_NAMES, *ATTEMPT_FIELDS))
        rows = [int(row) for row in history.index]
        with self.transaction() as connection:
            existing = self._existing_attempts(connection, {(r["claim_id"], r["level"]) for r in incoming})
            changes, inserts, updates = [], [], []
            now = datetime.now(UTC)
            for row, values in zip(rows, incoming, strict=True):
                key = (values["claim_id"], values["level"])
                attempt = {name: values[name] for name in ("claim_id", *ATTEMPT_FIELDS)} | {"updated_at": now}
                level_name = Level(values["level"]).name
                old = existing.get(key)
                if old is None:
                    inserts.append(attempt | {"recorded_at": now})
                    changes.append(AttemptChange(row, key[0], level_name, "inserted"))
                    continue
                differing = tuple(name for name in COMPARED_FIELDS if not _same(old[name], values[name]))
                if not differing:
                    changes.append(AttemptChange(row, key[0], level_name, "unchanged"))
                elif old["outcome"] in RESOLVED_OUTCOMES or old["outcome"] == "withdrawn":
                    changes.append(AttemptChange(row, key[0], level_name, "conflict", differing))
                else:
                    updates.append(attempt)
                    changes.append(AttemptChange(row, key[0], level_name, "updated", differing))
            conflicts = [change for change in changes if change.status == "conflict"]
            if conflicts:
                raise OutcomeConflict(conflicts)
            self.upsert_claims(connection, incoming)
            # attempts in key order too, for the same reason as claims (``upsert_claims``)
            inserts.sort(key=lambda attempt: (attempt["claim_id"], attempt["level"]))
            updates.sort(key=lambda attempt: (attempt["claim_id"], attempt["level"]))
            for start in range(0, len(inserts), ROWS_PER_INSERT):
                connection.execute(attempts.insert(), inserts[start : start + ROWS_PER_INSERT])
            if updates:
                statement = (
                    attempts.update()
                    .where(
                        attempts.c.claim_id == sa.bindparam("key_claim_id"),
                        attempts.c.level == sa.bindparam("key_level"),
                    )
                    .values({name: sa.bindparam(name) for name in (*ATTEMPT_FIELDS[1:], "updated_at")})
                )
                connection.execute(
                    statement, [u | {"key_claim_id": u["claim_id"], "key_level": u["level"]} for u in updates]
                )
        return OutcomeChanges(changes)

    def _existing_attempts(self, connection: Connection, keys: set[tuple[str, int]]) -> dict[tuple[str, int], dict]:
        found: dict[tuple[str, int], dict] = {}
        claim_ids = sorted({claim_id for claim_id, _ in keys})
        for start in range(0, len(claim_ids), KEYS_PER_QUERY):
            chosen = claim_ids[start : start + KEYS_PER_QUERY]
            result = connection.execute(sa.select(attempts).where(attempts.c.claim_id.in_(chosen)))
            for row in result.mappings():
                key = (row["claim_id"], int(row["level"]))
                if key in keys:
                    found[key] = dict(row)
        return found

    # --- reading ------------------------------------------------------------------------------------------

    def claim(self, claim_id: str) -> dict[str, Any] | None:
        """A claim's columns, its attempts (by level) and its predictions (oldest first), or None."""
        with self.engine.connect() as connection:
            claim = connection.execute(sa.select(claims).where(claims.c.claim_id == claim_id)).mappings().first()
            if claim is None:
                return None
            found = connection.execute(
                sa.select(attempts).where(attempts.c.claim_id == claim_id).order_by(attempts.c.level)
            ).mappings()
            made = connection.execute(
                sa.select(predictions).where(predictions.c.claim_id == claim_id).order_by(predictions.c.id)
            ).mappings()
            return {
                "claim": dict(claim),
                "attempts": [dict(row) for row in found],
                "predictions": [dict(row) for row in made],
            }

    def read_predictions(
        self,
        since: date | None = None,
        columns: Sequence[str] | None = None,
        claim_columns: Sequence[str] = CLAIM_COLUMN_NAMES,
    ) -> pd.DataFrame:
        """Predictions (``as_of_date`` on or after ``since``) in the order they were made, joined with
        their claim's columns."""
        chosen = [predictions.c[name] for name in (columns or PREDICTION_COLUMNS)]
        query = sa.select(*chosen, *(claims.c[name] for name in claim_columns if name != "claim_id")).join(
            claims, claims.c.claim_id == predictions.c.claim_id
        )
        if since is not None:
            query = query.where(predictions.c.as_of_date >= since)
        return self._frame(query.order_by(predictions.c.id))

    def read_history(self, since: date | None = None) -> pd.DataFrame:
        """Every stored attempt (submitted on or after ``since``) as a contract history table."""
        query = sa.select(
            *(claims.c[name] for name in CLAIM_COLUMN_NAMES), *(attempts.c[n] for n in ATTEMPT_FIELDS)
        ).join(claims, claims.c.claim_id == attempts.c.claim_id)
        if since is not None:
            query = query.where(attempts.c.submitted_date >= since)
        history = self._frame(query.order_by(attempts.c.claim_id, attempts.c.level))
        history["level"] = history["level"].map(lambda level: Level(int(level)).name)
        history["prior_level"] = history["prior_level"].map(
            lambda level: None if pd.isna(level) else Level(int(level)).name
        )
        return history

    def read_attempts(self) -> pd.DataFrame:
        """Every stored attempt with its claim's payer and initial allowed amount, levels as numbers, and
        ``prior_level``, ``allowed_before`` and ``success`` derived (``features.history.derive_attempts``)."""
        from features.history import derive_attempts

        query = sa.select(
            *(attempts.c[name] for name in ("claim_id", *ATTEMPT_FIELDS)),
            claims.c.payer_id,
            claims.c.initial_allowed_amount,
        ).join(claims, claims.c.claim_id == attempts.c.claim_id)
        frame = self._frame(query)
        frame["level"] = frame["level"].astype("int64")
        frame["prior_level"] = frame["prior_level"].astype("Float64")
        return derive_attempts(frame) if len(frame) else frame.assign(success=pd.Series(dtype=bool))

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            return {
                table.name: int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
                for table in (claims, attempts, predictions)
            }

    def _frame(self, query: sa.Select) -> pd.DataFrame:
        with self.engine.connect() as connection:
            frame = pd.read_sql(query, connection)
        if frame.empty:  # with no row read_sql has no value to type a column by: each gets its SQL type's
            frame = frame.astype({column.name: _empty_dtype(column.type) for column in query.selected_columns})
        for name in frame.columns:
            if name.endswith("_date"):
                frame[name] = pd.to_datetime(frame[name]).astype("datetime64[ns]")
        return frame


def _empty_dtype(sql_type: sa.types.TypeEngine) -> str:
    """The dtype ``read_sql`` gives a column of ``sql_type`` when rows come back (NULL-free)."""
    for kind, dtype in (
        (sa.Boolean, "bool"),
        (sa.Integer, "int64"),
        (sa.Float, "float64"),
        (sa.Numeric, "float64"),
        (sa.Date, "datetime64[ns]"),
        (sa.DateTime, "datetime64[ns]"),
    ):
        if isinstance(sql_type, kind):
            return dtype
    return "object"


def _same(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return old is None and new is None
    if isinstance(old, float) or isinstance(new, float):
        return bool(np.isclose(float(old), float(new), rtol=0, atol=0.005))  # cents
    return old == new


def _sqlite_pragmas(connection, _record) -> None:
    """WAL lets readers (monitoring) run beside the recorder's writes; writers wait instead of failing."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def describe_store_error(error: BaseException, limit: int = 300) -> str:
    """``error`` in one line without the SQL text and parameters the database driver appends (they name
    tables, queries and values: internals for a health endpoint, and possibly data)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = re.sub(r"\s*\[(SQL|parameters):.*", "", text)
    text = re.sub(r"\s*\(Background on this error at:[^)]*\)", "", text)
    text = re.sub(r"^\((?:sqlite3|psycopg2?|pymysql)\.[A-Za-z.]+\)\s*", "", text)
    message = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return message if len(message) <= limit else message[: limit - 3] + "..."
