"""Outcomes in: history rows checked by the contract's validator, then stored all or nothing.

``POST /v1/outcomes`` and ``recoup outcomes import`` both call ``import_outcomes``, so a row is judged and
worded the same way whether it came in a request or a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import sqlalchemy as sa

from features.store import AttemptChange, OutcomeChanges, OutcomeConflict, Store
from features.validation import ValidationResult, validate_history

CONFLICT_RULE = "differs from the resolved attempt already stored (a resolved outcome never changes)"


@dataclass
class OutcomeImport:
    """What happened to a table of outcomes: rejected rows (then nothing was stored), conflicts with
    resolved attempts (nothing stored), or the changes made."""

    validation: ValidationResult
    changes: OutcomeChanges = field(default_factory=OutcomeChanges)
    conflicts: list[AttemptChange] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return not self.validation.report.ok

    @property
    def stored(self) -> bool:
        return not self.rejected and not self.conflicts

    def summary(self) -> str:
        if self.rejected:
            return "nothing stored: rows were rejected\n" + self.validation.report.to_text()
        if self.conflicts:
            lines = [f"nothing stored: {len(self.conflicts)} row(s) would change a resolved attempt"]
            lines += [f"  row {c.row}, column {', '.join(c.fields)}: {CONFLICT_RULE}" for c in self.conflicts[:20]]
            return "\n".join(lines)
        counts = {status: len(self.changes.by_status(status)) for status in ("inserted", "updated", "unchanged")}
        return ", ".join(f"{count:,} {status}" for status, count in counts.items())


def import_outcomes(store: Store, table: pd.DataFrame, *, today: date | None = None) -> OutcomeImport:
    """Validate history rows (``table`` indexed by 1-based row number) and store them in one transaction.

    Any rejected row, or any row that would change a resolved attempt, stores nothing. Two writers
    inserting the same attempt at once (two replicas) are resolved by trying again once: the second then
    sees the first's row as unchanged, or as a conflict.
    """
    result = validate_history(table, today=today, keep_truth=False)
    if not result.report.ok:
        return OutcomeImport(result)
    for attempt in range(2):
        try:
            return OutcomeImport(result, changes=store.apply_outcomes(result.valid))
        except OutcomeConflict as conflict:
            return OutcomeImport(result, conflicts=conflict.conflicts)
        except sa.exc.IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")
