"""No patient data in any output file or log line: names, member ids, addresses, birth dates (NM1*QC/IL,
their N3/N4, DMG) never leave the import, whatever is written (claims, history, report, log)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from service.cli import app
from tests.features.x12.builders import claim, interchange, professional_claim, remit, submission, subscriber

SAMPLES = Path(__file__).parents[2] / "fixtures" / "x12" / "x12sdk"
#: Patient data planted in the hand-built files (builders) ...
PLANTED = [
    "DOE",
    "JANE",
    "MEMBER123",
    "ROE",
    "RICHARD",
    "SUBSCRIBER77",
    "99 PRIVATE LANE",
    "SECRETVILLE",
    "77777",
    "19610704",
    "1961-07-04",
]


DEFAULT_OPTIONS = [
    "--default",
    "place_of_service=11",
    "--default",
    "emergency=false",
    "--default",
    "service_date=2025-12-01",
    "--default",
    "state=IL",
]


def sample_patient_data() -> list[str]:
    """... and every name and member id in x12sdk's synthetic 835s."""
    found = []
    for path in SAMPLES.glob("*.835"):
        for segment in path.read_text().split("~"):
            fields = segment.strip().split("*")
            if fields[0] == "NM1" and fields[1] in ("QC", "IL"):
                found += [field for field in (fields[3], fields[4], fields[9]) if field]
    return found


def recoup(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "-v", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def write_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    remits = tmp_path / "remits"
    remits.mkdir()
    for path in SAMPLES.glob("*.835"):
        (remits / path.name).write_text(path.read_text())
    too_long = "NM1*QC*1*" + "DOE" * 25 + "*JANE****MI*MEMBER123"  # invalid: reported, never quoted
    (remits / "hand.835").write_text(
        interchange(
            remit(
                claim("ACCT1"),
                claim("ACCT2", patient=too_long),
                claim(
                    "ACCT3",
                    paid="0",
                    status="4",
                    lines=[["SVC*HC:99285*1000*0**1", "DTM*472*20250201", "CAS*CO*50*1000"]],
                ),
            )
        )
    )
    claims_837 = tmp_path / "claims.837"
    claims_837.write_text(
        interchange(
            submission(subscriber(2, [professional_claim("ACCT1"), professional_claim("ACCT3")])),
            version="005010X222A2",
            functional="HC",
        )
    )
    log = tmp_path / "appeals.csv"
    log.write_text(
        "Claim ID,Patient Name,Member ID,Appeal Level,Date Submitted,Date Resolved,Result\n"
        "ACCT1,JANE DOE,MEMBER123,Reconsideration,2025-03-20,2025-04-20,upheld\n"
        "ACCT3,RICHARD ROE,SUBSCRIBER77,Written Appeal,2025-03-25,,pending\n"
    )
    return remits, claims_837, log


def outputs_text(paths: list[Path]) -> str:
    texts = []
    for path in paths:
        texts.append(pd.read_parquet(path).to_csv() if path.suffix == ".parquet" else path.read_text())
        texts.append(path.read_bytes().decode("latin-1"))  # the raw bytes too (parquet metadata, dictionaries)
    return "\n".join(texts)


def test_no_patient_data_in_any_output_file_or_log_line(tmp_path):
    remits, claims_837, log = write_inputs(tmp_path)
    out = tmp_path / "out"
    files = [out / "claims.parquet", out / "claims.csv", out / "history.parquet", out / "report.txt"]
    common = ["--claims-837", str(claims_837), "--appeals", str(log), *DEFAULT_OPTIONS]
    first = recoup(
        "import-x12",
        str(remits),
        "-o",
        str(files[0]),
        "--history-out",
        str(files[2]),
        "--report",
        str(files[3]),
        *common,
    )
    second = CliRunner().invoke(app, ["import-x12", str(remits), "-o", str(files[1]), *common])
    assert first.returncode == 0, first.stderr
    assert "invalid claim" in first.stdout and len(pd.read_parquet(files[2])) == 2  # the import really ran
    written = outputs_text(files) + first.stdout + first.stderr + second.output
    leaks = [value for value in PLANTED + sample_patient_data() if value in written]
    assert leaks == []


def test_hashed_claim_ids_need_a_salt_and_hide_the_account_numbers(tmp_path):
    remits, _, _ = write_inputs(tmp_path)
    output = tmp_path / "claims.csv"
    args = ["import-x12", str(remits), "-o", str(output), "--hash-claim-ids", *DEFAULT_OPTIONS]
    runner = CliRunner()
    missing = runner.invoke(app, args, env={"RECOUP_CLAIM_ID_SALT": ""})
    assert missing.exit_code == 2 and "RECOUP_CLAIM_ID_SALT" in missing.output
    hashed = runner.invoke(app, [*args, "--report", str(tmp_path / "report.txt")], env={"RECOUP_CLAIM_ID_SALT": "s3"})
    assert hashed.exit_code == 0, hashed.output
    written = output.read_text() + hashed.output + (tmp_path / "report.txt").read_text()
    assert "ACCT1" not in written and "ACCT2" not in written and "PCN000001" not in written
    ids = pd.read_csv(output)["claim_id"]
    assert ids.str.fullmatch(r"H[0-9A-F]{20}").all()
    again = runner.invoke(app, args, env={"RECOUP_CLAIM_ID_SALT": "s3"})
    assert again.exit_code == 0 and pd.read_csv(output)["claim_id"].tolist() == ids.tolist()  # same salt, same ids
