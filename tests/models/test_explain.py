"""Reasons read as correct sentences about what the claim has, for every feature the model can name.

Every feature of a trained bundle (the scoring reference's) at every kind of value it takes (0, 1, a
typical number, several, missing, each category code including the rare and missing ones), in both
directions, is worded and checked: the verb agrees with its subject, a flag or count at zero reads as an
absence, no column name, ``nan`` or ``None`` leaks, and the numbers are the claim's.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from features.schema import ESCALATION_LEVELS
from features.validation import validate_claims
from models.explain import FLAGS, sentence, subject, top_reasons

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "scoring_reference"
#: Head nouns that are plural (the subject's last word before any "on the claim", "attached", "billed").
PLURAL_HEADS = {"notes", "codes", "units", "days", "disputes"}
STEPS = ("reconsideration", "written appeal", "peer to peer", "external review", "legal")


@pytest.fixture(scope="module")
def bundle():
    return joblib.load(REFERENCE / "bundle.joblib")


def _values(name: str, categories: dict[str, list[str]]) -> list[float]:
    if name in categories:
        return [float(code) for code in range(len(categories[name]))] + [math.nan]
    return [0.0, 1.0, 2.0, 0.37, 4.2, 7.5, 150.0, math.nan]


def _head_is_plural(text: str) -> bool:
    """Whether the subject's head noun is plural: the last word of its noun phrase, before a qualifier."""
    if text.startswith(("having ", "taking ", "skipping ")) or " being " in text or " not " in text:
        return False  # a gerund phrase is singular whatever it speaks of
    core = re.split(r" \(| on the claim| attached| billed| since | at | for ", text)[0]
    return core.split()[-1] in PLURAL_HEADS


def test_every_feature_at_every_kind_of_value_reads_as_a_correct_sentence(bundle):
    categories = bundle.transformer.categories_
    for name in bundle.models.feature_names:
        for value in _values(name, categories):
            text, plural = subject(name, value, categories)
            assert plural == _head_is_plural(text), (name, value, text)
            for raises in (True, False):
                for step in STEPS:
                    said = sentence(text, plural, raises, step)
                    assert said[0].isupper() and said.endswith(f"the chance of success at {step}"), said
                    assert not re.search(r"\b(nan|None|inf)\b|_{2}", said), said
                    verb = said.removeprefix(text[0].upper() + text[1:]).split()[0]
                    expected = ("raise" if raises else "lower") + ("" if plural else "s")
                    assert verb == expected, (name, value, said)


def test_a_flag_or_count_at_zero_reads_as_its_absence(bundle):
    categories = bundle.transformer.categories_
    for name in FLAGS:
        present, _ = subject(name, 1.0, categories)
        absent, plural = subject(name, 0.0, categories)
        assert absent != present and not plural
        assert re.search(r"\b(no|not|lack|nothing|partly|in-network alternative)\b", absent), absent
    assert subject("levels_skipped", 0.0)[0] == "taking the steps in order (none skipped)"
    assert subject("levels_skipped", 2.0)[0] == "skipping 2 steps"
    assert subject("levels_skipped", 1.0)[0] == "skipping 1 step"
    assert subject("carc_count", 0.0)[0] == "having no adjustment codes"


def test_the_issue_sentences_are_worded_correctly():
    notes, plural = subject("has_clinical_notes", 1.0)
    assert sentence(notes, plural, True, "reconsideration") == (
        "The clinical notes attached raise the chance of success at reconsideration"
    )
    codes, plural = subject("carc_administrative", 1.0)
    assert sentence(codes, plural, True, "written appeal") == (
        "The administrative adjustment codes on the claim raise the chance of success at written appeal"
    )
    skipped, plural = subject("levels_skipped", 0.0)
    assert not sentence(skipped, plural, False, "reconsideration").startswith("Skipping")


def test_reasons_carry_the_claims_own_numbers():
    assert subject("billed_to_medicare", 4.23)[0] == "the charge at 4.2x Medicare"
    assert subject("allowed_to_billed", 0.256)[0] == "the amount allowed so far at 26% of the charge"
    assert subject("log_billed", math.log1p(12_345.0))[0] == "the billed amount of about $12,300"
    assert subject("log_dollars_at_stake", math.log1p(640.0))[0] == "the $640 still at stake"
    assert subject("days_since_payment", 45.0)[0] == "the 45 days since the initial payment"
    assert subject("qpa_to_billed", math.nan)[0] == "the QPA not being disclosed"


def test_top_reasons_formats_each_row_with_its_own_value_and_keeps_the_largest_first():
    features = ["billed_to_medicare", "has_clinical_notes", "levels_skipped"]
    contributions = np.array([[0.9, -0.3, 0.01], [-0.2, 0.0, -0.6]])
    values = np.array([[4.0, 1.0, 0.0], [2.5, 0.0, 0.0]])
    reasons = top_reasons(contributions, features, np.array(["written_appeal", "reconsideration"]), values)
    assert reasons == [
        [
            "The charge at 4.0x Medicare raises the chance of success at written appeal",
            "The clinical notes attached lower the chance of success at written appeal",
        ],
        [
            "Taking the steps in order (none skipped) lowers the chance of success at reconsideration",
            "The charge at 2.5x Medicare lowers the chance of success at reconsideration",
        ],
    ]


def test_scored_claims_never_say_they_skipped_a_step_or_have_codes_they_lack(bundle):
    claims = pd.read_parquet(REFERENCE / "claims.parquet").head(2_000)
    claims.index = pd.RangeIndex(1, len(claims) + 1)
    valid = validate_claims(claims).valid
    scored = bundle.score(valid)
    levels = {level.name: int(level) for level in ESCALATION_LEVELS}
    seen = 0
    for (_, claim), reasons, action in zip(
        valid.iterrows(), scored["reasons"], scored["recommended_action"], strict=True
    ):
        for said in filter(None, reasons.split("; ")):
            seen += 1
            if said.startswith("Skipping"):
                target = action if action != "accept" else said.rsplit(" at ", 1)[1].replace(" ", "_")
                skipped = levels[target] - int(claim["current_level"]) - 1
                assert skipped >= 1 and said.startswith(f"Skipping {skipped} step"), said
            if said.startswith("The clinical notes"):
                assert claim["has_clinical_notes"], said
            if said.startswith("Having no clinical notes"):
                assert not claim["has_clinical_notes"], said
            if said.startswith("The "):  # a plural subject takes raise/lower ("having no codes lowers" is right)
                assert not re.search(r"\b(codes|notes)( on the claim| attached)? (raises|lowers)\b", said), said
    assert seen > 1_000
