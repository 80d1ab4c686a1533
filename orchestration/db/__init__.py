"""Database access: where Postgres is (embedded or DATABASE_URL), connections, schema migrations."""

from orchestration.db.connection import app_database_url, connect, dagster_database_url, libpq_env
from orchestration.db.migrate import ensure_schema, upgrade

__all__ = ["app_database_url", "connect", "dagster_database_url", "ensure_schema", "libpq_env", "upgrade"]
