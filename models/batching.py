"""Federal IDR batching: which claims of a worklist may share one batched dispute.

45 CFR 149.510(c)(3)(i) lets the initiating party batch qualified IDR items and services into one dispute
when they come from the same provider (the worklist is one provider's, so one initiating party), would be
paid by the same group health plan or issuer (here: the same ``payer_id`` and ``plan_type``), are the same
or similar items or services (here: the same code family of ``features.reference``, e.g. emergency E/M,
anesthesia, radiology; codes outside the families batch only with the same code), and were furnished
within the same 30-business-day period (here: counted from the batch's earliest ``service_date``). The
Federal IDR Operations final rule (FR Doc 2026-11140) caps the line items of a batch; one claim is one line
item, and the cap and the window come from the rules in force (``models.rules``).

A claim is a candidate when it is NSA-eligible and may take Federal IDR as its next step now (the ladder's
eligibility, deadlines included). Candidates are batched greedily in service-date order; a batch of one is
no batch. One batched dispute pays one administrative fee and one batched entity fee, shared by its claims
(``LadderPolicy.idr_fees``), which is how the decision prices IDR for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.reference import code_family
from features.schema import Level
from models.calendar import add_business_days
from models.ladder import IDR_BATCH_ID, IDR_BATCH_SIZE, LadderClaims, LadderPolicy, deadlines, eligibility

BATCH_ID = IDR_BATCH_ID
#: Families too broad (or unknown) to stand for "similar" services: their codes batch only with themselves
_OWN_CODE_FAMILIES = frozenset({"unknown", "hcpcs_other"})


#: What ``plan_batches`` reads of each candidate claim
BATCH_KEY_COLUMNS = ("payer_id", "plan_type", "cpt_code", "service_date", "as_of_date")
#: The plan's columns: per batched claim, its batch, the batch's size and what the claims share
PLAN_COLUMNS = (BATCH_ID, IDR_BATCH_SIZE, "payer_id", "plan_type", "similar_services", "service_date")


@dataclass(frozen=True)
class IdrBatches:
    """Per claim: ``batch_id`` ("" when filed alone) and ``size`` (claims in its batch; 1 alone)."""

    batch_id: np.ndarray
    size: np.ndarray


def batch_candidates(claims: pd.DataFrame, policy: LadderPolicy) -> pd.DataFrame:
    """The claims (validated scoring requests) that may join a batched dispute now: NSA claims whose next
    step may be Federal IDR today, deadlines included. Their ``BATCH_KEY_COLUMNS``, same index labels, so
    the candidates of a worklist's chunks concatenate into the worklist's."""
    ladder = LadderClaims.of(claims)
    may_file, _ = eligibility(ladder, ladder.current_level, int(Level.external_review), deadlines(ladder, policy))
    return claims.loc[may_file & ladder.nsa, list(BATCH_KEY_COLUMNS)]


def plan_batches(candidates: pd.DataFrame, policy: LadderPolicy) -> pd.DataFrame:
    """The batched disputes among ``candidates`` (``batch_candidates`` rows, index labels unique: the
    worklist's input row numbers): one row per claim in a batch of two or more (``PLAN_COLUMNS``), same
    index labels. A batch is named after the label of its first claim in service-date order: ``IDR-<row>``."""
    if len(candidates) < 2:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in PLAN_COLUMNS}, index=candidates.index[:0])
    families = code_family(candidates["cpt_code"]).to_numpy(dtype=object)
    codes = candidates["cpt_code"].astype(str).to_numpy(dtype=object)
    similar = np.where(np.isin(families, list(_OWN_CODE_FAMILIES)), codes, families)
    served = candidates["service_date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    as_of = candidates["as_of_date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    window = policy.rule("idr_batch_window_business_days", as_of).astype("int64")
    limit = policy.rule("idr_batch_max_line_items", as_of).astype("int64")
    # the last service date a batch opened by each claim may take (its date is the window's first day)
    window_end = add_business_days(served, window - 1, inauguration_day=policy.inauguration_day_is_holiday)
    payers = candidates["payer_id"].astype(str).to_numpy(dtype=object)
    plans = candidates["plan_type"].astype(str).to_numpy(dtype=object)
    group = pd.factorize(pd.MultiIndex.from_arrays([payers, plans, similar]))[0]
    order = np.lexsort((np.arange(len(candidates)), served, group))

    batch_of = np.empty(len(candidates), dtype="int64")
    batch, opened_group, ends, members, cap = -1, -1, None, 0, 0
    for position, group_of, date, end, most in zip(
        order.tolist(), group[order].tolist(), served[order], window_end[order], limit[order].tolist(), strict=True
    ):
        if group_of != opened_group or date > ends or members == cap:
            batch, opened_group, ends, members, cap = batch + 1, group_of, end, 0, most
        batch_of[position] = batch
        members += 1
    counts = np.bincount(batch_of)
    first = np.full(len(counts), -1, dtype="int64")
    first[batch_of[order][::-1]] = order[::-1]  # the first claim of each batch in service-date order
    batched = np.flatnonzero(counts[batch_of] > 1)
    labels = candidates.index.to_numpy()
    names = np.array([f"IDR-{label}" for label in labels[first].tolist()], dtype=object)
    return pd.DataFrame(
        {
            BATCH_ID: names[batch_of[batched]],
            IDR_BATCH_SIZE: counts[batch_of[batched]].astype("float64"),
            "payer_id": payers[batched],
            "plan_type": plans[batched],
            "similar_services": similar[batched],
            "service_date": served[batched].astype("datetime64[ns]"),
        },
        index=candidates.index[batched],
    )


def idr_batches(claims: pd.DataFrame, policy: LadderPolicy) -> IdrBatches:
    """The IDR batch of each of ``claims`` (validated scoring requests, all of one worklist)."""
    plan = plan_batches(batch_candidates(claims, policy), policy)
    return IdrBatches(
        plan[BATCH_ID].reindex(claims.index).fillna("").to_numpy(dtype=object),
        plan[IDR_BATCH_SIZE].reindex(claims.index).fillna(1.0).to_numpy(dtype="float64"),
    )


def batch_table(plan: pd.DataFrame, totals: pd.DataFrame) -> pd.DataFrame:
    """One row per batched dispute: what its claims share (payer, plan, services, service dates), its size,
    and its scored ``totals`` (``batch_totals``)."""
    grouped = plan.groupby(BATCH_ID, sort=False)
    table = grouped.agg(
        payer_id=("payer_id", "first"),
        plan_type=("plan_type", "first"),
        similar_services=("similar_services", "first"),
        first_service_date=("service_date", "min"),
        last_service_date=("service_date", "max"),
        claims=(IDR_BATCH_SIZE, "size"),
    )
    scored = totals.reindex(table.index)
    table["recommending_idr"] = scored["recommending_idr"].fillna(0).astype("int64")
    table["combined_expected_net_value"] = scored["combined_expected_net_value"].fillna(0.0)
    return table.reset_index()


def batch_totals(batch_id: np.ndarray, net_value: np.ndarray, recommended_idr: np.ndarray) -> pd.DataFrame:
    """Per batch (``idr_batch_id``): ``claims``, ``recommending_idr`` (claims whose recommendation is the
    IDR step) and ``combined_expected_net_value`` (the sum of its claims' net value of filing IDR now).
    Totals of parts of a worklist add up (``pd.concat(...).groupby(level=0).sum()``)."""
    batched = np.asarray(batch_id, dtype=object) != ""
    frame = pd.DataFrame(
        {
            "claims": 1,
            "recommending_idr": np.asarray(recommended_idr, dtype="int64")[batched],
            "combined_expected_net_value": np.nan_to_num(np.asarray(net_value, dtype="float64")[batched]),
        },
        index=pd.Index(np.asarray(batch_id, dtype=object)[batched], name=BATCH_ID),
    )
    return frame.groupby(level=0).sum()
