from pathlib import Path

import psycopg

from orchestration.imports.importer import import_path


def test_import_one_folder_and_reimport(conn: psycopg.Connection, user: str, shared_exports: Path) -> None:
    folder = shared_exports / "EDGES2__Spotify-Data"
    first = import_path(folder, user)
    again = import_path(folder, user)
    stored = conn.execute(
        "select count(*) from raw.extended_streams where user_id = (select user_id from app.users where name = %s)",
        (user,),
    ).fetchone()
    assert first.records == 330 and first.inserted == 330
    assert again.inserted == 0 and again.duplicates == 330
    assert stored == (330,)
