"""dbt models as Dagster assets: raw tables feed staging → intermediate → marts in one graph.

Sources resolve to the raw-table asset keys (["spotify_raw", <table>]), models get
[<layer>, <model>] keys, dbt tests become asset checks, and every model carries an automation
condition so the marts refresh by themselves after new raw data (the `refresh_marts` sensor).
"""

import functools
import json
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from orchestration.db import catalog, connect, ensure_schema
from orchestration.db.dbt_cli import EXECUTABLE
from orchestration.defs.dbt.project import dbt_project, require_manifest, run_dbt
from orchestration.marts_builds import record_marts_build

DBT_ASSETS = "dbt_models"
DBT_POOL = "dbt"

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


def dbt_models(project: DbtProject) -> dg.AssetsDefinition:
    """The dbt assets of the project's manifest (one object per manifest version, so repeated builds agree)."""
    manifest = require_manifest(project)
    return _dbt_models(str(project.project_dir), str(manifest), manifest.stat().st_mtime_ns)


@functools.cache
def _dbt_models(project_dir: str, manifest_path: str, _manifest_mtime: int) -> dg.AssetsDefinition:
    manifest = Path(manifest_path)

    @dbt_assets(
        manifest=manifest,
        dagster_dbt_translator=Translator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_source_tests_as_checks=True)
        ),
        pool=DBT_POOL,
        name=DBT_ASSETS,
    )
    def build(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig) -> Iterator[Any]:
        """`dbt build` of the selected models (with their data tests, as asset checks)."""
        ensure_schema()
        ensure_views(context, Path(project_dir), manifest)
        args = [*BUILD_ARGS, "--full-refresh"] if config.full_refresh else BUILD_ARGS
        started, invocation = datetime.now(UTC), dbt.cli(args, context=context)
        results = invocation.target_path / "run_results.json"
        try:
            yield from invocation.stream()
        except Exception as exc:  # recorded for ops.latest_job_runs, then failed as before
            record_marts_build(context.run_id, config.full_refresh, started, results, error=str(exc))
            raise
        record_marts_build(context.run_id, config.full_refresh, started, results)

    return build


def dbt_resource(project: DbtProject) -> DbtCliResource:
    # The wrapper gives dbt the database's libpq variables (profiles.yml reads them).
    return DbtCliResource(project_dir=project, dbt_executable=str(EXECUTABLE))


def staging_views(manifest: Path) -> list[str]:
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return sorted(
        f"{n['schema']}.{n['alias']}"
        for n in nodes
        if n["resource_type"] == "model"
        and n["config"].get("materialized") == "view"
        and n["original_file_path"].startswith("models/staging/")
    )


def missing_views(manifest: Path | None = None) -> list[str]:
    """Staging views of the manifest (default: the settings' project) that do not exist in the database (yet)."""
    manifest = manifest or dbt_project().manifest_path
    with connect() as conn:
        return catalog.missing_views(conn, staging_views(manifest))


def ensure_views(context: dg.AssetExecutionContext, project_dir: Path, manifest: Path) -> None:
    """Create the staging views before a build of a subset.

    The automation builds what changed upstream; on a fresh database that can leave out a staging
    view the selected models read (stg_app__users, whose input app.users was reported before the
    first tick). Staging views read only the raw and app tables (always there after the migrations)
    and hold no data, so creating them all is cheap and never wrong.
    """
    missing = missing_views(manifest)
    if not missing:
        return
    context.log.info(f"creating {len(missing)} staging view(s) not built yet: {', '.join(missing)}")
    args = ["run", "--select", "path:models/staging,config.materialized:view", "--quiet"]
    # A target folder of its own: another process may be running dbt in the project at the same time.
    with tempfile.TemporaryDirectory(prefix="dbt-views-") as target:
        run_dbt(args, project=DbtProject(project_dir, profiles_dir=project_dir), target_path=Path(target), check=True)
