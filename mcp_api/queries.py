"""SQL over the marts (and the key columns the API role may read). Nothing else.

Every statement is parameterized and every day-grain read is an index range read on
(user_id, local_date). Ordering ties are broken by codepoint order (`collate "C"`), so rankings do
not depend on the server's locale.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import AsyncCursor
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
        async with self._reaching(), self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchall()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncCursor[dict[str, Any]]]:
        """One read-write transaction: the role's sessions are read-only by default, and its grants
        let it write only the OAuth tables (migration 0009)."""
        async with (
            self._reaching(),
            self.pool.connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=dict_row) as cur,
        ):
            await cur.execute("set transaction read write")
            yield cur

    @asynccontextmanager
    async def _reaching(self) -> AsyncIterator[None]:
        try:
            yield
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
USER_KEYS = ("user_name", "timezone", "last_poll", "built_at", "first_play", "last_play", "stored_plays")
"""The names USER_COLUMNS gives its columns."""

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


# -- spotify.get_top, history.search, ops.latest_job_runs -----------------------------------------

SPOTIFY_TOP = """
select rank, item_name, item_uri, artist_names, genres, popularity, snapshot_at
from marts.spotify_top
where user_id = %(user_id)s and entity = %(entity)s and time_range = %(time_range)s and is_latest
order by rank
limit %(limit)s
"""

# Why a top list is empty: is the user linked, and was any snapshot taken. Read through jsonb, as
# USER_COLUMNS does, so older marts answer null instead of failing.
SPOTIFY_TOP_STATE = """
select to_jsonb(s) ->> 'token_status' as token_status,
       (select max(snapshot_at) from marts.spotify_top t where t.user_id = s.user_id) as last_snapshot_at
from marts.sync_status s
where s.user_id = %(user_id)s
"""

# The query folded by the very function that folded the catalog (marts.search_fold); its words cut
# to 15 characters plus '#<user_id>' are the lookup in the GIN expression index on
# marts.search_terms(user_id, search_text) (same expression), and every word must start a word of the
# item's text (which also checks words longer than 15 characters). Patterns are computed once (q),
# so each candidate row costs two LIKE ALL and no subquery.
# Rank: 0 exact name, 1 name starts with the query, 2 every word in the name, 3 needs the artist.
SEARCH = """
with q as materialized (
    select key, key || '%%' as prefix,
           array(select '%% ' || w || '%%' from unnest(string_to_array(key, ' ')) w) as words,
           array['#' || %(user_id)s::text]
               || array(select left(w, 15) from unnest(string_to_array(key, ' ')) w) as terms
    from (select marts.search_fold(%(q)s) as key) f
)
select c.item_type, c.item_name, c.artist_name, c.uri, c.plays, c.ms_played, c.first_played_at,
       c.last_played_at,
       case when c.search_key = (select key from q) then 0
            when c.search_key like (select prefix from q) then 1
            when ' ' || c.search_key like all ((select words from q)::text[]) then 2
            else 3 end as match
from marts.listening_catalog c
where (select key from q) <> ''
  and marts.search_terms(c.user_id, c.search_text) @> (select terms from q)
  and c.user_id = %(user_id)s
  and (%(type)s::text is null or c.item_type = %(type)s::text)
  and ' ' || c.search_text like all ((select words from q)::text[])
order by match, c.plays desc, c.last_played_at desc, c.item_name collate "C", c.artist_name collate "C" nulls first
limit %(limit)s
"""

SEARCH_FOLD = "select marts.search_fold(%(q)s) as key"

# A user's runs and the marts builds (which serve every user); the admin key without user_id: all.
LATEST_JOB_RUNS = """
select kind, run_id, user_name, status, started_at, finished_at, counts, detail, error
from marts.job_runs
where (%(all_users)s or user_id = %(user_id)s or user_id is null)
  and (%(kind)s::text is null or kind = %(kind)s::text)
order by started_at desc, run_id desc
limit %(limit)s
"""
