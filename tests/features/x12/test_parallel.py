"""Files read side by side (``ImportOptions.workers``) import exactly what one process imports: the same
claims, screening, re-adjudications, history and report, entry for entry and in the same order."""

from __future__ import annotations

import pandas as pd

from features.x12 import ImportOptions, import_x12
from tests.features.x12.builders import claim, interchange, remit
from training.simulator import simulate_history
from training.x12_writer import write_x12


def _bad_files(folder):
    """Defects the reader reports at several levels, among the simulator's files."""
    bad = claim("BAD1", charge="1000.00")
    bad[0] = bad[0].replace("*1000.00*", "*10O0.00*")
    (folder / "amount.835").write_text(interchange(remit(claim("OK1"), bad, claim("OK2"))))
    (folder / "count.835").write_text(interchange(remit(claim("GOOD1"))).replace("SE*16*0001", "SE*15*0001"))
    (folder / "notes.csv").write_text("claim_id,level\nC1,1\n")


def test_two_workers_import_what_one_imports(tmp_path):
    files = write_x12(simulate_history(250, seed=3), tmp_path)
    _bad_files(tmp_path / "remits")
    imports = [
        import_x12(
            [tmp_path / "remits"],
            ImportOptions(claims_837=[tmp_path / "claims"], workers=workers),
            appeals=files.appeals,
        )
        for workers in (1, 2)
    ]
    one, two = (imported.result for imported in imports)
    assert len(one.claims) > 200 and one.report.problems  # real claims and real defects
    pd.testing.assert_frame_equal(one.claims, two.claims)
    pd.testing.assert_frame_equal(one.screening, two.screening)
    pd.testing.assert_frame_equal(one.readjudications, two.readjudications)
    pd.testing.assert_frame_equal(imports[0].history, imports[1].history)
    assert one.report == two.report
