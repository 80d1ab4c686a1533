"""The dbt project as Dagster sees it: one asset graph from raw tables to marts, dbt tests as asset
checks, automation that refreshes the marts after new raw data, and `spotify-history refresh`."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from builds import app_conn, new_user
from export_files import write_json
from stored import run_cli

from orchestration.definitions import defs as load_defs
from orchestration.defs.dbt.assets import Translator
from orchestration.defs.dbt.assets import dbt_models as dbt_assets_of
from orchestration.defs.dbt.project import dbt_project as load_project
from orchestration.defs.imports.assets import export_files, partition_key_for
from orchestration.defs.imports.jobs import import_run_config
from orchestration.imports.reading.sources import describe

RAW = "spotify_raw"


@functools.cache
def defs() -> dg.Definitions:
    return load_defs()


def dbt_models() -> dg.AssetsDefinition:
    return dbt_assets_of(load_project())


def dbt_project() -> Any:
    return load_project()


@pytest.fixture(scope="module")
def graph() -> Any:
    return defs().resolve_asset_graph()


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return json.loads(dbt_project().manifest_path.read_text())


def dbt_keys() -> set[dg.AssetKey]:
    return set(dbt_models().keys)


def non_dbt_keys() -> set[dg.AssetKey]:
    """Keys defined in the code location by something other than dbt (import asset, app-table specs…)."""
    keys: set[dg.AssetKey] = set()
    for asset in defs().assets or []:
        if asset is dbt_models():
            continue
        keys |= set(asset.keys) if isinstance(asset, dg.AssetsDefinition) else {asset.key}
    return keys


TOP_ITEMS = dg.AssetKey([RAW, "spotify_top_items"])
"""Spotify's own ranking: a raw table, but no listening streams."""


def raw_keys(graph: Any) -> set[dg.AssetKey]:
    """The raw tables of listening streams (every source of a play)."""
    return {k for k in graph.get_all_asset_keys() if k.path[0] == RAW} - {TOP_ITEMS}


def upstream(graph: Any, key: dg.AssetKey) -> set[dg.AssetKey]:
    """Every ancestor, external assets (the app-table specs) included."""
    seen: set[dg.AssetKey] = set()
    todo = list(graph.get(key).parent_keys)
    while todo:
        parent = todo.pop()
        if parent not in seen:
            seen.add(parent)
            todo += graph.get(parent).parent_keys
    return seen


# -- (a) one graph ----------------------------------------------------------------------------------


def test_dbt_sources_are_the_assets_that_write_those_tables(manifest: dict[str, Any]) -> None:
    """Each dbt source is an asset defined in the code location (raw tables: the import asset and the
    poller; app tables: AssetSpecs), under the key ["<source name>", "<table>"]."""
    source_keys = {dg.AssetKey([s["source_name"], s["name"]]) for s in manifest["sources"].values()}
    assert {dg.AssetKey([RAW, t]) for t in ("extended_streams", "account_music_streams")} <= source_keys
    assert {dg.AssetKey(["app", "users"]), dg.AssetKey(["app", "imports"])} <= source_keys
    dangling = source_keys - non_dbt_keys()
    assert not dangling, f"dbt sources no asset defines: {sorted(k.to_user_string() for k in dangling)}"
    import_keys = set(defs().resolve_assets_def(dg.AssetKey([RAW, "extended_streams"])).keys)
    assert {k for k in source_keys if k.path[0] == RAW and k in import_keys} == import_keys


def test_the_asset_graph_is_one_connected_picture(graph: Any) -> None:
    every = set(graph.get_all_asset_keys())
    assert every == dbt_keys() | non_dbt_keys(), "keys nobody defines (auto-created stubs) are in the graph"
    for key in dbt_keys():
        assert graph.get(key).parent_keys <= every
    # Undirected reachability from one raw table covers the whole graph.
    seen, todo = set(), [dg.AssetKey([RAW, "extended_streams"])]
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            node = graph.get(key)
            todo += [*node.parent_keys, *node.child_keys]
    assert seen == every, f"not connected: {sorted(k.to_user_string() for k in every - seen)}"


def test_every_stream_mart_has_the_raw_tables_upstream(graph: Any) -> None:
    marts = {k for k in dbt_keys() if k.path[0] == "marts"}
    assert {k.path[-1] for k in marts} >= {"top_artists", "top_tracks", "listening_heatmap", "coverage", "repeat_rate"}
    raw = raw_keys(graph)
    assert len(raw) >= 4
    without_raw = {k.path[-1] for k in marts if not raw <= upstream(graph, k)}
    # The registry marts read app tables (imports, job_runs), spotify_top reads Spotify's own ranking;
    # every other mart is built from the streams.
    assert without_raw <= {"imports", "job_runs", "spotify_top"}
    assert dg.AssetKey(["app", "imports"]) in upstream(graph, dg.AssetKey(["marts", "imports"]))
    assert TOP_ITEMS in upstream(graph, dg.AssetKey(["marts", "spotify_top"]))
    for key in marts - {dg.AssetKey(["marts", "imports"])}:
        assert dg.AssetKey(["app", "users"]) in upstream(graph, key), f"{key.to_user_string()}: time zones"


