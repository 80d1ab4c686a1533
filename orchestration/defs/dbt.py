"""dbt models as Dagster assets: raw tables feed staging → intermediate → marts in one graph.

Sources resolve to the raw-table asset keys (["spotify_raw", <table>]), models get
[<layer>, <model>] keys, dbt tests become asset checks, and every model carries an automation
condition so the marts refresh by themselves after new raw data (the `refresh_marts` sensor).
"""

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from orchestration.config import get_settings
from orchestration.db import ensure_schema, libpq_env
from orchestration.marts_builds import record_marts_build

project_dir = get_settings().dbt_project_dir
dbt_project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)


# The dbt installed beside this Python, whether or not the virtualenv is on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))


def _manifest_is_stale() -> bool:
    """Missing, or older than a file of the project (a model edited since the last parse)."""
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    folders = ("models", "macros", "tests", "seeds", "snapshots")
    sources = [p for folder in folders for p in (project_dir / folder).rglob("*") if p.is_file()]
    sources += [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    return any(p.exists() and p.stat().st_mtime > built for p in sources)


def prepare_manifest(force: bool = False) -> None:
    """Parse the dbt project into target/manifest.json (what the asset definitions are built from).

    Done when the manifest is missing or stale, under `dagster dev`, and by `spotify-history up` at start.
    """
    if force or _manifest_is_stale():
        env = {**os.environ, "DBT_PROFILES_DIR": str(project_dir)}
        subprocess.run([DBT_EXECUTABLE, "parse", "--quiet"], cwd=project_dir, env=env, check=True)


prepare_manifest(force=bool(os.environ.get("DAGSTER_IS_DEV_CLI")))

# Refresh after any upstream update, even when some upstream partitions (e.g. a failed import)
# were never materialized — eager() alone would wait for those forever.
REFRESH_CONDITION = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())


class Translator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["config"].get("schema") or "dbt", dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["config"].get("schema") or "dbt"

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        return REFRESH_CONDITION


# Unit tests check the SQL, not the data: they run in CI (tests/test_dbt_unit_tests.py), not in
# every refresh, where they would cost seconds after each poll.
BUILD_ARGS = ["build", "--exclude-resource-type", "unit_test"]


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False
    """Rebuild incremental models from scratch (`dbt build --full-refresh`)."""


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=Translator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_source_tests_as_checks=True)
    ),
    pool="dbt",
    name="dbt_models",
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig) -> Iterator[Any]:
    """`dbt build` of the selected models (with their data tests, as asset checks)."""
    ensure_schema()
    os.environ.update(libpq_env())  # profiles.yml reads PGHOST … PGDATABASE
    ensure_views(context)
    args = [*BUILD_ARGS, "--full-refresh"] if config.full_refresh else BUILD_ARGS
    started, invocation = datetime.now(UTC), dbt.cli(args, context=context)
    results = invocation.target_path / "run_results.json"
    try:
        yield from invocation.stream()
    except Exception as exc:  # recorded for ops.latest_job_runs, then failed as before
        record_marts_build(context.run_id, config.full_refresh, started, results, error=str(exc))
        raise
    record_marts_build(context.run_id, config.full_refresh, started, results)


def missing_views() -> list[str]:
    """Staging views of the manifest that do not exist in the database (yet)."""
    import json

    from orchestration.db import connect

    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"].values()
    views = {
        f"{n['schema']}.{n['alias']}"
        for n in nodes
        if n["resource_type"] == "model"
        and n["config"].get("materialized") == "view"
        and n["original_file_path"].startswith("models/staging/")
    }
    with connect() as conn:
        rows = conn.execute(
            "select table_schema || '.' || table_name from information_schema.views where table_schema || '.' || "
            "table_name = any(%s)",
            (sorted(views),),
        ).fetchall()
    return sorted(views - {name for (name,) in rows})


def ensure_views(context: dg.AssetExecutionContext) -> None:
    """Create the staging views before a build of a subset.

    The automation builds what changed upstream; on a fresh database that can leave out a staging
    view the selected models read (stg_app__users, whose input app.users was reported before the
    first tick). Staging views read only the raw and app tables (always there after the migrations)
    and hold no data, so creating them all is cheap and never wrong.
    """
    missing = missing_views()
    if not missing:
        return
    context.log.info(f"creating {len(missing)} staging view(s) not built yet: {', '.join(missing)}")
    env = {**os.environ, "DBT_PROFILES_DIR": str(project_dir)}
    cmd = [DBT_EXECUTABLE, "run", "--select", "path:models/staging,config.materialized:view", "--quiet"]
    subprocess.run([*cmd, "--target-path", str(project_dir / "target" / "views")], cwd=project_dir, env=env, check=True)


dbt_resource = DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)

refresh_marts_job = dg.define_asset_job(
    "refresh_marts",
    selection=dg.AssetSelection.assets(dbt_models),
    description="dbt build: staging → intermediate → marts, with tests.",
)

refresh_marts_sensor = dg.AutomationConditionSensorDefinition(
    "refresh_marts",
    target=dg.AssetSelection.assets(dbt_models),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Builds the dbt models after new raw data lands (imports, polls).",
)
