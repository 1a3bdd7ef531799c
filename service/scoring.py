"""Scoring requests: single claims and batches, validated by the contract's rules and scored with the
escalation ladder and a recommendation, as ``Outcome`` values the routes turn into responses.

Validation and scoring are CPU-bound work: they run in worker threads, never on the event loop. Each call
of the model has a fixed cost much larger than the cost per claim, so single-claim requests that arrive
while a call is running are coalesced into the next call (``ScoreCoalescer``): an idle service answers a
lone request at once, a busy one scores the queued claims together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from features.columns import claim_columns
from features.requests import (
    ClaimRequest,
    error,
    printable,
    pydantic_errors,
    request_problem_errors,
    typed_claim,
    unknown_fields,
    unknown_fields_warning,
    validate_requests,
)
from models.result import ScoreResult
from service.model_holder import LoadedModel
from service.observability import Metrics, describe_exception

logger = logging.getLogger(__name__)

SCORING_FAILED = "the claim could not be scored"
SCORING_ERROR = "scoring_error"
MAX_FAILURES_IN_A_ROW = 3


@dataclass
class Outcome:
    """One claim's answer: a response, or field-level errors."""

    claim_id: str | None
    response: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None
    failed: bool = False  # the claim was valid but scoring it failed (a server-side error)
    # the claim as scored, for the recorder: its typed values on the columnar path, else its request model
    scored: dict[str, Any] | BaseModel | None = None


# --- scoring (runs in worker threads) -----------------------------------------------------------------


def _response(result: ScoreResult, position: int, claim: BaseModel, model: LoadedModel) -> dict[str, Any]:
    """Claim ``position`` of ``result`` as a ``ScoreResponse`` body, built straight from the structured
    result; unknown request fields add a warning."""
    body = result.response(position)
    extra = unknown_fields(claim)
    if extra:
        body["warnings"].append(unknown_fields_warning(extra))
    return {"claim_id": claim.claim_id, **body, "model": {"name": model.name, "version": model.version}}


def _score_valid(
    model: LoadedModel, claims: list[BaseModel], positions: list[int], loc: tuple[str | int, ...] | None
) -> dict[int, Outcome]:
    """Validate request models with the contract's table rules, then score the valid ones together.

    ``positions`` are the claims' places in the request; ``loc`` prefixes error locations (the position
    is added after it for batches, ``None`` means a single claim at ``("body",)``).
    """
    rows = [position + 1 for position in positions]  # row 0 is the validator's "header" row
    try:
        result = validate_requests(claims, rows)
    except Exception as failure:  # a validator bug must not fail the other claims
        logger.error("validation failed", extra=describe_exception(failure))
        if len(claims) == 1:
            failed = error(_root(loc, positions[0]), SCORING_FAILED, SCORING_ERROR)
            return {positions[0]: Outcome(claims[0].claim_id, errors=[failed], failed=True)}
        outcomes = {}
        for claim, position in zip(claims, positions, strict=True):
            outcomes.update(_score_valid(model, [claim], [position], loc))
        return outcomes
    outcomes: dict[int, Outcome] = {}
    problems = request_problem_errors(result, ())
    for claim, position, row in zip(claims, positions, rows, strict=True):
        if row in problems:
            prefix = ("body",) if loc is None else (*loc, position)
            errors = [error((*prefix, *item["loc"]), item["msg"], item["type"]) for item in problems[row]]
            outcomes[position] = Outcome(claim.claim_id, errors=errors)
    valid = result.valid
    if len(valid):
        by_row = {row: claim for claim, row in zip(claims, rows, strict=True)}
        for row, scored in _score_rows(model, valid).items():
            claim = by_row[row]
            if scored is None:
                failed = error(_root(loc, row - 1), SCORING_FAILED, SCORING_ERROR)
                outcomes[row - 1] = Outcome(claim.claim_id, errors=[failed], failed=True)
                continue
            outcomes[row - 1] = Outcome(claim.claim_id, response=_response(*scored, claim, model), scored=claim)
    return outcomes


def _root(loc: tuple[str | int, ...] | None, position: int) -> list[str | int]:
    return ["body"] if loc is None else [*loc, position]


def _score_rows(model: LoadedModel, valid: pd.DataFrame) -> dict[int, tuple[ScoreResult, int] | None]:
    """Each row's result and its position in it, by row number (``None`` for a claim that could not be
    scored).

    When the whole call fails, rows are retried one by one so that one bad claim cannot fail the others;
    after a few failures in a row the failure is taken to be the model's, and the rest are not retried.
    """
    try:
        result = model.score_columns(claim_columns(valid))
        return {row: (result, position) for position, row in enumerate(valid.index)}
    except Exception as failure:
        logger.error("scoring failed", extra={**describe_exception(failure), "claims": len(valid)})
        if len(valid) == 1:
            return {valid.index[0]: None}
    scored: dict[int, tuple[ScoreResult, int] | None] = {}
    failures_in_a_row = 0
    for row in valid.index:
        if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
            scored[row] = None
            continue
        scored[row] = _score_rows(model, valid.loc[[row]])[row]
        failures_in_a_row = failures_in_a_row + 1 if scored[row] is None else 0
    return scored


