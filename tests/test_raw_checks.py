"""The load runs' checks of their own rows (orchestration/loading/raw_checks.py) on a real database:
they pass on what an import wrote and name each way the rows can disagree with the report."""

from __future__ import annotations

from pathlib import Path

import psycopg
from support import extended_records, import_rows, user_id, write_json

from orchestration.loading.raw_checks import check_load


def imported(tmp_path: Path, user: str, n: int) -> dict[str, object]:
    path = write_json(tmp_path / "Streaming_History_Audio_2020_0.json", extended_records(n))
    return import_rows(user, path)


def test_an_import_passes_its_check(tmp_path: Path, conn: psycopg.Connection, user: str) -> None:
    result = imported(tmp_path, user, 5)
    found = check_load(conn, "extended_streams", result["import_id"], user_id(conn, user), 5)
    assert found.passed and found.stored == 5, found.description()
    # The other tables hold nothing of this import, as it reported.
    assert check_load(conn, "account_music_streams", result["import_id"], user_id(conn, user), 0).passed


def test_the_check_names_rows_missing_foreign_or_out_of_time(
    tmp_path: Path, conn: psycopg.Connection, user: str
) -> None:
    result = imported(tmp_path, user, 4)
    import_id, uid = result["import_id"], user_id(conn, user)

    short = check_load(conn, "extended_streams", import_id, uid, 5)
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
    found = check_load(conn, "extended_streams", import_id, uid, 4)
    conn.rollback()
    assert (found.stored, found.other_users, found.outside_time_window) == (4, 1, 1)
    assert not found.passed
    assert "1 rows of another user" in found.description()
    assert "more than 1 day, 0:00:00 after they were loaded" in found.description()
