"""Payer profiles as the bundle reads them at scoring time."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from models.bundle import PayerProfiles


def test_attempt_counts_by_payer_and_level_and_no_cache_in_a_pickle():
    by_level = pd.DataFrame(
        {"payer_id": ["A", "A", "B"], "level": ["reconsideration", "legal", "legal"], "attempts": [5, 2, 40]}
    )
    profiles = PayerProfiles(pd.DataFrame(), by_level)
    profiles.__dict__["_counts"] = by_level.set_index(["payer_id", "level"])["attempts"]  # an older cache
    payers = np.array(["A", "A", None, "B", "C"], dtype=object)
    levels = np.array(["reconsideration", "legal", "legal", "legal", "legal"], dtype=object)
    np.testing.assert_array_equal(profiles.attempts(payers, levels), [5, 2, 0, 40, 0])
    restored = pickle.loads(pickle.dumps(profiles))
    assert not {"_counts", "_attempt_counts"} & set(restored.__dict__)
    np.testing.assert_array_equal(restored.attempts(payers, levels), [5, 2, 0, 40, 0])
