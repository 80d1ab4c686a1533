"""The load runs' checks of their own rows (orchestration/imports/raw_checks.py) on a real database:
they pass on what an import wrote and name each way the rows can disagree with the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from builds import import_rows, new_user
from export_files import extended_records, write_json
from stored import user_id

from orchestration.imports.raw_checks import check_load

# Each check reads the load's rows by its id, or (as import runs do) as the primary-key range above the floor.
READS = pytest.mark.parametrize("by_range", [False, True], ids=["by-load-id", "by-raw-id-range"])


def imported(tmp_path: Path, user: str, n: int, day: str = "2020-03-01") -> dict[str, Any]:
    path = write_json(tmp_path / f"Streaming_History_Audio_{day}.json", extended_records(n, day))
    return import_rows(user, path)


def floor_of(result: dict[str, Any], by_range: bool, table: str = "extended_streams") -> int | None:
    return result["raw_id_floors"][table] if by_range else None


@READS
def test_an_import_passes_its_check(tmp_path: Path, conn: psycopg.Connection, user: str, by_range: bool) -> None:
    result = imported(tmp_path, user, 5)
    uid = user_id(conn, user)
    found = check_load(conn, "extended_streams", result["import_id"], uid, 5, floor_of(result, by_range))
    assert found.passed and found.stored == 5, found.description()
    # The other tables hold nothing of this import, as it reported.
    music_floor = floor_of(result, by_range, "account_music_streams")
    assert check_load(conn, "account_music_streams", result["import_id"], uid, 0, music_floor).passed


def test_the_range_leaves_out_later_loads_of_other_users(tmp_path: Path, conn: psycopg.Connection, user: str) -> None:
    imported(tmp_path, new_user("UTC")[0], 1, "2019-01-01")  # the table is not empty: a floor above 0
    first = imported(tmp_path, user, 5)
    assert 0 < first["raw_id_floors"]["extended_streams"] < min_raw_id(conn, first["import_id"])
    other_user, other_id = new_user("UTC")
    other = imported(tmp_path, other_user, 7, "2021-05-02")  # its rows lie above the first import's floor too
    floor = first["raw_id_floors"]["extended_streams"]
    found = check_load(conn, "extended_streams", first["import_id"], user_id(conn, user), 5, floor)
    assert (found.stored, found.other_users, found.passed) == (5, 0, True), found.description()
    assert check_load(conn, "extended_streams", other["import_id"], other_id, 7, floor).passed


def min_raw_id(conn: psycopg.Connection, import_id: int) -> int:
    row = conn.execute("select min(raw_id) from raw.extended_streams where import_id = %s", (import_id,)).fetchone()
    assert row is not None
    return int(row[0])


@READS
def test_the_check_names_rows_missing_foreign_or_out_of_time(
    tmp_path: Path, conn: psycopg.Connection, user: str, by_range: bool
) -> None:
    result = imported(tmp_path, user, 4)
    import_id, uid, floor = result["import_id"], user_id(conn, user), floor_of(result, by_range)

    short = check_load(conn, "extended_streams", import_id, uid, 5, floor)
    assert not short.passed and "4 rows stored where the load reported 5" in short.description()

    conn.execute(
        "update raw.extended_streams set user_id = user_id + 100000 where raw_id = "
        "(select min(raw_id) from raw.extended_streams where import_id = %s)",
        (import_id,),
    )
    conn.execute(
        "update raw.extended_streams set ts = loaded_at + interval '2 days' where raw_id = "
        "(select max(raw_id) from raw.extended_streams where import_id = %s)",
        (import_id,),
    )
    found = check_load(conn, "extended_streams", import_id, uid, 4, floor)
    conn.rollback()
    assert (found.stored, found.other_users, found.outside_time_window) == (4, 1, 1)
    assert not found.passed
    assert "1 rows of another user" in found.description()
    assert "more than 1 day, 0:00:00 after they were loaded" in found.description()
