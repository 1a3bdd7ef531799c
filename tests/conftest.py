"""Shared fixtures: small contract-valid tables and the optional PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

HISTORY_HEADER = (
    "claim_id,payer_id,plan_type,funding,state,place_of_service,cpt_code,modifier,units,specialty,emergency,"
    "nsa_eligible,network_gap,service_date,initial_payment_date,billed_amount,initial_allowed_amount,"
    "qpa_amount,carc_codes,has_medical_necessity_letter,has_clinical_notes,prior_authorization,level,"
    "submitted_date,resolved_date,outcome,final_allowed_amount"
)
GOOD_ROWS = (
    "C1,aetna,PPO,self_funded,TX,23,99285,,1,emergency_medicine,true,true,false,2025-01-02,2025-02-01,"
    "2400,310,350,CO-45,false,true,false,reconsideration,2025-02-10,2025-03-01,upheld,310",
    "C1,aetna,PPO,self_funded,TX,23,99285,,1,emergency_medicine,true,true,false,2025-01-02,2025-02-01,"
    "2400,310,350,CO-45,false,true,false,external_review,2025-03-20,2025-05-01,settled,1100",
    "C2,CIGNA,HMO,fully_insured,FL,22,74177,26,1,radiology,false,,false,2025-03-05,2025-04-01,"
    '900,0,,"CO-50,PR-2",true,false,false,written_appeal,2025-04-15,,pending,',
)


@pytest.fixture
def history_csv(tmp_path):
    """Write a history CSV from the good rows plus any extra lines; returns the path."""

    def write(*extra_rows: str, header: str = HISTORY_HEADER, rows: tuple[str, ...] = GOOD_ROWS):
        path = tmp_path / "history.csv"
        path.write_text("\n".join([header, *rows, *extra_rows]) + "\n")
        return path

    return write


@pytest.fixture(scope="session")
def postgres_uri() -> str:
    """A reachable PostgreSQL URI; skips (or fails when RECOUP_REQUIRE_POSTGRES=1) without one."""
    uri = os.environ.get("RECOUP_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        import psycopg

        psycopg.connect(uri, connect_timeout=3).close()
    except Exception as error:
        if os.environ.get("RECOUP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required in CI but {uri} is unreachable: {error}")
        pytest.skip(f"no PostgreSQL server at {uri} ({error.__class__.__name__}); set RECOUP_TEST_POSTGRES_URI")
    return uri


@pytest.fixture
def new_postgres_database(postgres_uri: str) -> Iterator[Callable[[], str]]:
    """Creates PostgreSQL databases for one test (each call a new one), dropped after it (never tables in a
    shared one); the production layout test takes two, one for MLflow and one for the store."""
    import psycopg

    admin = postgres_uri.rsplit("/", 1)[0] + "/postgres"
    created: list[str] = []

    def create() -> str:
        name = f"recoup_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return postgres_uri.rsplit("/", 1)[0] + "/" + name

    try:
        yield create
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            for name in created:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_postgres_uri(new_postgres_database: Callable[[], str]) -> str:
    """A PostgreSQL database created for one test and dropped after it."""
    return new_postgres_database()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_uri(request: pytest.FixtureRequest, tmp_path) -> str:
    """A store URI of each kind the product supports: an SQLite file, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("fresh_postgres_uri")


@pytest.fixture
def store(store_uri: str):
    from features.store import Store

    opened = Store.open(store_uri)
    try:
        yield opened
    finally:
        opened.close()