# -- (b) dbt tests as asset checks -----------------------------------------------------------------


def expected_checks(manifest: dict[str, Any], parent_type: str) -> set[dg.AssetCheckKey]:
    """The asset check each dbt data test of one `parent_type` node (model or source) should be.

    (A singular test over several models has no one asset to belong to; it runs in the build.)"""
    translator = Translator()
    resources = {**manifest["nodes"], **manifest["sources"]}
    expected: set[dg.AssetCheckKey] = set()
    for test in manifest["nodes"].values():
        if test["resource_type"] != "test":
            continue
        parents = [test["attached_node"]] if test.get("attached_node") else test["depends_on"]["nodes"]
        if len(parents) == 1 and resources[parents[0]]["resource_type"] == parent_type:
            expected.add(dg.AssetCheckKey(translator.get_asset_key(resources[parents[0]]), test["name"]))
    return expected


def missing_checks(expected: set[dg.AssetCheckKey]) -> list[str]:
    return sorted(k.to_user_string() for k in expected - set(dbt_models().check_keys))


def test_model_data_tests_are_asset_checks(manifest: dict[str, Any]) -> None:
    expected = expected_checks(manifest, "model")
    assert expected, "the dbt project has no data tests on models"
    missing = missing_checks(expected)
    assert not missing, f"{len(missing)} of {len(expected)} model tests are not asset checks, e.g. {missing[:3]}"


def test_source_data_tests_are_asset_checks(manifest: dict[str, Any]) -> None:
    """Tests on the app tables (unique user_id …) are checks of those assets, so the UI shows them
    (DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True)). The raw tables have none: their
    rules are constraints, and the load runs check their own rows (test_raw_checks)."""
    expected = expected_checks(manifest, "source")
    assert expected, "the dbt project has no data tests on sources"
    missing = missing_checks(expected)
    assert not missing, f"{len(missing)} of {len(expected)} source tests are not asset checks, e.g. {missing[:3]}"


@pytest.mark.parametrize("job", ["import_export", "spotify_sync", "spotify_top_snapshot"])
def test_load_runs_start_no_dbt(job: str) -> None:
    """A load run checks its own rows; a dbt test on a raw table must not pull dbt into every load. The
    CLI runs these jobs from definitions built without the dbt manifest: the same nodes, assets, checks."""
    from orchestration.defs.load_jobs import load_job_definitions

    full, light = defs().resolve_job_def(job), load_job_definitions().resolve_job_def(job)
    nodes = [node.name for node in full.graph.node_defs]
    assert nodes and dbt_models().op.name not in nodes
    assert [node.name for node in light.graph.node_defs] == nodes
    assert light.asset_layer.executable_asset_keys == full.asset_layer.executable_asset_keys
    assert set(light.asset_layer.asset_graph.asset_check_keys) == set(full.asset_layer.asset_graph.asset_check_keys)


