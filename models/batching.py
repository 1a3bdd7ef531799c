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
from models.ladder import LadderClaims, LadderPolicy, deadlines, eligibility

BATCH_ID = "idr_batch_id"
#: Families too broad (or unknown) to stand for "similar" services: their codes batch only with themselves
_OWN_CODE_FAMILIES = frozenset({"unknown", "hcpcs_other"})


@dataclass(frozen=True)
class IdrBatches:
    """Per claim: ``batch_id`` ("" when filed alone) and ``size`` (claims in its batch; 1 alone)."""

    batch_id: np.ndarray
    size: np.ndarray


def idr_batches(claims: pd.DataFrame, policy: LadderPolicy) -> IdrBatches:
    """The IDR batch of each of ``claims`` (validated scoring requests); a batch is named after the index
    label (the worklist's input row number) of its first claim: ``IDR-<row>``."""
    n = len(claims)
    batch_id = np.full(n, "", dtype=object)
    size = np.ones(n)
    ladder = LadderClaims.of(claims)
    may_file, _ = eligibility(ladder, ladder.current_level, int(Level.external_review), deadlines(ladder, policy))
    candidates = np.flatnonzero(may_file & ladder.nsa)
    if len(candidates) < 2:
        return IdrBatches(batch_id, size)

    chosen = claims.iloc[candidates]
    families = code_family(chosen["cpt_code"]).to_numpy(dtype=object)
    codes = chosen["cpt_code"].astype(str).to_numpy(dtype=object)
    similar = np.where(np.isin(families, list(_OWN_CODE_FAMILIES)), codes, families)
    served = chosen["service_date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    as_of = ladder.as_of[candidates]
    window = policy.rule("idr_batch_window_business_days", as_of).astype("int64")
    limit = policy.rule("idr_batch_max_line_items", as_of).astype("int64")
    # the last service date a batch opened by each claim may take (its date is the window's first day)
    window_end = add_business_days(served, window - 1, inauguration_day=policy.inauguration_day_is_holiday)
    keys = pd.MultiIndex.from_arrays(
        [chosen["payer_id"].astype(str).to_numpy(), chosen["plan_type"].astype(str).to_numpy(), similar]
    )
    group = pd.factorize(keys)[0]
    order = np.lexsort((np.arange(len(candidates)), served, group))

    labels = claims.index.to_numpy()[candidates]
    batch_of = np.empty(len(candidates), dtype="int64")
    batch, opened_group, ends, members, cap = -1, -1, None, 0, 0
    for position, group_of, date, end, most in zip(
        order.tolist(),
        group[order].tolist(),
        served[order],
        window_end[order],
        limit[order].tolist(),
        strict=True,
    ):
        if group_of != opened_group or date > ends or members == cap:
            batch, opened_group, ends, members, cap = batch + 1, group_of, end, 0, most
        batch_of[position] = batch
        members += 1
    counts = np.bincount(batch_of)
    first = np.full(len(counts), -1, dtype="int64")
    first[batch_of[order][::-1]] = order[::-1]  # the first claim of each batch in service-date order
    batched = counts[batch_of] > 1
    batch_id[candidates[batched]] = [f"IDR-{label}" for label in labels[first[batch_of[batched]]].tolist()]
    size[candidates[batched]] = counts[batch_of[batched]]
    return IdrBatches(batch_id, size)


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
