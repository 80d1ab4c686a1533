"""Imports as Dagster runs: the partitioned raw-table asset, the inbox sensor, the CLI's in-process runs."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from export_files import (
    ACCOUNT_FOLDER,
    FORMATS,
    NON_HISTORY_ENTRIES,
    ExportFile,
    extended_records,
    load_export_folder,
    records_per_format,
    spotify_zip,
    time_span,
    write_json,
)
from stored import registry_rows, run_cli, stored_counts

from orchestration import users
from orchestration.config import get_settings
from orchestration.defs.imports.assets import export_files, partition_key_for
from orchestration.defs.imports.jobs import import_run_config
from orchestration.defs.imports.sensors import inbox_sensor
from orchestration.imports.reading.sources import describe

RAW_KEYS = {fmt.name: dg.AssetKey(["spotify_raw", fmt.table]) for fmt in FORMATS}
AUDIOBOOKS = [
    {
        "endTime": "2023-12-30 22:10",
        "audiobookName": "Moby-Dick",
        "chapterName": "Loomings",
        "authorName": "Herman Melville",
        "msPlayed": 600_000,
    },
    {
        "endTime": "2023-12-31 22:45",
        "audiobookName": "Moby-Dick",
        "chapterName": "The Carpet-Bag",
        "authorName": "Herman Melville",
        "msPlayed": 720_000,
    },
]


def import_job() -> dg.JobDefinition:
    from orchestration.definitions import defs

    return defs().resolve_job_def("import_export")


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def all_format_files(tmp_path: Path, shared_exports: Path) -> list[ExportFile]:
    """Real music, podcast and extended files plus an audiobook file: every raw table gets rows."""
    audiobook = write_json(tmp_path / "files" / "StreamingHistory_audiobook_0.json", AUDIOBOOKS)
    files = [
        *load_export_folder(shared_exports / "JBreitenbr__redesigned-parakeet"),
        *load_export_folder(shared_exports / "EDGES2__Spotify-Data"),
        ExportFile(audiobook, audiobook.name, AUDIOBOOKS),
    ]
    assert set(records_per_format(files)) == {fmt.name for fmt in FORMATS}
    return files


def run_partition(
    instance: dg.DagsterInstance, path: Path, partition_key: str, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    if not instance.has_dynamic_partition(export_files.name, partition_key):
        instance.add_dynamic_partitions(export_files.name, [partition_key])
    return import_job().execute_in_process(
        run_config=import_run_config(path),
        instance=instance,
        partition_key=partition_key,
        raise_on_error=raise_on_error,
    )


def materialized_metadata(result: dg.ExecuteInProcessResult) -> dict[dg.AssetKey, dict[str, object]]:
    return {
        m.asset_key: {name: value.value for name, value in m.metadata.items()}
        for m in result.asset_materializations_for_node("import_export_file")
    }


def load_counts(metadata: dict[str, object]) -> tuple[object, ...]:
    return metadata["records"], metadata["inserted"], metadata["duplicates"]


def test_import_asset_materializes_every_raw_table(
    tmp_path: Path, conn: psycopg.Connection, user: str, instance: dg.DagsterInstance, shared_exports: Path
) -> None:
    files = all_format_files(tmp_path, shared_exports)
    archive = spotify_zip(tmp_path / "my_spotify_data.zip", files)
    partition_key = partition_key_for(user, describe(archive))
    per_format = records_per_format(files)
    first, last = time_span(files)

    result = run_partition(instance, archive, partition_key)

    assert result.success
    metadata = materialized_metadata(result)
    # Every raw table, plus the import registry the dbt models read (so they refresh too).
    assert set(metadata) == {*RAW_KEYS.values(), dg.AssetKey(["app", "imports"])}
    for name, key in RAW_KEYS.items():
        assert load_counts(metadata[key]) == (per_format[name], per_format[name], 0)
        assert metadata[key]["formats"] == per_format
        assert metadata[key]["time_span"] == f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC"
    assert stored_counts(conn, user) == per_format
    (registry,) = registry_rows(conn, user)
    assert registry[1] == "succeeded" and registry[6:] == (partition_key, result.run_id)

    again = materialized_metadata(run_partition(instance, archive, partition_key))
    for name, key in RAW_KEYS.items():
        assert load_counts(again[key]) == (per_format[name], 0, per_format[name])
    assert stored_counts(conn, user) == per_format


def test_an_import_run_checks_its_own_rows_without_dbt(
    tmp_path: Path, conn: psycopg.Connection, user: str, instance: dg.DagsterInstance
) -> None:
    # One op: no dbt process for tests on the raw tables in an import run.
    assert [node.name for node in import_job().graph.node_defs] == ["import_export_file"]
    path = write_json(tmp_path / "Streaming_History_Audio_2020_0.json", extended_records(3))

    result = run_partition(instance, path, partition_key_for(user, describe(path)))

    assert result.success
    evaluations = {e.asset_key: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == set(RAW_KEYS.values())
    for name, key in RAW_KEYS.items():
        evaluation = evaluations[key]
        assert evaluation.check_name == "import_rows_stored" and evaluation.passed, evaluation.description
        expected = 3 if name == "extended" else 0
        assert (evaluation.metadata["expected"].value, evaluation.metadata["stored"].value) == (expected, expected)


def test_the_run_log_names_every_file(
    tmp_path: Path, user: str, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are logged a few at a time (one message per file slowed large imports down), but every one is."""
    from orchestration.defs.imports.assets import _LoggingProgress

    monkeypatch.setattr(_LoggingProgress, "LOG_EVERY_SECONDS", 3600.0)  # all in the message at the end
    names = [f"Streaming_History_Audio_202{i}_{i}.json" for i in range(3)]
    records = [extended_records(2, f"202{i}-01-01") for i in range(3)]
    files = [ExportFile(write_json(tmp_path / "files" / n, r), n, r) for n, r in zip(names, records, strict=True)]
    archive = spotify_zip(tmp_path / "my_spotify_data.zip", files)

    result = run_partition(instance, archive, partition_key_for(user, describe(archive)))

    assert result.success
    messages = [r.user_message for r in instance.all_logs(result.run_id) if r.dagster_event is None]
    (files_message,) = [m for m in messages if names[0] in m]
    for name in names:
        assert f"{name}: 2 records (extended)" in files_message
    assert f"skipped {ACCOUNT_FOLDER}/Userdata.json: not listening history" in files_message


