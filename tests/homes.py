"""A home of its own for a test: the CLI and Python run in subprocesses with SPOTIFY_HISTORY_HOME set to
it, so they start their own embedded Postgres and Dagster instance (as a user's machine would), apart
from the test session's shared home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DAGSTER_", "PG"))}
    for key in ("DATABASE_URL", "API_DATABASE_URL", "TOKEN_ENCRYPTION_KEY", "INBOX_DIR"):
        env.pop(key, None)
    return env | {"SPOTIFY_HISTORY_HOME": str(home)}


def cli(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(BIN / "spotify-history"), *args], env=env, capture_output=True, text=True, timeout=600)
    if ok:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def python(env: dict[str, str], code: str) -> str:
    """The last line `code` prints, run in a Python subprocess in the home."""
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
