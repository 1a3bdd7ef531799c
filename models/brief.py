"""The negotiation brief of one claim: its facts, benchmarks, the payer's record, the opening ask, the
deadlines, a documentation checklist, the regulations that apply, and the reasons, every number with its
source and its count.

``build_brief`` is built on the claim's structured answer (``ScoreResult.response``: the ladder, the
recommendation, reasons, warnings) and on what the model bundle and the shipped reference data know (the
payer profiles, the CMS Medicare fee schedule, the CMS Federal IDR public use files, the rules in force).
It returns plain JSON-ready values; the service renders them as JSON, a printable page and a PDF.
The figures are associations in past data, not causes: the brief says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from features.reference import carc_one, code_family_one, medicare_amount_one
from features.schema import Level
from models.rules import RuleTable, shipped_rules, state_external_review

#: The seed playbook: single-case agreements open at 80-90% of billed charges; payers counter at
#: 110-150% of Medicare.
SCA_ASK = (0.80, 0.90)
EXPECTED_COUNTER = (1.10, 1.50)
PLAYBOOK_SOURCE = "negotiation playbook (seed 004): single-case agreements ask 80-90% of billed charges"
COUNTER_SOURCE = "negotiation playbook (seed 004): payers counter at 110-150% of Medicare"
MEDICARE_SOURCE = "CMS 2025 physician fee schedule (RVUs x conversion factor 32.3465, state GPCI)"
IDR_SOURCE = "CMS Federal IDR public use files, air ambulance dispute line items"
HISTORY_SOURCE = "this model's training history"
ASSOCIATION_NOTE = (
    "Every figure here is an association in past data (this provider's history and public CMS files), not a "
    "cause: the payer's past behaviour does not bind it, and parties choose their own offers. Use the figures "
    "as arguments and checks, not as promises."
)
LEVEL_TITLES = {
    "none": "none",
    "reconsideration": "reconsideration",
    "written_appeal": "written appeal",
    "peer_to_peer": "peer-to-peer review",
    "external_review": "external review / Federal IDR",
    "legal": "legal or regulatory complaint",
    "accept": "accept the payment",
}
#: Code families (``features.reference.CODE_FAMILIES``) in words.
FAMILY_WORDS = {
    "em_ed": "emergency department visits",
    "critical_care": "critical care",
    "em_other": "office and hospital visits",
    "anesthesia": "anesthesia",
    "surgery": "surgery",
    "radiology": "radiology",
    "pathology": "pathology and lab",
    "medicine": "medicine services",
    "ambulance": "ambulance transport",
    "hcpcs_other": "other HCPCS services",
    "unknown": "unrecognised codes",
}
#: What to have on file, by denial category: (item, why, the claim field that says it is on file or None).
CHECKLIST: dict[str, list[tuple[str, str, str | None]]] = {
    "medical_necessity": [
        (
            "Letter of medical necessity",
            "answers a medical-necessity or coverage denial",
            "has_medical_necessity_letter",
        ),
        ("Clinical notes / operative report", "show the service was needed as billed", "has_clinical_notes"),
    ],
    "authorization": [
        ("Prior authorization (or proof none was needed)", "answers an authorization denial", "prior_authorization"),
        ("Clinical notes showing the emergency", "an emergency needs no prior authorization", "has_clinical_notes"),
    ],
    "level_of_service": [
        ("Clinical notes supporting the level billed", "answers a level-of-service downcode", "has_clinical_notes"),
        ("Coding review of the E/M level", "a certified coder's review of the level billed", None),
    ],
    "bundling": [
        ("Coding review (modifiers, NCCI edits)", "answers a bundling or coding denial", None),
        ("Operative report showing separate services", "supports a separately billable service", "has_clinical_notes"),
    ],
    "administrative": [
        ("Corrected claim or missing information", "answers an administrative denial", None),
        ("Proof of timely filing", "answers a timely-filing denial", None),
    ],
    "pricing": [
        ("Benchmarks: billed, allowed and QPA against Medicare", "argue the allowed amount is below market", None),
        ("Clinical notes", "show the complexity behind the charge", "has_clinical_notes"),
    ],
}
GENERAL_CHECKLIST: list[tuple[str, str, str | None]] = [
    ("Remittance advice (835) with the adjustment codes", "shows what the payer decided and why", None),
    ("Clinical notes", "show what was done and why", "has_clinical_notes"),
]


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def figure(label: str, value: Any, unit: str, source: str, count: int | None = None) -> dict[str, Any]:
    """One number of the brief with its unit (``dollars``, ``x`` for a multiple, ``%``, ``days``, ``count``
    or ``date``), its source and how many cases it rests on (None: a published figure or the claim's own)."""
    if unit != "date":
        value = _finite(value)
    return {"label": label, "value": value, "unit": unit, "source": source, "count": count}


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def _step(answer: Mapping[str, Any], level: str) -> dict[str, Any] | None:
    return next((step for step in answer["ladder"] if step["level"] == level), None)


def _level_record(levels: Sequence[Mapping[str, Any]], level: str) -> Mapping[str, Any] | None:
    return next((row for row in levels if row.get("level") == level), None)


def _facts(claim: Mapping[str, Any], family: str) -> list[dict[str, Any]]:
    def text(value: Any) -> str:
        if value is None:
            return "not given"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    rows = [
        ("Claim", claim["claim_id"]),
        ("Payer", claim["payer_id"]),
        ("Plan type / funding", f"{text(claim.get('plan_type'))} / {text(claim.get('funding'))}"),
        ("State / place of service", f"{claim['state']} / {claim['place_of_service']}"),
        ("Service code / modifier / units", f"{claim['cpt_code']} / {text(claim.get('modifier'))} / {claim['units']}"),
        ("Kind of service", family),
        ("Specialty", text(claim.get("specialty"))),
        ("Emergency / No Surprises Act", f"{text(claim['emergency'])} / {text(claim['nsa_eligible'])}"),
        ("Network gap", text(claim.get("network_gap"))),
        ("Service date", text(claim["service_date"])),
        ("Initial payment date", text(claim.get("initial_payment_date"))),
        ("Adjustment codes (CARC)", text(claim.get("carc_codes"))),
        ("Current level", LEVEL_TITLES.get(_level_name(claim["current_level"]), str(claim["current_level"]))),
        ("As of", text(claim.get("as_of_date"))),
    ]
    return [{"label": label, "value": value} for label, value in rows]


def _level_name(level: Any) -> str:
    return Level(int(level)).name if not isinstance(level, str) else level


def build_brief(
    claim: Mapping[str, Any],
    answer: Mapping[str, Any],
    *,
    payer_summary: Mapping[str, Any] | None,
    payer_levels: Sequence[Mapping[str, Any]],
    payer_family: Mapping[str, Any] | None,
    idr_record: Mapping[str, Any] | None,
    market_idr: Mapping[str, Any] | None,
    rules: RuleTable | None = None,
) -> dict[str, Any]:
    """The brief of one claim (``claim``: its typed values, ``features.requests.typed_claim``; ``answer``:
    its structured answer, ``ScoreResult.response`` with ``claim_id`` and ``model``)."""
    rules = rules or shipped_rules()
    recommendation = answer["recommendation"]
    action = recommendation["action"]
    path = list(recommendation["path"])
    # the level argued: the recommended one, or for accept the best-valued eligible one (why it falls short)
    argued = action if action != "accept" else _best_eligible(answer) or "reconsideration"
    billed, allowed = float(claim["billed_amount"]), float(claim["current_allowed_amount"])
    qpa = _finite(claim.get("qpa_amount"))
    medicare = _finite(
        medicare_amount_one(
            claim["cpt_code"], claim.get("modifier"), claim["place_of_service"], claim["state"], claim["units"]
        )
    )
    medicare = medicare if medicare and medicare > 0 else None
    family = FAMILY_WORDS.get(code_family_one(claim["cpt_code"]), "other services")
    as_of = claim.get("as_of_date") or date.today()

    benchmarks = [
        figure("Billed amount", billed, "dollars", "the claim"),
        figure("Allowed so far", allowed, "dollars", "the claim"),
        figure("QPA", qpa, "dollars", "the claim (as the payer disclosed it)"),
        figure(f"Medicare amount in {claim['state']}", medicare, "dollars", MEDICARE_SOURCE),
        figure("Billed as a multiple of Medicare", _ratio(billed, medicare), "x", MEDICARE_SOURCE),
        figure("Allowed as a multiple of Medicare", _ratio(allowed, medicare), "x", MEDICARE_SOURCE),
        figure("QPA as a multiple of Medicare", _ratio(qpa, medicare), "x", MEDICARE_SOURCE),
    ]
    if payer_family is not None:
        count = int(payer_family.get("claims") or 0)
        typical = _finite(payer_family.get("median_initial_allowed"))
        source = f"{HISTORY_SOURCE}: {claim['payer_id']}'s {family} claims, initial allowed"
        benchmarks += [
            figure(
                f"{claim['payer_id']}'s median allowed for {family}",
                typical,
                "dollars",
                source,
                count,
            ),
            figure("This claim's allowed against that median", _ratio(allowed, typical), "x", source, count),
            figure(
                "That median as a multiple of Medicare",
                payer_family.get("median_initial_pct_of_medicare"),
                "x",
                source,
                count,
            ),
        ]
    else:
        benchmarks.append(
            figure(
                f"{claim['payer_id']}'s median allowed for {family}",
                None,
                "dollars",
                f"{HISTORY_SOURCE}: no {family} claims of this payer",
                0,
            )
        )

    record = _level_record(payer_levels, argued)
    title = LEVEL_TITLES.get(argued, argued)
    history_source = f"{HISTORY_SOURCE}: {claim['payer_id']} at {title}"
    attempts = int(record["attempts"]) if record and record.get("attempts") is not None else 0
    payer_record = [
        figure(f"Attempts at {title}", attempts, "count", history_source, attempts),
        figure("Success rate", record.get("success_rate") if record else None, "%", history_source, attempts),
        figure(
            "Success rate, shrunk toward the market",
            record.get("success_rate_shrunk") if record else None,
            "%",
            f"{history_source} (20 pseudo-attempts at the market rate)",
            attempts,
        ),
        figure("Market success rate", record.get("market_success_rate") if record else None, "%", HISTORY_SOURCE, None),
        figure(
            "Median award after a success, % of billed",
            record.get("median_settlement_pct_of_billed") if record else None,
            "%",
            history_source,
            int(record["successes"]) if record and record.get("successes") is not None else 0,
        ),
        figure(
            "Median days to resolution", record.get("median_days") if record else None, "days", history_source, attempts
        ),
    ]
    if payer_summary:
        claims_seen = int(payer_summary.get("claims") or 0)
        payer_record.append(
            figure(
                "Median initial pay, % of billed",
                payer_summary.get("median_initial_pct_of_billed"),
                "%",
                f"{HISTORY_SOURCE}: {claim['payer_id']}, all claims",
                claims_seen,
            )
        )
    idr = idr_record or market_idr
    idr_source = (
        f"{IDR_SOURCE}, {idr.get('first_quarter')}-{idr.get('last_quarter')}, payer group {idr.get('payer_group')}"
        if idr
        else IDR_SOURCE
    )
    disputes = int(idr["disputes"]) if idr and idr.get("disputes") is not None else None
    offer_items = int(idr["offer_ratio_line_items"]) if idr and idr.get("offer_ratio_line_items") else disputes
    payer_record += [
        figure(
            "Federal IDR: provider win rate", idr.get("provider_win_rate") if idr else None, "%", idr_source, disputes
        ),
        figure(
            "Federal IDR: median prevailing offer vs QPA",
            idr.get("median_prevailing_offer_ratio") if idr else None,
            "x",
            idr_source,
            offer_items,
        ),
        figure(
            "Federal IDR: median days to determination",
            idr.get("median_days") if idr else None,
            "days",
            idr_source,
            disputes,
        ),
    ]

    offer_ratio = _finite(idr.get("median_prevailing_offer_ratio")) if idr else None
    ask = {
        "single_case_agreement": {
            "low": figure("Ask, low (80% of billed)", billed * SCA_ASK[0], "dollars", PLAYBOOK_SOURCE),
            "high": figure("Ask, high (90% of billed)", billed * SCA_ASK[1], "dollars", PLAYBOOK_SOURCE),
        },
        "idr_offer": {
            "ratio": figure("IDR offer as a multiple of the QPA", offer_ratio, "x", idr_source, offer_items),
            "amount": figure(
                "IDR offer",
                qpa * offer_ratio if qpa is not None and offer_ratio is not None else None,
                "dollars",
                f"the claim's QPA x the median prevailing offer ratio ({idr_source})",
                offer_items,
            ),
            "applies": bool(claim["nsa_eligible"]),
        },
        "expected_counter": {
            "low": figure(
                "Expected counter, low (110% of Medicare)",
                medicare * EXPECTED_COUNTER[0] if medicare else None,
                "dollars",
                COUNTER_SOURCE,
            ),
            "high": figure(
                "Expected counter, high (150% of Medicare)",
                medicare * EXPECTED_COUNTER[1] if medicare else None,
                "dollars",
                COUNTER_SOURCE,
            ),
        },
    }

    deadlines = []
    for step in answer["ladder"]:
        if step["level"] == "none" or not _is_after(step["level"], claim["current_level"]):
            continue
        deadlines.append(
            {
                "level": step["level"],
                "title": LEVEL_TITLES[step["level"]],
                "eligible": step["eligible"],
                "deadline": step.get("deadline"),
                "days_left": step.get("days_left"),
                "rule": step.get("deadline_rule") or step.get("ineligible_reason"),
            }
        )

    return {
        "claim_id": claim["claim_id"],
        "model": dict(answer["model"]),
        "as_of_date": as_of.isoformat() if isinstance(as_of, date) else str(as_of),
        "recommendation": {
            "action": action,
            "title": LEVEL_TITLES.get(action, action),
            "argued_level": argued,
            "expected_net_recovery": figure(
                "Expected net recovery of the path", recommendation["expected_net_recovery"], "dollars", "recoup model"
            ),
            "path": path,
            "step": _step(answer, argued),
        },
        "facts": _facts(claim, family),
        "benchmarks": benchmarks,
        "payer_record": payer_record,
        "opening_ask": ask,
        "deadlines": deadlines,
        "checklist": _checklist(claim),
        "citations": _citations(claim, path or [argued], rules, as_of),
        "reasons": list(answer["reasons"]),
        "warnings": list(answer["warnings"]),
        "note": ASSOCIATION_NOTE,
    }


def _best_eligible(answer: Mapping[str, Any]) -> str | None:
    values = [
        (step["net_value"], step["level"])
        for step in answer["ladder"]
        if step["eligible"] and step["net_value"] is not None
    ]
    return max(values)[1] if values else None


def _is_after(level: str, current: Any) -> bool:
    return int(Level[level]) > int(current if not isinstance(current, str) else Level[current])


def _checklist(claim: Mapping[str, Any]) -> list[dict[str, Any]]:
    _, category = carc_one(claim.get("carc_codes"))
    items = CHECKLIST.get(category, []) + [
        item for item in GENERAL_CHECKLIST if item[0] not in {i[0] for i in CHECKLIST.get(category, [])}
    ]
    seen: set[str] = set()
    checklist = []
    for item, why, field in items:
        if item in seen:
            continue
        seen.add(item)
        on_file = bool(claim.get(field)) if field else None
        checklist.append({"item": item, "why": why, "denial_category": category, "on_file": on_file})
    return checklist


def _citations(claim: Mapping[str, Any], path: Sequence[str], rules: RuleTable, as_of: Any) -> list[dict[str, str]]:
    """The No Surprises Act sections and CFR citations for the claim's path, with the rules in force."""
    day = as_of if isinstance(as_of, date) else date.today()
    nsa = bool(claim["nsa_eligible"])
    cited: list[dict[str, str]] = []

    def cite(applies_to: str, citation: str, text: str) -> None:
        cited.append({"applies_to": applies_to, "citation": citation, "text": text})

    if nsa:
        cite(
            "the claim",
            "PHSA 2799A-1 (42 U.S.C. 300gg-111); 45 CFR 149.410",
            "No Surprises Act: out-of-network emergency services are paid at in-network cost sharing, and the "
            "plan pays the provider the out-of-network rate (the amount agreed or set in IDR).",
        )
        cite("the claim", "45 CFR 149.140", "How the qualifying payment amount (QPA) is computed and disclosed.")
    internal = {"reconsideration", "written_appeal", "peer_to_peer"} & set(path)
    if "reconsideration" in path and nsa:
        cite(
            "reconsideration",
            rules.citation("open_negotiation_business_days", day),
            "Open negotiation: 30 business days, started within 30 business days of the initial payment or "
            f"denial ({rules.citation('open_negotiation_initiation_business_days', day)}).",
        )
    if internal:
        cite(
            ", ".join(sorted(internal)),
            rules.citation("internal_appeal_days", day),
            "Internal appeals: at least 180 days from the adverse benefit determination to appeal.",
        )
    if "external_review" in path:
        if nsa:
            cite(
                "external_review",
                f"PHSA 2799A-1(c); {rules.citation('idr_initiation_business_days', day)}",
                "Federal IDR: initiated within 4 business days after open negotiation ends; each party pays the "
                f"administrative fee ({rules.citation('idr_administrative_fee', day)}) and the losing party the "
                f"certified IDR entity fee ({rules.citation('idr_entity_fee_single', day)}).",
            )
            cite(
                "external_review",
                "45 CFR 149.510(c)(4)",
                "The IDR entity picks one of the two offers, weighing the QPA and the additional information the "
                "parties submit (training, market share, acuity, good-faith negotiation efforts).",
            )
        else:
            state = claim["state"]
            table = state_external_review()
            row = table.loc[state] if state in table.index else None
            cite(
                "external_review",
                rules.citation("external_review_months", day) if row is None else str(row["citation"]),
                f"External review: request within {int(row['months']) if row is not None else 4} months of the final "
                f"internal adverse determination ({'state' if row is None else row['program']} process).",
            )
    if "legal" in path:
        funding = claim.get("funding")
        cite(
            "legal",
            "ERISA 502(a) (29 U.S.C. 1132(a))" if funding == "self_funded" else "state insurance department complaint",
            "A self-funded ERISA plan answers in federal court; a fully insured plan also to the state regulator."
            if funding == "self_funded"
            else "A fully insured plan answers to the state insurance regulator (prompt-pay and network-adequacy "
            "rules).",
        )
    return cited