def test_import_run_for_a_bad_file_fails(
    tmp_path: Path, conn: psycopg.Connection, user: str, instance: dg.DagsterInstance
) -> None:
    path = tmp_path / "Streaming_History_Audio_2020_0.json"
    path.write_text(json.dumps(extended_records(3))[:-40])
    partition_key = partition_key_for(user, describe(path))

    result = run_partition(instance, path, partition_key, raise_on_error=False)

    assert not result.success
    assert result.asset_materializations_for_node("import_export_file") == []
    assert stored_counts(conn, user) == {}
    assert [(status, key) for _, status, _, _, _, _, key, _ in registry_rows(conn, user)] == [("failed", partition_key)]


# -- inbox sensor -----------------------------------------------------------------------------------


def evaluate(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult | dg.SkipReason:
    return inbox_sensor()(dg.build_sensor_context(instance=instance, cursor=cursor))


def requests_for(outcome: dg.SensorResult | dg.SkipReason, user: str) -> list[dg.RunRequest]:
    if isinstance(outcome, dg.SkipReason):
        return []
    return [r for r in outcome.run_requests or [] if r.partition_key.startswith(f"{user}/")]


def test_inbox_sensor_requests_one_run_per_new_file(
    tmp_path: Path, conn: psycopg.Connection, user: str, instance: dg.DagsterInstance, shared_exports: Path
) -> None:
    inbox = get_settings().inbox_root / user
    inbox.mkdir(parents=True, exist_ok=True)
    zipped = load_export_folder(shared_exports / "EDGES2__Spotify-Data")
    archive = spotify_zip(inbox / "my_spotify_data.zip", zipped)
    (loose,) = load_export_folder(shared_exports / "cosmoduende__r-spotify-history-analysis")
    shutil.copy(loose.path, inbox / loose.path.name)
    shutil.copy(archive, inbox / ".x.zip")
    paused = f"{user}-paused"
    users.add(conn, paused, "UTC")
    users.set_status(conn, paused, "paused")
    paused_inbox = get_settings().inbox_root / paused
    paused_inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy(loose.path, paused_inbox / loose.path.name)

    outcome = evaluate(instance, None)

    assert isinstance(outcome, dg.SensorResult)
    mine = requests_for(outcome, user)
    assert sorted(r.run_config["ops"]["import_export_file"]["config"]["path"] for r in mine) == sorted(
        [str(inbox / "my_spotify_data.zip"), str(inbox / loose.path.name)]
    )
    assert requests_for(outcome, paused) == []
    added = {k for req in outcome.dynamic_partitions_requests or [] for k in req.partition_keys}
    assert {r.partition_key for r in mine} <= added
    assert all(re.fullmatch(rf"{user}/[0-9a-f]{{12}}/.+", r.partition_key) for r in mine)

    instance.add_dynamic_partitions(export_files.name, sorted(added))
    for request in mine:
        result = import_job().execute_in_process(
            run_config=request.run_config, instance=instance, partition_key=request.partition_key
        )
        assert result.success
    assert stored_counts(conn, user) == records_per_format([*zipped, loose])

    assert requests_for(evaluate(instance, outcome.cursor), user) == []

    users.set_status(conn, paused, "active")
    assert len(requests_for(evaluate(instance, outcome.cursor), paused)) == 1


# -- the CLI: an in-process run on the shared instance ---------------------------------------------


def run_of(run_id: str) -> dg.DagsterRun | None:
    from orchestration.instance import get_instance

    with get_instance() as shared:
        return shared.get_run_by_id(run_id)


def test_cli_import_runs_on_the_shared_instance(tmp_path: Path, user: str, shared_exports: Path) -> None:
    files = load_export_folder(shared_exports / "allisonkra__songPrediction")
    archive = spotify_zip(tmp_path / "my_spotify_data.zip", files)
    total = sum(len(f.records) for f in files)

    proc = run_cli("import", str(archive), "--user", user, "--json")

    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["records"], summary["inserted"], summary["duplicates"]) == (total, total, 0)
    assert summary["formats"] == records_per_format(files)
    assert {s["name"] for s in summary["skipped_files"]} == set(NON_HISTORY_ENTRIES)
    assert all(s["reason"] for s in summary["skipped_files"])
    run = run_of(summary["imports"][0]["run_id"])
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags.get("dagster/partition", "").startswith(f"{user}/")


PROGRESS_LINE = re.compile(r"(\(\d+/\d+\) )?\[\d+/\d+\] .+: (\d[\d,]* records \(\w+\)|skipped)")


def test_cli_import_of_a_bad_file_fails_with_one_clear_line(tmp_path: Path, user: str) -> None:
    bad = tmp_path / ACCOUNT_FOLDER / "StreamingHistory_music_0.json"
    bad.parent.mkdir()
    bad.write_text('[{"endTime": "2020-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": "long"}]')

    proc = run_cli("import", str(bad), "--user", user, "--json")

    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not PROGRESS_LINE.fullmatch(line)]
    assert len(lines) == 1, f"expected one error line on stderr, got {len(lines)}:\n{proc.stderr[:3000]}"
    assert re.fullmatch(r"error: .*StreamingHistory_music_0\.json, record 1: .*'msPlayed'.*integer.*", lines[0])
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed" and summary["inserted"] == 0
    run = run_of(summary["failed"][0]["run_id"])
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
