-- Run once by the postgres image on an empty volume (deploy/compose.yaml).
-- Prefect's database is POSTGRES_DB; it needs pg_trgm. MLflow gets its own two.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE DATABASE mlflow;
CREATE DATABASE mlflow_users;
