-- The recoup store's database, beside MLflow's (POSTGRES_DB); the replicas create its tables (Alembic).
CREATE DATABASE recoup OWNER recoup;
