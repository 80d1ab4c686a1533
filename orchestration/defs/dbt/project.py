"""The dbt project Dagster loads, and the one step that prepares its manifest.

The definitions are built from target/manifest.json; loading them never parses the project (no
subprocess, no database). The manifest is prepared explicitly: by `spotify-history up` and
`spotify-history prepare`, by the CLI before its in-process runs, by the Docker image build, by
the test session, and under `dagster dev` when the definitions are built (prepare_if_dev: what
DbtProject.prepare_if_dev() does, with the dbt beside this Python and only when the models changed).
"""

import os
import subprocess
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.config import Settings, get_settings
from orchestration.db.dbt_cli import DBT

# The dbt installed beside this Python, whether or not the virtualenv is on PATH.
DBT_EXECUTABLE = str(DBT)


def dbt_project(settings: Settings | None = None) -> DbtProject:
    project_dir = (settings or get_settings()).dbt_project_dir
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir)


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
        env = {**os.environ, "DBT_PROFILES_DIR": str(project.profiles_dir)}
        subprocess.run([DBT_EXECUTABLE, "parse", "--quiet"], cwd=project.project_dir, env=env, check=True)
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