def test_the_cli_load_path_imports_no_dbt() -> None:
    """dagster-dbt and dbt-core take ≈ 2 s to import: a CLI import, poll or snapshot needs neither."""
    probe = (
        "import sys; from orchestration.cli.in_process import load_job\n"
        "for job in ('import_export', 'spotify_sync', 'spotify_top_snapshot'): load_job(job)\n"
        "print(sorted(m for m in ('dagster_dbt', 'dbt') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_every_asset_check_is_a_dbt_test(manifest: dict[str, Any]) -> None:
    expected = expected_checks(manifest, "model") | expected_checks(manifest, "source")
    assert set(dbt_models().check_keys) <= expected


# -- (c) automation ---------------------------------------------------------------------------------


def test_every_dbt_asset_has_an_automation_condition() -> None:
    without = [spec.key.to_user_string() for spec in dbt_models().specs if spec.automation_condition is None]
    assert not without


def test_the_refresh_marts_sensor_runs_by_default(graph: Any) -> None:
    sensor = defs().resolve_sensor_def("refresh_marts")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert set(sensor.asset_selection.resolve(graph)) >= dbt_keys()


# -- (d) evaluating the automation ----------------------------------------------------------------


def requested(result: Any) -> set[dg.AssetKey]:
    return {key for key in dbt_keys() if result.get_num_requested(key)}


def marts() -> set[dg.AssetKey]:
    return {k for k in dbt_keys() if k.path[0] == "marts"}


@pytest.fixture
def ephemeral() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def test_an_import_requests_the_dbt_assets_and_a_refresh_settles_them(
    home: Path, ephemeral: dg.DagsterInstance, tmp_path: Path
) -> None:
    name, _ = new_user("Europe/Berlin", prefix="auto")
    first = dg.evaluate_automation_conditions(defs=defs(), instance=ephemeral)
    quiet = dg.evaluate_automation_conditions(defs=defs(), instance=ephemeral, cursor=first.cursor)
    assert requested(quiet) == set(), "nothing happened, yet dbt assets were requested"

    rows = [{"endTime": "2024-01-02 10:00", "artistName": "A", "trackName": "T", "msPlayed": 200_000}]
    path = write_json(tmp_path / "StreamingHistory_music_0.json", rows)
    partition_key = partition_key_for(name, describe(path))
    ephemeral.add_dynamic_partitions(export_files.name, [partition_key])
    result = (
        defs()
        .resolve_job_def("import_export")
        .execute_in_process(instance=ephemeral, partition_key=partition_key, run_config=import_run_config(path))
    )
    assert result.success
    assert ephemeral.get_latest_materialization_event(dg.AssetKey([RAW, "account_music_streams"])) is not None

    after_import = dg.evaluate_automation_conditions(defs=defs(), instance=ephemeral, cursor=quiet.cursor)
    wanted = requested(after_import)
    fed = marts() - {dg.AssetKey(["marts", "spotify_top"])}  # Spotify's ranking: no export feeds it
    assert fed <= wanted, f"marts not requested: {sorted(k.to_user_string() for k in fed - wanted)}"
    assert dg.AssetKey(["intermediate", "int_streams"]) in wanted

    refresh = defs().resolve_job_def("refresh_marts").execute_in_process(instance=ephemeral, raise_on_error=False)
    assert refresh.success
    settled = dg.evaluate_automation_conditions(defs=defs(), instance=ephemeral, cursor=after_import.cursor)
    assert requested(settled) == set(), sorted(k.to_user_string() for k in requested(settled))


def test_a_time_zone_change_requests_the_marts_on_the_shared_instance(home: Path) -> None:
    """`users set-timezone` reports app/users to the instance the daemon reads: the marts follow."""
    from orchestration import users
    from orchestration.cli.in_process import run_refresh
    from orchestration.instance import get_instance, report_users_changed

    instance = get_instance()
    name, _ = new_user("UTC", prefix="tz")
    start = dg.evaluate_automation_conditions(defs=defs(), instance=instance)
    with app_conn() as conn:
        users.set_timezone(conn, name, "Asia/Kolkata")
    report_users_changed(f"{name}: time zone Asia/Kolkata")

    after_change = dg.evaluate_automation_conditions(defs=defs(), instance=instance, cursor=start.cursor)
    wanted = requested(after_change)
    assert dg.AssetKey(["staging", "stg_app__users"]) in wanted
    assert marts() <= wanted

    summary = run_refresh()
    assert summary["success"], summary["error"]
    settled = dg.evaluate_automation_conditions(defs=defs(), instance=instance, cursor=after_change.cursor)
    assert requested(settled) == set()


# -- (e) the command ---------------------------------------------------------------------------------


def test_refresh_json_prints_the_summary_with_mart_row_counts(home: Path) -> None:
    proc = run_cli("refresh", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["success"] is True and summary["failed_tests"] == []
    assert summary["models"] > 0
    with app_conn() as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' "
                "and table_type = 'BASE TABLE'"
            ).fetchall()
        ]
        counts = {name: conn.execute(f'select count(*) from marts."{name}"').fetchone()[0] for name in tables}
    assert {"top_artists", "top_tracks", "listening_heatmap", "coverage"} <= set(summary["marts"])
    assert summary["marts"] == counts


# -- a fresh database ------------------------------------------------------------------------------


def test_a_subset_build_creates_staging_views_it_did_not_select(home: Path) -> None:
    """On a fresh database the automation may build marts.imports without stg_app__users (its input
    app.users was reported before the sensor's first tick): the build creates the missing view."""
    from orchestration.cli.in_process import QUIET_CONSOLE, get_instance
    from orchestration.defs.dbt.assets import missing_views

    with app_conn() as conn:
        conn.execute("drop view if exists staging.stg_app__users")
    assert "staging.stg_app__users" in missing_views()
    result = (
        defs()
        .resolve_job_def("refresh_marts")
        .execute_in_process(
            instance=get_instance(),
            asset_selection=[dg.AssetKey(["marts", "imports"])],
            run_config=QUIET_CONSOLE,
            raise_on_error=False,
        )
    )
    assert result.success
    assert {e.asset_key for e in result.get_asset_materialization_events()} == {dg.AssetKey(["marts", "imports"])}
    assert missing_views() == []
