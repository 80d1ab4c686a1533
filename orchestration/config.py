"""Settings, read once from the environment.

Every knob the system has is a field here; the names are the environment variables users set
(case-insensitive), so README, docker-compose and code share one vocabulary.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import get_args

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024**2
GiB = 1024**3


class Settings(BaseSettings):
    # env_ignore_empty: `KEY=` (as .env.example ships every placeholder) means unset, not "", so an
    # empty TOKEN_ENCRYPTION_KEY falls back to the key file and an empty secret to a PKCE public client.
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False, env_ignore_empty=True)

    spotify_history_home: Path = Field(
        default=Path(".data"),
        description="Folder for the embedded Postgres, the Dagster instance and the inboxes.",
    )
    database_url: SecretStr | None = Field(
        default=None, description="Postgres URL; when unset an embedded server is started on demand."
    )
    dagster_database_url: SecretStr | None = Field(
        default=None,
        description="Postgres URL for Dagster's run/event storage; defaults to a `dagster` database "
        "on the embedded server, or to DATABASE_URL.",
    )
    api_database_url: SecretStr | None = Field(
        default=None,
        description="Postgres URL of the API's read-only role; `serve-api` derives it from the database when unset.",
    )
    default_timezone: str = Field(default="UTC", description="IANA zone for users added without --timezone.")

    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Addresses whose X-Forwarded-For/-Proto `serve-api` trusts (uvicorn's forwarded_allow_ips): "
        "comma-separated IPs or networks (CIDR), `*` for any; set it to your reverse proxy's address, or every "
        "client shares the proxy's address (rate limits, the consent page's lockout).",
    )

    backup_dir: Path | None = Field(
        default=None,
        description="Folder for the daily backup schedule (`backup_daily`); unset: the schedule stays off.",
    )
    backup_keep: int = Field(default=7, ge=1, description="How many daily backups the schedule keeps in BACKUP_DIR.")
    run_retention_days: float = Field(
        default=30,
        ge=0,
        description="Days Dagster keeps finished runs (their event and compute logs too): `prune_daily`, `prune`.",
    )
    failed_run_retention_days: float = Field(
        default=90, ge=0, description="Days Dagster keeps failed runs (they are what one looks back for)."
    )

    dbt_project_dir: Path = Field(
        default=Path(__file__).resolve().parents[1] / "dbt_project",
        description="The dbt project (profiles.yml inside reads PGHOST … from the environment).",
    )
    inbox_dir: Path | None = Field(
        default=None, description="Inbox root; one sub-folder per user. Default: $SPOTIFY_HISTORY_HOME/inbox."
    )
    inbox_sensor_interval_seconds: int = Field(default=30, ge=5)
    inbox_settle_seconds: float = Field(
        default=5.0, ge=0, description="A file must be unchanged this long before the sensor imports it."
    )

    # Import safety caps. Real exports are far below all of these.
    import_max_archive_bytes: int = Field(default=4 * GiB, gt=0)
    import_max_uncompressed_bytes: int = Field(default=32 * GiB, gt=0)
    import_max_compression_ratio: float = Field(default=200.0, gt=1)
    import_max_entries: int = Field(default=20_000, gt=0)
    import_max_records: int = Field(default=100_000_000, gt=0)
    # Parsing caps per file: what one record may make the parser hold (Spotify: depth 2, strings and
    # records well under 2 kB). Exceeding one fails the import, naming file and record.
    import_max_depth: int = Field(default=32, ge=2, description="Deepest nesting of lists and objects.")
    import_max_string_bytes: int = Field(default=256 * 1024, gt=0, description="Longest string or number.")
    import_max_record_bytes: int = Field(default=1024 * 1024, gt=0, description="Largest record (list item).")
    import_parser_process_bytes: int = Field(
        default=32 * MiB,
        ge=0,
        description="Imports of at least this much JSON are parsed by a child process (0: every import).",
    )

    # Spotify Web API (README "Connecting Spotify"). Without a client id, `auth` commands explain
    # what to configure and `up` runs the fake Spotify (demo mode).
    spotify_client_id: str | None = Field(default=None, description="Client id of your Spotify app.")
    spotify_client_secret: SecretStr | None = Field(
        default=None, description="Optional: the app's secret (PKCE works without it)."
    )
    spotify_redirect_port: int = Field(
        default=8888,
        ge=0,
        le=65535,
        description="Port of the loopback redirect http://127.0.0.1:PORT/callback (register it in the "
        "Spotify app; 0 = any free port, only useful against the fake).",
    )
    spotify_accounts_base_url: str = Field(default="https://accounts.spotify.com")
    spotify_api_base_url: str = Field(default="https://api.spotify.com")
    token_encryption_key: SecretStr | None = Field(
        default=None,
        description="Comma-separated Fernet keys, the first encrypts; default: a key file in "
        "$SPOTIFY_HISTORY_HOME/secrets/.",
    )
    poll_interval_seconds: int = Field(default=600, ge=1, description="How often each linked user is polled.")
    initial_sync_max_days: int = Field(default=30, ge=1, description="How far back API backfills walk.")
    initial_sync_max_requests: int = Field(default=200, ge=1, description="Most API requests of one backfill.")
    spotify_run_budget_seconds: float = Field(
        default=300.0, gt=0, description="Longest a poll or backfill run may spend waiting and fetching."
    )
    spotify_max_retry_after_seconds: float = Field(
        default=120.0, ge=0, description="Longest Retry-After a run waits out; a longer one ends the run."
    )
    spotify_max_rate_limits: int = Field(default=5, ge=0, description="429 answers one run tolerates.")
    spotify_max_retries: int = Field(default=4, ge=0, description="Retries after a 5xx or transport error.")
    spotify_timeout_seconds: float = Field(default=20.0, gt=0)

    @field_validator("spotify_history_home", "inbox_dir", "dbt_project_dir", "backup_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @property
    def inbox_root(self) -> Path:
        return self.inbox_dir or self.spotify_history_home / "inbox"

    @property
    def embedded_pgdata(self) -> Path:
        return self.spotify_history_home / "postgres"

    @property
    def dagster_home(self) -> Path:
        return self.spotify_history_home / "dagster"

    @property
    def token_key_file(self) -> Path:
        return self.spotify_history_home / "secrets" / "token_encryption.key"


def secret_variables() -> frozenset[str]:
    """The environment variables that hold secrets: every SecretStr setting."""
    return frozenset(
        name.upper()
        for name, spec in Settings.model_fields.items()
        if spec.annotation is SecretStr or SecretStr in get_args(spec.annotation)
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reload_settings() -> Settings:
    """Forget cached settings (tests and the CLI change the environment at run time)."""
    get_settings.cache_clear()
    return get_settings()
