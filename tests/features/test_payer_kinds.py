"""The public payer-kind table and how a payer id or a billing system's name finds its kind."""

from __future__ import annotations

import pandas as pd
import pytest

from features.payer_kinds import PAYER_KINDS, load_payer_kinds, payer_kinds
from training.world import PAYER_SPECS


def test_ids_names_and_unknown_payers_find_their_kind():
    ids = pd.Series(["MULTIPLAN", " zelis ", "BLUE CROSS BLUE SHIELD OF TEXAS", "ACME HEALTH", None, "MULTIPLAN"])
    assert payer_kinds(ids).tolist() == ["repricer", "repricer", "blue", "", "", "repricer"]


def test_every_simulated_payer_has_the_kind_the_public_table_gives_it():
    """The simulator draws its payers' behaviour by kind; the table a provider would keep agrees with it."""
    ids = pd.Series([spec.payer_id for spec in PAYER_SPECS])
    assert payer_kinds(ids).tolist() == [spec.kind for spec in PAYER_SPECS]


def test_a_kind_outside_the_vocabulary_is_refused_naming_the_payer():
    with pytest.raises(ValueError, match=r"'ACME' has kind 'hmo', not one of " + ", ".join(PAYER_KINDS)):
        load_payer_kinds("# a comment\npayer_id,kind,notes\nAETNA,commercial,\nACME,HMO,\n")
