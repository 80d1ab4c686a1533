"""`users export NAME`: one listener's history as one file in Spotify's extended-history shape.

What is written: every stream of the listener that survives the duplicate rules — extended, account and API
rows alike, one record each — as one JSON array of extended-history records (the keys of
`orchestration.imports.reading.formats.EXTENDED`, in Spotify's order). `spotify-history import` reads it back
as extended history (the first record's keys say so; the default name `Streaming_History_Audio_<name>.json` says
so too), and so do other tools that read Spotify's files.

Why int_streams and not the raw tables: which rows are duplicates of which is decided by the dbt model
`intermediate.int_streams` (three rules, a URI resolution, API metadata for matched rows). Computing it again
here would be a second definition of the contract that could drift from the one the marts count; reading the
model's verdict (`not is_duplicate`) exports exactly the streams the marts count. The model may be behind the
raw tables (rows imported or polled since the last build), so the export first checks that it holds every raw
row of the listener (`behind`) and refuses otherwise: the CLI then builds the marts and tries again. Fields the
model does not carry (audiobook URIs, the raw `offline_timestamp` and `incognito_mode`, keys kept in `extra`) are
read from `raw.extended_streams` by the row's raw_id.

What each source becomes:

* extended rows: themselves, with the names and URI the marts use (an export row matched by an API play has
  the API's names, as in the marts);
* account rows: `ts` from `endTime` (seconds :00), names in the extended keys (music: artist, track and the
  track URI int_streams resolved from the listener's extended rows; podcasts: show and episode; audiobooks:
  book and chapter — the account format's `authorName` has no extended key and is left out; a podcast or
  audiobook row without episode or chapter names reads as content `unknown` then); the fields the account
  format lacks (platform, reasons, shuffle…) are null;
* API plays: the API gives no `ms_played`; the marts count an API-only play's track duration, so that is its
  `ms_played` — or 30 000 ms (Spotify's own "over 30 s" rule for what the API lists) when the duration is
  unknown or shorter, so the play stays a play. `ts` drops the milliseconds (the extended format has seconds).

Not carried: which extended rows came from `Streaming_History_Video_*` files (Spotify marks video only by the
file name, and this is one file), so the re-imported marts count no video streams (content_mix.video_streams);
which source a stream came from (coverage per source reads `extended` for everything). Plays, minutes, top
artists and tracks, the heatmap and repeat rate come out the same.

Personal fields (`username`, `ip_addr*`, `user_agent_decrypted`) were never stored and are not written.
Large histories stream: a server-side cursor, one record at a time to a temporary file beside the target,
renamed over it when complete, so a failed export leaves no half file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from orchestration.imports.reading.formats import EXTENDED, is_personal

RECORD_KEYS: tuple[str, ...] = EXTENDED.keys
API_PLAY_MIN_MS = 30_000
"""ms_played of an API play whose track duration is unknown or shorter: Spotify lists only plays over 30 s."""
STREAMS = "intermediate.int_streams"
RAW_TABLES = (
    "extended_streams",
    "account_music_streams",
    "account_podcast_streams",
    "account_audiobook_streams",
    "api_recently_played",
)
CURSOR_ROWS = 5_000


class ExportError(RuntimeError):
    """An export that cannot be done now; the message says why and what to do."""


def default_file_name(user: str) -> str:
    """A name the importer (and Spotify's own tools) take for extended audio history."""
    return f"Streaming_History_Audio_{user}.json"


@dataclass(frozen=True)
class Behind:
    """Raw rows of the listener that int_streams does not hold yet, per raw table."""

    missing: dict[str, int]

    def __str__(self) -> str:
        return ", ".join(f"{n:,} in raw.{table}" for table, n in self.missing.items())


def behind(conn: psycopg.Connection, user_id: int) -> Behind | None:
    """What int_streams lacks of the listener's raw rows; None when it holds all of them.

    Raw rows are only ever added (or deleted with their listener, int_streams rows with them), and int_streams
    rows come from raw rows, so equal counts per raw table mean the same rows. Raises ExportError when the
    marts were never built.
    """
    exists = conn.execute("select to_regclass(%s) is not null", (STREAMS,)).fetchone()
    if not exists or not exists[0]:
        raise ExportError("the marts were never built: run `spotify-history refresh` first")
    missing = {}
    for table in RAW_TABLES:
        row = conn.execute(
            f"select (select count(*) from raw.{table} where user_id = %(u)s)"
            f" - (select count(*) from {STREAMS} where user_id = %(u)s and source_table = %(t)s)",
            {"u": user_id, "t": table},
        ).fetchone()
        if row and row[0]:
            missing[table] = int(row[0])
    return Behind(missing) if missing else None


_RAW_ONLY = (
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "offline_timestamp",
    "incognito_mode",
)
"""Extended keys int_streams does not carry as exported (it types offline_timestamp, defaults incognito_mode)."""

_QUERY = f"""
select
    s.ended_at, s.ms_played, s.ms_listened,
    s.track_name, s.artist_name, s.album_name, s.track_uri,
    s.show_name, s.episode_name, s.episode_uri, s.audiobook_title, s.chapter_title,
    e.audiobook_uri, e.audiobook_chapter_uri,
    e.platform, e.conn_country, e.reason_start, e.reason_end, e.shuffle, e.skipped, e.offline,
    e.offline_timestamp, e.incognito_mode, e.extra
from {STREAMS} s
left join raw.extended_streams e on s.source_table = 'extended_streams' and e.raw_id = s.raw_id
where s.user_id = %s and not s.is_duplicate
order by s.ended_at, s.source_table, s.raw_id
"""


def surviving_streams(conn: psycopg.Connection, user_id: int) -> int:
    row = conn.execute(f"select count(*) from {STREAMS} where user_id = %s and not is_duplicate", (user_id,)).fetchone()
    return int(row[0]) if row else 0


def records(conn: psycopg.Connection, user_id: int) -> Iterator[dict[str, Any]]:
    """The listener's surviving streams as extended records, oldest first, through a server-side cursor."""
    with conn.cursor(name="user_export", row_factory=dict_row) as cur:
        cur.itersize = CURSOR_ROWS
        cur.execute(_QUERY, (user_id,))
        for row in cur:
            yield to_record(row)


def to_record(row: dict[str, Any]) -> dict[str, Any]:
    """One int_streams row (with its raw extended fields, if any) as an extended-history record."""
    ms_played = row["ms_played"]
    if ms_played is None:  # an API play: the marts count its duration
        ms_played = max(row["ms_listened"] or 0, API_PLAY_MIN_MS)
    # Account music rows name no URI of their own: track_uri is the one int_streams resolved (or none), as the
    # marts see it.
    record: dict[str, Any] = {
        "ts": row["ended_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": row["platform"],
        "ms_played": ms_played,
        "conn_country": row["conn_country"],
        "master_metadata_track_name": row["track_name"],
        "master_metadata_album_artist_name": row["artist_name"],
        "master_metadata_album_album_name": row["album_name"],
        "spotify_track_uri": row["track_uri"],
        "episode_name": row["episode_name"],
        "episode_show_name": row["show_name"],
        "spotify_episode_uri": row["episode_uri"],
        "audiobook_title": row["audiobook_title"],
        "audiobook_uri": row["audiobook_uri"],
        "audiobook_chapter_uri": row["audiobook_chapter_uri"],
        "audiobook_chapter_title": row["chapter_title"],
        **{key: row[key] for key in _RAW_ONLY},
    }
    for key, value in (row["extra"] or {}).items():  # keys this version did not know, as the export had them
        if key not in record and not is_personal(key):
            record[key] = value
    return record


@dataclass(frozen=True)
class ExportResult:
    path: Path
    streams: int
    bytes: int


def export_user(
    conn: psycopg.Connection,
    user_id: int,
    path: Path,
    on_progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Write the listener's streams to `path` (atomically); `on_progress(done, total)` every few thousand.

    One repeatable-read, read-only transaction: the check that int_streams is complete and the rows written
    are one snapshot, whatever a build or a poll does meanwhile. Raises ExportError when int_streams is behind
    the raw rows or the listener has no stream.
    """
    conn.rollback()
    conn.execute("set transaction isolation level repeatable read, read only")
    try:
        lag = behind(conn, user_id)
        if lag:
            raise ExportError(f"the marts are behind the raw rows ({lag}): run `spotify-history refresh` first")
        total = surviving_streams(conn, user_id)
        if not total:
            raise ExportError("the listener has no stored stream: nothing to export")
        written, size = _write_atomically(path, records(conn, user_id), total, on_progress)
    finally:
        conn.rollback()
    return ExportResult(path, written, size)


def _write_atomically(
    path: Path, rows: Iterator[dict[str, Any]], total: int, on_progress: Callable[[int, int], None] | None
) -> tuple[int, int]:
    """The JSON array, one record per line, into a temporary file beside `path`, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    written = 0
    if on_progress:
        on_progress(0, total)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("[")
            for record in rows:
                out.write(",\n" if written else "\n")
                out.write(json.dumps(record, ensure_ascii=False))
                written += 1
                if on_progress and written % CURSOR_ROWS == 0:
                    on_progress(written, total)
            out.write("\n]\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if on_progress:
        on_progress(written, total)
    return written, path.stat().st_size
