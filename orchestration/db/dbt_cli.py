"""`spotify-history-dbt`: dbt, connected to this project's database.

dbt_project/profiles.yml reads PGHOST … PGDATABASE. Dagster's dbt resource starts dbt with the
calling process's environment, so it runs this wrapper, which adds those variables (the embedded
server or DATABASE_URL, from the settings) to the dbt process alone: no Python process changes its
own os.environ for dbt to connect.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DBT = Path(sys.executable).with_name("dbt")
EXECUTABLE = Path(sys.executable).with_name("spotify-history-dbt")


def dbt_env() -> dict[str, str]:
    """The environment a dbt process connects to the application database with."""
    from orchestration.db.connection import libpq_env

    return {**os.environ, **libpq_env()}


def main() -> None:
    args = sys.argv[1:]
    # `--version` (asked by Dagster before every invocation) needs no database.
    env = dict(os.environ) if args == ["--version"] else dbt_env()
    os.execve(DBT, [str(DBT), *args], env)
