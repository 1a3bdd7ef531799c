"""The promotion gate's verdict on success log loss, and how it is worded."""

from __future__ import annotations

import pytest

from training.promote import LOG_LOSS_TOLERANCE, log_loss_verdict


@pytest.mark.parametrize(
    ("challenger", "champion", "not_worse", "words"),
    [
        (0.6075, 0.6009, False, "1.10% worse than the champion's, beyond the 0.50% tolerance: worse"),
        (0.6025, 0.6009, True, "0.27% worse than the champion's, within the 0.50% tolerance: not worse"),
        (0.6000, 0.6009, True, "0.15% better than the champion's: not worse"),
        (0.6009, 0.6009, True, "equal to the champion's: not worse"),
    ],
)
def test_the_verdict_says_how_much_worse_and_whether_that_is_within_the_tolerance(
    challenger, champion, not_worse, words
):
    verdict, reason = log_loss_verdict(challenger, champion)
    assert verdict is not_worse
    assert reason == f"success log loss {challenger:.4f} vs {champion:.4f}: {words}"


def test_the_tolerance_is_relative_and_its_edge_is_not_worse():
    assert log_loss_verdict(1.0 + LOG_LOSS_TOLERANCE, 1.0)[0]
    assert not log_loss_verdict(1.0 + LOG_LOSS_TOLERANCE + 1e-4, 1.0)[0]
    assert not log_loss_verdict(0.2 * (1 + 2 * LOG_LOSS_TOLERANCE), 0.2)[0]