def score_claims(model: LoadedModel, claims: list[BaseModel]) -> list[Outcome]:
    """Score already-parsed single-claim requests together; one outcome per claim, in order.

    Claims whose values pass every rule (``typed_claim``) are scored in one call of the columnar core,
    however many there are; a claim that breaks a rule across fields, and every claim of a call that
    failed, go through the frame path, which words the errors and retries claim by claim.
    """
    typed = [typed_claim(claim) for claim in claims]
    ready = [position for position, values in enumerate(typed) if values is not None]
    outcomes: dict[int, Outcome] = {}
    if ready:
        try:
            result = model.score_claims([typed[position] for position in ready])
        except Exception as failure:  # the frame path tries again, claim by claim, and reports a failure
            logger.error("scoring failed", extra={**describe_exception(failure), "claims": len(ready)})
        else:
            for index, position in enumerate(ready):
                claim = claims[position]
                response = _response(result, index, claim, model)
                outcomes[position] = Outcome(claim.claim_id, response=response, scored=typed[position])
    rest = [position for position in range(len(claims)) if position not in outcomes]
    if rest:
        outcomes.update(_score_valid(model, [claims[position] for position in rest], rest, None))
    return [outcomes[position] for position in range(len(claims))]


def score_batch_items(model: LoadedModel, items: list[Any]) -> list[Outcome]:
    """Parse, validate and score raw batch items; a bad item gets its own errors, the rest are scored."""
    loc = ("body", "claims")
    outcomes: dict[int, Outcome] = {}
    parsed: list[BaseModel] = []
    positions: list[int] = []
    for position, item in enumerate(items):
        try:
            claim = ClaimRequest.model_validate(item)
        except ValidationError as invalid:
            claim_id = item.get("claim_id") if isinstance(item, dict) else None
            outcomes[position] = Outcome(
                printable(claim_id) if isinstance(claim_id, str) else None,
                errors=pydantic_errors(invalid.errors(), (*loc, position)),
            )
            continue
        parsed.append(claim)
        positions.append(position)
    if parsed:
        outcomes.update(_score_valid(model, parsed, positions, loc))
    return [outcomes[position] for position in range(len(items))]


# --- coalescing single-claim requests -----------------------------------------------------------------


class ScoreCoalescer:
    """Scores single claims in worker threads, merging the claims that queue up while a call runs.

    At most ``workers`` calls run at once; a claim that arrives when all are busy waits and is scored
    with every other claim that waited (up to ``max_batch``) in the next call.

    Under concurrent load the clients' next requests arrive together, a round trip after the last answers
    went out: scored at once, the first of them would go alone and the rest would wait for it, so calls
    would alternate between one claim and the others. So when the last call scored several claims, a call
    waits up to ``max_wait_seconds`` for as many to be queued (and no longer than that); a claim arriving
    at an idle service after a lone one is scored at once, with no wait at all.
    """

    def __init__(self, metrics: Metrics, workers: int = 1, max_batch: int = 256, max_wait_seconds: float = 0.0):
        self.metrics = metrics
        self.workers = workers
        self.max_batch = max_batch
        self.max_wait_seconds = max_wait_seconds
        self._pending: list[tuple[LoadedModel, BaseModel, asyncio.Future]] = []
        self._running = 0
        self._tasks: set[asyncio.Task] = set()
        self._last_call_claims = 1
        self._filled: asyncio.Event | None = None

    async def score(self, model: LoadedModel, claim: BaseModel) -> Outcome:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((model, claim, future))
        if self._filled is not None and len(self._pending) >= min(self._last_call_claims, self.max_batch):
            self._filled.set()
        if self._running < self.workers:
            self._running += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _gather(self) -> None:
        """Wait (bounded) until as many claims are queued as the last call scored."""
        wanted = min(self._last_call_claims, self.max_batch)
        if self.max_wait_seconds <= 0 or len(self._pending) >= wanted:
            return
        self._filled = asyncio.Event()
        try:
            await asyncio.wait_for(self._filled.wait(), self.max_wait_seconds)
        except TimeoutError:
            pass
        finally:
            self._filled = None

    async def _drain(self) -> None:
        try:
            while self._pending:
                await self._gather()
                model = self._pending[0][0]  # one call scores claims of one model version
                batch = [entry for entry in self._pending if entry[0] is model][: self.max_batch]
                taken = {id(entry[2]) for entry in batch}
                self._pending = [entry for entry in self._pending if id(entry[2]) not in taken]
                live = [entry for entry in batch if not entry[2].done()]  # skip requests given up on
                if not live:
                    continue
                self._last_call_claims = len(live)
                started = time.perf_counter()
                try:
                    claims = [entry[1] for entry in live]
                    outcomes = await anyio.to_thread.run_sync(score_claims, model, claims)
                except Exception as failure:
                    for entry in live:
                        if not entry[2].done():
                            entry[2].set_exception(failure)
                    continue
                self.metrics.scoring_latency.labels(endpoint="single").observe(time.perf_counter() - started)
                for entry, outcome in zip(live, outcomes, strict=True):
                    if not entry[2].done():
                        entry[2].set_result(outcome)
        finally:
            self._running -= 1


def observe(metrics: Metrics, outcomes: list[Outcome]) -> None:
    """Count the outcomes of a call and observe its scored answers in the metrics."""
    responses = [outcome.response for outcome in outcomes if outcome.response is not None]
    failed = sum(1 for outcome in outcomes if outcome.failed)
    rejected = len(outcomes) - len(responses) - failed
    for label, count in (("scored", len(responses)), ("rejected", rejected), ("failed", failed)):
        if count:
            metrics.claims.labels(outcome=label).inc(count)
    actions = [response["recommendation"]["action"] for response in responses]
    p_success = [
        next((step["p_success"] for step in response["ladder"] if step["level"] == action), None)
        for response, action in zip(responses, actions, strict=True)
    ]
    net = [response["recommendation"]["expected_net_recovery"] for response in responses]
    metrics.observe_scores(
        actions,
        np.array(net, dtype="float64"),
        np.array([np.nan if p is None else p for p in p_success], dtype="float64"),
    )
