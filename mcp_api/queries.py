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

    async def items(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of a query that returns each as a JSON object in column `item` (the rankings)."""
        return [row["item"] for row in await self.rows(sql, params)]

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
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction) as exc:
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


# The rankings (history.top_artists, top_tracks, repeat_rate; taste_summary's lists) are SQL
# functions in the marts schema (dbt macros/window_rankings.sql), one definition for both paths:
# the default windows' answers are stored by a build (marts.recent_rankings: an index lookup, with a
# rank-0 row marking a stored window, empty or not), any other window is computed by the function.
# The function is not called when the window is stored (an uncorrelated NOT EXISTS: a one-time filter).
def _ranked(ranking: str, function: str) -> str:
    return f"""
with stored as materialized (
    select rank, item from marts.recent_rankings
    where user_id = %(user_id)s and window_start = %(start)s and window_end = %(end)s
      and ranking = '{ranking}' and rank <= %(limit)s
)
select item from (
    select rank, item from stored where rank > 0
    union all
    select f.rank, to_jsonb(f) - 'rank' from marts.{function}(%(user_id)s, %(start)s, %(end)s, %(limit)s) f
    where not exists (select 1 from stored)
) ranked
order by rank
"""


TOP_ARTISTS = _ranked("artists", "window_top_artists")
"""Rows (as `item`): artist_name, plays, ms, total_plays, total_ms, artists."""

TOP_TRACKS = _ranked("tracks", "window_top_tracks")
"""Rows (as `item`): track_key, track_name, artist_name, track_uri (of the most played release),
album_name, releases, plays, ms, total_plays, tracks."""

REPEAT_RATE = _ranked("repeats", "window_repeat_rate")
"""Rows (as `item`): track_key, track_name, artist_name, plays, total_plays, unique_tracks,
repeated_tracks."""

HEATMAP = f"""
select iso_weekday, local_hour, sum(plays)::bigint as plays, sum(ms_played)::bigint as ms
from marts.listening_heatmap where {WINDOW}
group by iso_weekday, local_hour
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
# A broad query ("artist 2") matches tens of thousands of items; ranking them all is the cost. The
# first two tiers come first in every ranking and are a range of the name index (listening_catalog's
# (user_id, search_key collate "C"): the names starting with the query, which also pass the word
# filter): when they fill the limit they are the answer, and the other tiers are not looked at
# (one-time filters on the count of `head`).
SEARCH_COLUMNS = """c.item_type, c.item_name, c.artist_name, c.uri, c.plays, c.ms_played, c.first_played_at,
       c.last_played_at"""
SEARCH_ORDER = """match, plays desc, last_played_at desc, item_name collate "C", artist_name collate "C" nulls first"""
SEARCH = f"""
with q as materialized (
    select key, key || '%%' as prefix,
           array(select '%% ' || w || '%%' from unnest(string_to_array(key, ' ')) w) as words,
           array['#' || %(user_id)s::text]
               || array(select left(w, 15) from unnest(string_to_array(key, ' ')) w) as terms
    from (select marts.search_fold(%(q)s) as key) f
),
head as materialized (
    select {SEARCH_COLUMNS},
           case when c.search_key = (select key from q) then 0 else 1 end as match
    from marts.listening_catalog c
    where (select key from q) <> ''
      and c.user_id = %(user_id)s
      and c.search_key collate "C" >= (select key from q)
      and c.search_key collate "C" < (select key from q) || chr(1114111)
      and c.search_key like (select prefix from q)
      and (%(type)s::text is null or c.item_type = %(type)s::text)
    order by {SEARCH_ORDER}
    limit %(limit)s
)
select * from (
select * from head where (select count(*) from head) >= %(limit)s
union all
(
select {SEARCH_COLUMNS},
       case when c.search_key = (select key from q) then 0
            when c.search_key like (select prefix from q) then 1
            when ' ' || c.search_key like all ((select words from q)::text[]) then 2
            else 3 end as match
from marts.listening_catalog c
where (select count(*) from head) < %(limit)s
  and (select key from q) <> ''
  and marts.search_terms(c.user_id, c.search_text) @> (select terms from q)
  and c.user_id = %(user_id)s
  and (%(type)s::text is null or c.item_type = %(type)s::text)
  and ' ' || c.search_text like all ((select words from q)::text[])
order by {SEARCH_ORDER}
limit %(limit)s
)
) found
order by {SEARCH_ORDER}
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
