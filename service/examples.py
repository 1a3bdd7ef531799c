"""Example bodies of the API's responses, shown in the OpenAPI document (``/docs``).

They are answers a model trained by ``recoup bootstrap`` gave (rounded) for the contract's example claim
and payer AETNA; ``tests/service/test_openapi.py`` checks that each one validates against its model.
"""

from __future__ import annotations

from typing import Any

from features.requests import EXAMPLE_CLAIM

CLAIM: dict[str, Any] = EXAMPLE_CLAIM

MODEL_REF: dict[str, Any] = {"name": "recoup", "version": "3"}

FIELD_ERROR: dict[str, Any] = {
    "type": "greater_than",
    "loc": ["body", "billed_amount"],
    "msg": "must be a number > 0 and <= 100,000,000",
}


def _step(level: str, p: float, allowed: float, p10: float, p90: float, days: float, cost: float, net: float):
    return {
        "level": level,
        "eligible": True,
        "ineligible_reason": None,
        "p_success": p,
        "expected_allowed": allowed,
        "allowed_p10": p10,
        "allowed_p90": p90,
        "expected_days": days,
        "expected_recovery": round(p * (allowed - 310.0), 2),
        "cost": cost,
        "net_value": net,
    }


LADDER: list[dict[str, Any]] = [
    _step("reconsideration", 0.517, 845.56, 396.98, 1338.19, 39.6, 25.0, 255.07),
    _step("written_appeal", 0.329, 628.2, 310.01, 1216.25, 60.4, 118.0, -14.81),
    _step("peer_to_peer", 0.143, 562.09, 310.01, 1216.87, 17.1, 250.0, -214.02),
    {
        **_step("external_review", 0.43, 949.39, 361.31, 1772.48, 77.5, 415.0, 0.0),
        "eligible": False,
        "ineligible_reason": "Federal IDR needs the open negotiation (reconsideration) first",
        "expected_recovery": None,
        "net_value": None,
    },
    _step("legal", 0.195, 949.39, 310.01, 1772.48, 287.1, 5000.0, -4884.36),
]

RECOMMENDATION: dict[str, Any] = {
    "action": "reconsideration",
    "expected_net_recovery": 255.07,
    "path": ["reconsideration", "written_appeal"],
}

SCORE_RESPONSE: dict[str, Any] = {
    "claim_id": CLAIM["claim_id"],
    "ladder": LADDER,
    "recommendation": RECOMMENDATION,
    "reasons": [
        "AETNA's record raises the chance of success at reconsideration",
        "The clinical notes attached raise the chance of success at reconsideration",
        "The charge at 4.2x Medicare lowers the chance of success at reconsideration",
    ],
    "warnings": [],
    "model": MODEL_REF,
}

BATCH_ITEM: dict[str, Any] = {"index": 0, "claim_id": CLAIM["claim_id"], "result": SCORE_RESPONSE, "errors": None}

BATCH_RESPONSE: dict[str, Any] = {
    "model": MODEL_REF,
    "scored": 1,
    "failed": 1,
    "results": [
        BATCH_ITEM,
        {
            "index": 1,
            "claim_id": "C-000124",
            "result": None,
            "errors": [{**FIELD_ERROR, "loc": ["body", "claims", 1, "billed_amount"]}],
        },
    ],
}

PAYER_SUMMARY: dict[str, Any] = {
    "payer_id": "AETNA",
    "claims": 5530,
    "attempts": 7209,
    "denial_rate": 0.254,
    "median_initial_pct_of_billed": 0.223,
    "median_initial_pct_of_medicare": 0.892,
    "first_service_date": "2023-01-01",
    "last_service_date": "2025-03-21",
}

PAYER_LEVELS: list[dict[str, Any]] = [
    {
        "level": "reconsideration",
        "attempts": 4211,
        "successes": 2130,
        "success_rate": 0.506,
        "success_rate_shrunk": 0.506,
        "market_success_rate": 0.439,
        "median_settlement_pct_of_billed": 0.5,
        "median_days": 42.0,
    },
    {
        "level": "external_review",
        "attempts": 793,
        "successes": 476,
        "success_rate": 0.6,
        "success_rate_shrunk": 0.599,
        "market_success_rate": 0.567,
        "median_settlement_pct_of_billed": 0.932,
        "median_days": 61.0,
    },
]

IDR_RECORD: dict[str, Any] = {
    "payer_group": "Aetna",
    "disputes": 4043,
    "provider_win_rate": 0.902,
    "provider_win_rate_raw": 0.902,
    "default_decision_rate": 0.292,
    "median_prevailing_offer_ratio": 2.14,
    "median_days": 63.0,
    "median_idre_fee": 395.0,
    "first_quarter": "2023Q1",
    "last_quarter": "2024Q4",
}

PAYER_PROFILE: dict[str, Any] = {
    **PAYER_SUMMARY,
    "model": MODEL_REF,
    "levels": PAYER_LEVELS,
    "federal_idr": IDR_RECORD,
}

RULE_IN_FORCE: dict[str, Any] = {
    "rule": "idr_administrative_fee",
    "value": 15.0,
    "range_low": None,
    "range_high": None,
    "unit": "dollars per party per dispute",
    "effective_from": "2026-06-11",
    "effective_to": None,
    "citation": "Federal IDR Operations final rule, FR Doc 2026-11140 (CMS-9897-F, RIN 0938-AV15): $15 per party "
    "for disputes initiated on or after June 11 2026",
    "applied": 15.0,
}

MODEL_INFO: dict[str, Any] = {
    "name": "recoup",
    "version": "3",
    "uri": "models:/recoup/3",
    "run_id": "5d9e7d5a06664245a40e88ca35b193fc",
    "loaded_at": "2026-04-10T08:00:00Z",
    "training_window": ["2023-01-15", "2025-04-11"],
    "test_window": ["2025-04-12", "2025-12-22"],
    "metrics": {"test_log_loss": 0.6009, "test_brier": 0.2071, "test_ece": 0.0075, "test_roc_auc": 0.7291},
    "policy": {
        "cost": {
            "reconsideration": 25.0,
            "written_appeal": 118.0,
            "peer_to_peer": 250.0,
            "external_review": 300.0,
            "legal": 5000.0,
        },
        "idr_admin_fee": None,
        "idr_entity_fee": None,
        "annual_discount_rate": 0.1,
        "internal_appeal_days": None,
        "open_negotiation_business_days": None,
        "idr_start_business_days": None,
    },
    "rules_in_force": [RULE_IN_FORCE],
}

RECORDING: dict[str, Any] = {
    "enabled": True,
    "recorded": 18250,
    "queued": 3,
    "dropped": 0,
    "failed": 0,
    "last_error": None,
    "last_error_at": None,
}
READINESS: dict[str, Any] = {
    "status": "ready",
    "model": MODEL_REF,
    "loaded_at": "2026-04-10T08:00:00Z",
    "last_reload_error": None,
    "last_reload_error_at": None,
    "trees": "compiled",
    "recording": RECORDING,
}

#: The CSV a worklist upload returns in its ``ranked`` part (the first columns of one row).
RANKED_CSV = (
    "row,claim_id,payer_id,...,recommended_action,expected_net_recovery,path,...\n"
    "1,C-000123,AETNA,...,reconsideration,255.07,reconsideration > written_appeal,...\n"
)
