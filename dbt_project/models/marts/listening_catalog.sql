-- What the listener has played, one row per user × item: tracks (songs: the same artist and title
-- across URIs, albums and sources; the most played URI is reported), artists, albums (with their
-- artist) and podcast shows. Plays, minutes, first and last play, and the search key history.search
-- matches (see macros/search.sql). Music counts plays (the contract's play rule, int_streams.is_play);
-- shows count surviving podcast streams, as top_shows does (podcasts are never plays).
--
-- Incremental per user: a build recomputes every row of the users with new int_streams rows since
-- the last one (the watermark of the day-grain marts) and leaves the other users' rows alone.
--
-- Indexes: the GIN index of history.search's word lookup, and the name index of its first tiers (a
-- name equal to or starting with the query: a range of (user_id, search_key collate "C")), which a
-- hook makes when missing, so that catalogs built before it get it with their next build too.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['user_id'],
    on_schema_change='fail',
    meta={'batch_column': 'built_at'},
    pre_hook=["{{ set_build_work_mem() }}"],
    post_hook=["{{ record_watermark() }}", "{{ ensure_search_name_index() }}", "analyze {{ this }}"],
    indexes=[
      {'columns': [search_terms('user_id', 'search_text')], 'type': 'gin'},
      {'columns': ['user_id', 'item_type', 'item_name']},
    ],
) }}

-- One listener at a time (a lateral per user, as int_streams does): every sort and hash of the four
-- groupings holds one user's plays, so it fits in memory instead of spilling all users' plays to disk.
with work_users as (
    select user_id from {{ ref('stg_app__users') }}
    {%- if is_incremental() %}
    where user_id in (
        select distinct user_id from {{ ref('int_streams') }} where batch_at > '{{ mart_watermark() }}'::timestamptz
    )
    {%- endif %}
)

select c.*
from work_users u
cross join lateral (

with streams as not materialized (
    select s.* from {{ ref('int_streams') }} s where s.user_id = u.user_id
),

plays as (
    select user_id, track_uri, track_name, artist_name, album_name, ms_listened, ended_at
    from streams
    where is_play
),

items as (
    select user_id, 'track' as item_type, track_name as item_name, artist_name,
           mode() within group (order by track_uri) as uri,
           count(*) as plays, sum(ms_listened) as ms_played, min(ended_at) as first_played_at,
           max(ended_at) as last_played_at
    from plays
    where track_name is not null
    group by user_id, artist_name, track_name

    union all

    select user_id, 'artist', artist_name, null, null,
           count(*), sum(ms_listened), min(ended_at), max(ended_at)
    from plays
    where artist_name is not null
    group by user_id, artist_name

    union all

    select user_id, 'album', album_name, artist_name, null,
           count(*), sum(ms_listened), min(ended_at), max(ended_at)
    from plays
    where album_name is not null
    group by user_id, album_name, artist_name

    union all

    select user_id, 'show', coalesce(show_name, episode_name), null, null,
           count(*), sum(ms_listened), min(ended_at), max(ended_at)
    from streams
    where not is_duplicate and content_type = 'podcast' and coalesce(show_name, episode_name) is not null
    group by user_id, coalesce(show_name, episode_name)
),

keyed as (
    select
        *,
        {{ search_fold('item_name') }} as search_key,
        btrim({{ search_fold('item_name') }} || ' ' || coalesce({{ search_fold('artist_name') }}, '')) as search_text
    from items
)

select
    user_id,
    item_type,
    item_name,
    artist_name,
    uri,
    plays,
    ms_played,
    first_played_at,
    last_played_at,
    search_key,
    search_text,
    -- The build that (re)wrote the user's rows: the tests check those only (macros/latest_batch.sql).
    '{{ run_started_at }}'::timestamptz as built_at
from keyed

) c
