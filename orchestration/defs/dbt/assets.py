"""dbt models as Dagster assets: raw tables feed staging → intermediate → marts in one graph.

Sources resolve to the raw-table asset keys (["spotify_raw", <table>]), models get
[<layer>, <model>] keys, dbt tests become asset checks, and every model carries an automation
condition so the marts refresh by themselves after new raw data (the `refresh_marts` sensor).
"""

import functools
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from orchestration.db import connect, ensure_schema, relations
from orchestration.db.dbt_cli import EXECUTABLE
from orchestration.defs.dbt.project import dbt_project, require_manifest, run_dbt
from orchestration.marts_builds import finish_marts_build, start_marts_build

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


# Unit tests check the SQL, not the data: they run in CI (tests/dbt/test_dbt_unit_tests.py), not in
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
        # Recorded before dbt starts and completed when it ends: ops.latest_job_runs shows it live.
        build_id = start_marts_build(context.run_id, config.full_refresh, datetime.now(UTC), _run_over(context))
        results: Path | None = None
        try:
            invocation = dbt.cli(args, context=context)
            results = invocation.target_path / "run_results.json"
            yield from invocation.stream()
        except BaseException as exc:  # recorded for ops.latest_job_runs, then failed as before
            finish_marts_build(build_id, results, error=str(exc) or type(exc).__name__)
            raise
        finish_marts_build(build_id, results)

    return build


def _run_over(context: dg.AssetExecutionContext) -> Callable[[str], bool]:
    """Whether a Dagster run has ended (or is unknown to this instance)."""

    def over(run_id: str) -> bool:
        run = context.instance.get_run_by_id(run_id)
        return run is None or run.is_finished

    return over


def dbt_resource(project: DbtProject) -> DbtCliResource:
    # The wrapper gives dbt the database's libpq variables (profiles.yml reads them).
    return DbtCliResource(project_dir=project, dbt_executable=str(EXECUTABLE))


def staging_views(manifest: Path) -> list[str]:
    """The views that read only sources and other such views: the staging views, and the
    intermediate view over them (int_streams_unioned). They hold no data, so creating them is cheap."""
    nodes = json.loads(manifest.read_text())["nodes"]
    source_only: dict[str, bool] = {}

    def reads_no_model_table(unique_id: str) -> bool:
        if unique_id not in source_only:
            node = nodes.get(unique_id)
            source_only[unique_id] = (
                node is not None
                and node["resource_type"] == "model"
                and node["config"].get("materialized") == "view"
                and all(d.startswith("source.") or reads_no_model_table(d) for d in node["depends_on"]["nodes"])
            )
        return source_only[unique_id]

    return sorted(f"{n['schema']}.{n['alias']}" for uid, n in nodes.items() if reads_no_model_table(uid))


def missing_views(manifest: Path | None = None) -> list[str]:
    """Staging views of the manifest (default: the settings' project) that do not exist in the database (yet)."""
    manifest = manifest or dbt_project().manifest_path
    with connect() as conn:
        return relations.missing_views(conn, staging_views(manifest))


def ensure_views(context: dg.AssetExecutionContext, project_dir: Path, manifest: Path) -> None:
    """Create the views over the raw and app tables before a build of a subset.

    The automation builds what changed upstream; on a fresh database that can leave out a view the
    selected models read: stg_app__users, whose input app.users was reported before the first tick,
    or int_streams_unioned, when `users add` alone selects int_streams (issue 22: the first build
    after `users add` failed). These views read only the raw and app tables (always there after the
    migrations) and hold no data, so creating them all is cheap and never wrong.
    """
    missing = missing_views(manifest)
    if not missing:
        return
    context.log.info(f"creating {len(missing)} view(s) not built yet: {', '.join(missing)}")
    names = [view.split(".", 1)[1] for view in staging_views(manifest)]  # alias = model name in this project
    args = ["run", "--select", *names, "--quiet"]
    # A target folder of its own: another process may be running dbt in the project at the same time.
    with tempfile.TemporaryDirectory(prefix="dbt-views-") as target:
        run_dbt(args, project=DbtProject(project_dir, profiles_dir=project_dir), target_path=Path(target), check=True)
