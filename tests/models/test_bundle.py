"""Payer profiles as the bundle reads them at scoring time."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from models.bundle import PayerProfiles


def test_attempt_counts_by_payer_and_level_built_with_the_profiles_and_never_pickled():
    by_level = pd.DataFrame(
        {"payer_id": ["A", "A", "B"], "level": ["reconsideration", "legal", "legal"], "attempts": [5, 2, 40]}
    )
    profiles = PayerProfiles(pd.DataFrame(), by_level)
    profiles.__dict__["_counts"] = by_level.set_index(["payer_id", "level"])["attempts"]  # an older cache
    payers = np.array(["A", "A", None, "B", "C"], dtype=object)
    levels = np.array(["reconsideration", "legal", "legal", "legal", "legal"], dtype=object)
    np.testing.assert_array_equal(profiles.attempts(payers, levels), [5, 2, 0, 40, 0])
    assert not {"_counts", "_attempt_counts"} & set(profiles.__getstate__())
    restored = pickle.loads(pickle.dumps(profiles))
    assert "_counts" not in restored.__dict__ and "_attempt_counts" in restored.__dict__  # rebuilt on load
    np.testing.assert_array_equal(restored.attempts(payers, levels), [5, 2, 0, 40, 0])
