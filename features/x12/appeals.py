"""An appeals log (CSV or Parquet, the billing team's own spelling) joined to imported claims: history rows.

Headers are matched after lower-casing and turning every run of other characters into ``_`` ("Claim ID"
-> ``claim_id``), then through ``HEADER_ALIASES``. Values of ``level`` and ``outcome`` are matched the
same way ("Peer-to-Peer" -> ``peer_to_peer``) and through ``LEVEL_ALIASES``. Contract claim columns the
log carries (``network_gap``, ``plan_type``, ``funding``, ...) fill what the X12 files leave open.

Where the log lacks a final amount, the 835s decide (``reconstruct``): the last re-adjudication of the
claim paid from the attempt's submission up to the next attempt's submission gives
``final_allowed_amount`` (and ``resolved_date`` when the log has none); a resolved attempt with no
re-adjudication left the allowed amount unchanged. A missing outcome is ``overturned`` (re-adjudicated
to the full charge), ``partially_overturned`` (raised), ``upheld`` (resolved, not raised) or ``pending``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from features.io import read_table
from features.schema import CLAIM_COLUMN_NAMES, HISTORY_COLUMNS

_NON_WORD = re.compile(r"[^0-9a-z]+")

HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "claim_id": (
        "claim",
        "claim_number",
        "claim_no",
        "claim_num",
        "claim",
        "patient_control_number",
        "pcn",
        "account_number",
        "account_no",
        "patient_account_number",
        "clm01",
        "clp01",
    ),
    "level": ("appeal_level", "escalation_level", "level_of_appeal", "appeal_type", "stage", "step"),
    "submitted_date": (
        "date_submitted",
        "submission_date",
        "submitted",
        "submitted_on",
        "appeal_date",
        "date_filed",
        "filed_date",
        "filed",
        "sent_date",
        "date_sent",
    ),
    "resolved_date": (
        "date_resolved",
        "resolution_date",
        "resolved",
        "resolved_on",
        "decision_date",
        "date_of_decision",
        "closed_date",
        "date_closed",
    ),
    "outcome": ("result", "decision", "appeal_outcome", "appeal_result", "status"),
    "final_allowed_amount": (
        "final_allowed",
        "final_amount",
        "allowed_after_appeal",
        "final_allowed_amt",
        "new_allowed_amount",
        "revised_allowed_amount",
        "amount_allowed_after",
    ),
}
LEVEL_ALIASES: dict[str, str] = {
    "recon": "reconsideration",
    "open_negotiation": "reconsideration",
    "first_level_appeal": "written_appeal",
    "appeal": "written_appeal",
    "written": "written_appeal",
    "p2p": "peer_to_peer",
    "peer_review": "peer_to_peer",
    "idr": "external_review",
    "federal_idr": "external_review",
    "arbitration": "external_review",
    "external": "external_review",
    "iro": "external_review",
    "lawsuit": "legal",
    "complaint": "legal",
    "regulatory_complaint": "legal",
}
LOG_COLUMNS = ("claim_id", *(column.name for column in HISTORY_COLUMNS))
#: Claim columns an appeals log may carry; "claim_id" is the join key, not a fill.
FILL_COLUMNS = tuple(name for name in CLAIM_COLUMN_NAMES if name != "claim_id")


def _normal(text: object) -> str:
    return _NON_WORD.sub("_", str(text).strip().lower()).strip("_")


def _header_map() -> dict[str, str]:
    mapping = {name: name for name in (*LOG_COLUMNS, *CLAIM_COLUMN_NAMES)}
    for column, aliases in HEADER_ALIASES.items():
        mapping.update({alias: column for alias in aliases})
    return mapping


def read_appeals_log(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """The log with contract headers (text values, 1-based row index) and notes on renamed headers.

    Raises ``features.io.TableReadError`` for a file that is not a readable table, ``ValueError`` when two
    headers mean the same column.
    """
    table, _ = read_table(path)
    mapping = _header_map()
    renamed, notes = {}, []
    for header in table.columns:
        target = mapping.get(_normal(header))
        if target is not None:
            if target in renamed.values():
                raise ValueError(f"{path}: headers {header!r} and another both mean {target!r}")
            renamed[header] = target
            if header != target:
                notes.append(f"{header!r} read as {target}")
    table = table.rename(columns=renamed)
    for column in ("level", "outcome"):
        if column in table:
            values = table[column].map(lambda value: _normal(value) if isinstance(value, str) else value)
            table[column] = values.map(lambda value: LEVEL_ALIASES.get(value, value)) if column == "level" else values
    return table, notes


def claim_fills(log: pd.DataFrame) -> pd.DataFrame | None:
    """Per claim, the first non-empty value of each contract claim column the log carries."""
    columns = [name for name in FILL_COLUMNS if name in log]
    if not columns or "claim_id" not in log:
        return None
    frame = log[["claim_id", *columns]].replace("", np.nan)
    frame["claim_id"] = frame["claim_id"].astype(str).str.strip()
    return frame.groupby("claim_id", sort=False).first().reset_index()


def reconstruct(log: pd.DataFrame, claims: pd.DataFrame, readjudications: pd.DataFrame) -> pd.DataFrame:
    """History rows in the log's order: the claim's contract columns, then the attempt's columns, with
    final amounts, resolution dates and outcomes the log lacks taken from the 835 re-adjudications."""
    history = log[[column for column in LOG_COLUMNS if column in log]].copy()
    for column in LOG_COLUMNS:
        if column not in history:
            history[column] = None
    history = history.replace("", None)
    submitted = pd.to_datetime(history["submitted_date"], errors="coerce")
    resolved = pd.to_datetime(history["resolved_date"], errors="coerce")
    order = pd.DataFrame({"claim_id": history["claim_id"], "submitted": submitted}).sort_values(
        ["claim_id", "submitted"], kind="stable"
    )
    next_submitted = order.groupby("claim_id")["submitted"].shift(-1).reindex(history.index)
    remits = readjudications.assign(payment_date=pd.to_datetime(readjudications["payment_date"]))
    remits = remits.sort_values("payment_date", kind="stable").groupby("claim_id")
    remit_groups = {claim_id: group for claim_id, group in remits}
    claim_rows = claims.set_index("claim_id")

    finals, resolved_dates, outcomes = [], [], []
    before_by_claim: dict[str, float] = {}
    for index in order.index:
        claim_id = history.at[index, "claim_id"]
        start, end = submitted[index], next_submitted[index]
        given_final = _number(history.at[index, "final_allowed_amount"])
        before = before_by_claim.get(claim_id)
        if before is None and claim_id in claim_rows.index:
            before = float(claim_rows.at[claim_id, "initial_allowed_amount"])
        found = remit_groups.get(claim_id)
        evidence = None
        if found is not None and pd.notna(start):
            window = found[
                (found["payment_date"] >= start) & ((found["payment_date"] < end) if pd.notna(end) else True)
            ]
            if len(window):
                evidence = window.iloc[-1]
        outcome = history.at[index, "outcome"]
        outcome = None if pd.isna(outcome) else outcome
        resolved_at = resolved[index]
        if pd.isna(resolved_at) and evidence is not None:
            resolved_at = evidence["payment_date"]
        final = given_final
        if final is None and evidence is not None:
            final = float(evidence["allowed"])
        settled = outcome not in (None, "pending") or pd.notna(resolved_at)
        if final is None and settled and before is not None:
            final = before
        if outcome is None:
            outcome = _outcome(final, before, resolved_at, claim_rows, claim_id)
        if final is not None and outcome != "pending":
            before_by_claim[claim_id] = final
        finals.append((index, final if outcome != "pending" else None))
        resolved_dates.append((index, None if pd.isna(resolved_at) else resolved_at.strftime("%Y-%m-%d")))
        outcomes.append((index, outcome))
    history["final_allowed_amount"] = pd.Series(dict(finals), dtype="float64")
    history["resolved_date"] = pd.Series(dict(resolved_dates), dtype=object)
    history["outcome"] = pd.Series(dict(outcomes), dtype=object)
    joined = claim_rows.reindex(history["claim_id"].to_numpy()).reset_index(drop=True)
    joined.index = history.index
    columns = [name for name in CLAIM_COLUMN_NAMES if name != "claim_id"]
    result = pd.concat([history[["claim_id"]], joined[columns], history.drop(columns="claim_id")], axis=1)
    return result.drop(columns=[column for column in ("prior_level",) if result[column].isna().all()])


def _number(value) -> float | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return value  # reported by validation with the value as written


def _outcome(final, before, resolved_at, claim_rows, claim_id) -> str:
    if final is None or before is None:
        return "pending" if pd.isna(resolved_at) else "upheld"
    if final > before:
        billed = float(claim_rows.at[claim_id, "billed_amount"]) if claim_id in claim_rows.index else np.inf
        return "overturned" if final >= billed else "partially_overturned"
    return "upheld" if pd.notna(resolved_at) else "pending"
