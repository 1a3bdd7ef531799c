"""Alembic environment of the store: runs on the connection ``Store.upgrade`` passes in.

The version table has its own name, so the store may share a PostgreSQL database with MLflow (whose
migrations keep ``alembic_version``). On PostgreSQL an advisory lock makes replicas that start together
apply the migrations one after the other.
"""

from alembic import context
from sqlalchemy import text

VERSION_TABLE = "recoup_store_version"
LOCK_ID = 0x7265636F7570  # "recoup"

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, render_as_batch=True)
if connection.dialect.name == "postgresql":
    connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
with context.begin_transaction():
    context.run_migrations()
