"""The dbt project Dagster loads, and the one step that prepares its manifest.

The definitions are built from target/manifest.json; loading them never parses the project (no
subprocess, no database). The manifest is prepared explicitly: by `spotify-history up` and
`spotify-history prepare`, by the CLI before its in-process runs, by the Docker image build, by
the test session, and under `dagster dev` when the definitions are built (prepare_if_dev: what
DbtProject.prepare_if_dev() does, with the dbt beside this Python and only when the models changed).
"""

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster_dbt import DbtProject

from orchestration.config import Settings, get_settings
from orchestration.db.dbt_cli import DBT, dbt_env

# The dbt installed beside this Python, whether or not the virtualenv is on PATH.
DBT_EXECUTABLE = str(DBT)


def dbt_project(settings: Settings | None = None) -> DbtProject:
    project_dir = (settings or get_settings()).dbt_project_dir
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir)


def run_dbt(
    args: Sequence[str],
    *,
    project: DbtProject | None = None,
    target_path: Path | None = None,
    connect: bool = True,
    **run: Any,
) -> subprocess.CompletedProcess[str]:
    """The project's dbt (the one beside this Python) in the project folder with its profiles.yml: the one
    way this package and its tests start dbt themselves (Dagster's dbt resource starts its own).

    connect: with the application database's libpq variables (dbt_env); `dbt parse` needs none.
    target_path: a target folder of its own, for a process that may run beside another dbt in the project.
    run: passed to subprocess.run (check, capture_output, timeout, ...); output is text.
    """
    project = project or dbt_project()
    env = {**(dbt_env() if connect else os.environ), "DBT_PROFILES_DIR": str(project.profiles_dir)}
    cmd = [DBT_EXECUTABLE, *args, *(["--target-path", str(target_path)] if target_path else [])]
    return subprocess.run(cmd, cwd=project.project_dir, env=env, text=True, **run)


def manifest_is_stale(project: DbtProject) -> bool:
    """Missing, or older than a file of the project (a model edited since the last parse)."""
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    project_dir = Path(project.project_dir)
    folders = ("models", "macros", "tests", "seeds", "snapshots")
    sources = [p for folder in folders for p in (project_dir / folder).rglob("*") if p.is_file()]
    sources += [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    return any(p.exists() and p.stat().st_mtime > built for p in sources)


def prepare_manifest(project: DbtProject | None = None, force: bool = False) -> Path:
    """Parse the project into target/manifest.json when it is missing or stale (always with force)."""
    project = project or dbt_project()
    if force or manifest_is_stale(project):
        run_dbt(["parse", "--quiet"], project=project, connect=False, check=True)
    return project.manifest_path


class ManifestMissingError(RuntimeError):
    pass


def require_manifest(project: DbtProject) -> Path:
    """The manifest the definitions are built from; a clear error when nobody prepared it."""
    if not project.manifest_path.exists():
        raise ManifestMissingError(
            f"no dbt manifest at {project.manifest_path}: run `spotify-history prepare` (or `spotify-history up`, "
            "which does it) before starting Dagster"
        )
    return project.manifest_path


def prepare_if_dev(project: DbtProject) -> None:
    """Under `dagster dev` (DAGSTER_IS_DEV_CLI), re-parse edited models when the definitions load."""
    if os.environ.get("DAGSTER_IS_DEV_CLI"):
        prepare_manifest(project)
