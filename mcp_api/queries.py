"""SQL over the marts (and the key columns the API role may read). Nothing else.

Every statement is parameterized and every day-grain read is an index range read on
(user_id, local_date). Ordering ties are broken by codepoint order (`collate "C"`), so rankings do
not depend on the server's locale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from mcp_api.errors import Unavailable


class Database:
    """A pool of connections as the read-only role; every failure to reach data becomes a 503."""

    def __init__(self, url: str, size: int) -> None:
        self.pool = AsyncConnectionPool(
            url,
            min_size=min(2, size),
            max_size=size,
            open=False,
            timeout=10,
            # autocommit: each statement is its own (read-only) transaction; no idle-in-transaction.
            kwargs={"autocommit": True, "application_name": "spotify-history-api"},
            name="api",
        )

    async def open(self) -> None:
        # Do not wait: the API answers /healthz and 503s until the database is there.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(sql, params)
                return await cur.fetchall()
        except psycopg.errors.UndefinedTable as exc:
            raise Unavailable(
                "the marts are not built yet (run `spotify-history refresh`, or wait for the refresh_marts sensor)"
            ) from exc
        except psycopg.errors.InsufficientPrivilege as exc:
            raise Unavailable("the API role may not read the marts yet (run `spotify-history refresh`)") from exc
        except psycopg.errors.QueryCanceled as exc:
            raise Unavailable("the query took too long") from exc
        except (psycopg.OperationalError, TimeoutError) as exc:
            raise Unavailable("the database is not reachable") from exc


# -- keys and users -------------------------------------------------------------------------------

# What a call needs to know about its user, read with the key in one round trip. The last poll and
# the build stamp are read through jsonb: marts built by an older version lack them and answer null
# instead of failing.
USER_COLUMNS = """
s.user_name, s.timezone, (to_jsonb(s) ->> 'last_successful_poll_at')::timestamptz as last_poll,
(to_jsonb(s) ->> 'built_at')::timestamptz as built_at,
(to_jsonb(s) ->> 'first_play_date')::date as first_play, (to_jsonb(s) ->> 'last_play_date')::date as last_play,
s.plays as stored_plays
"""

# The key's user may be missing from the marts (added since the last build): left join.
KEY_BY_PREFIX = f"""
select k.key_id, k.user_id, k.hash, k.revoked_at, {USER_COLUMNS}
from app.api_keys k left join marts.sync_status s on s.user_id = k.user_id
where k.prefix = %(prefix)s
"""

USERS_BY_REF = f"""
select s.user_id, {USER_COLUMNS} from marts.sync_status s
where s.user_id = %(user_id)s or s.user_name = %(name)s
"""


@dataclass(frozen=True)
class Bounds:
    """What a windowed query needs: whose rows and which local days (inclusive)."""

    user_id: int
    start: date
    end: date

    def params(self, **extra: Any) -> dict[str, Any]:
        return {"user_id": self.user_id, "start": self.start, "end": self.end, **extra}


WINDOW = "user_id = %(user_id)s and local_date between %(start)s and %(end)s"

# -- history --------------------------------------------------------------------------------------

TOP_ARTISTS = f"""
with w as (
    select artist_name, sum(plays)::bigint as plays, sum(ms_played)::bigint as ms
    from marts.top_artists where {WINDOW}
    group by artist_name
)
select artist_name, plays, ms,
       sum(plays) over ()::bigint as total_plays, sum(ms) over ()::bigint as total_ms, count(*) over () as artists
from w
order by plays desc, ms desc, artist_name collate "C" nulls last
limit %(limit)s
"""

# A track is a track_key (a song by default: dbt var track_identity); the mart has a row per day and
# release, so the window is summed per release first, then per track: the most played release
# (known URIs before unknown; then minutes, then URI) names the track's URI and album, and
# `releases` counts its distinct URIs in the window.
TOP_TRACKS = f"""
with per_release as (
    select track_key, track_uri, max(track_name) as track_name, max(artist_name) as artist_name,
           max(album_name) as album_name, sum(plays)::bigint as plays, sum(ms_played)::bigint as ms
    from marts.top_tracks where {WINDOW}
    group by track_key, track_uri
),
w as (
    select track_key, max(track_name) as track_name, max(artist_name) as artist_name,
           (array_agg(track_uri order by track_uri is null, plays desc, ms desc, track_uri collate "C"))[1]
               as track_uri,
           (array_agg(album_name order by album_name is null, plays desc, ms desc, track_uri collate "C"))[1]
               as album_name,
           count(track_uri) as releases, sum(plays)::bigint as plays, sum(ms)::bigint as ms
    from per_release
    group by track_key
)
select track_key, track_name, artist_name, track_uri, album_name, releases, plays, ms,
       sum(plays) over ()::bigint as total_plays, count(*) over () as tracks
from w
order by plays desc, ms desc, track_name collate "C" nulls last, artist_name collate "C" nulls last,
         track_key collate "C"
limit %(limit)s
"""

HEATMAP = f"""
select iso_weekday, local_hour, sum(plays)::bigint as plays, sum(ms_played)::bigint as ms
from marts.listening_heatmap where {WINDOW}
group by iso_weekday, local_hour
"""

# Totals over all tracks of the window ride along on every row (window functions run before LIMIT),
# so one statement gives both the rate and the most repeated tracks.
REPEAT_RATE = f"""
with w as (
    select track_key, max(track_name) as track_name, max(artist_name) as artist_name,
           sum(plays)::bigint as plays
    from marts.repeat_rate where {WINDOW}
    group by track_key
)
select track_key, track_name, artist_name, plays,
       sum(plays) over ()::bigint as total_plays,
       count(*) over () as unique_tracks,
       count(*) filter (where plays > 1) over () as repeated_tracks
from w
order by plays desc, track_name collate "C" nulls last, artist_name collate "C" nulls last, track_key collate "C"
limit %(limit)s
"""

COVERAGE = f"""
select local_date, source, plays, streams, first_play_at, last_play_at
from marts.coverage where {WINDOW}
"""

DAYS_WITH_PLAYS = f"""
select count(distinct local_date) as days from marts.coverage where {WINDOW} and plays > 0
"""

CONTENT_MIX = f"""
select content_type, sum(streams)::bigint as streams, sum(plays)::bigint as plays,
       sum(ms_listened)::bigint as ms
from marts.content_mix where {WINDOW}
group by content_type
"""

TOP_SHOWS = f"""
select show_name, sum(streams)::bigint as streams, sum(ms_listened)::bigint as ms
from marts.top_shows where {WINDOW}
group by show_name
order by ms desc, streams desc, show_name collate "C" nulls last
limit %(limit)s
"""

# -- ops ------------------------------------------------------------------------------------------

SYNC_STATUS = """
select to_jsonb(s) as row from marts.sync_status s
where %(all_users)s or s.user_id = %(user_id)s
order by s.user_name
"""

LATEST_IMPORTS = """
select import_id, user_name, source_name, source_kind, status, formats, records, inserted, duplicates,
       jsonb_array_length(skipped_files) as skipped_files, first_stream_at, last_stream_at, error,
       started_at, finished_at
from marts.imports
where %(all_users)s or user_id = %(user_id)s
order by started_at desc, import_id desc
limit %(limit)s
"""


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None
