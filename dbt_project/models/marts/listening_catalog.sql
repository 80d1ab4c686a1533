-- What the listener has played, one row per user × item: tracks (songs: the same artist and title
-- across URIs, albums and sources; the most played URI is reported), artists, albums (with their
-- artist) and podcast shows. Plays, minutes, first and last play, and the search key history.search
-- matches (see macros/search.sql). Music counts plays (the contract's play rule, int_streams.is_play);
-- shows count surviving podcast streams, as top_shows does (podcasts are never plays).
--
-- Incremental per item: a build after a poll recounts the items its new rows touched, not the
-- listener's whole catalog (scopes `all` / `users` / `items`: macros/listening_catalog.sql). The
-- pre-hook deletes the rows to recount, the model appends them.
--
-- Indexes: the GIN index of history.search's word lookup, and the name index of its first tiers (a
-- name equal to or starting with the query: a range of (user_id, search_key collate "C")), which a
-- hook makes when missing, so that catalogs built before it get it with their next build too; and
-- history.discoveries' two (hooks too): the items first played in a window (user_id, item_type,
-- first_played_at), and the most played items of a type (the ranking order), for a window that
-- holds the whole history.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    meta={'batch_column': 'built_at'},
    pre_hook=["{{ set_build_work_mem() }}", "{{ delete_recounted_catalog_rows() }}"],
    post_hook=[
        "{{ record_watermark() }}",
        "{{ ensure_search_name_index() }}",
        "{{ ensure_index('user_id, item_type, first_played_at') }}",
        "{{ ensure_index('user_id, item_type, plays DESC, ms_played DESC, item_name COLLATE \"C\", artist_name COLLATE \"C\"') }}",
        "{{ analyze_after_many_rows('built_at') }}",
    ],
    indexes=[
      {'columns': [search_terms('user_id', 'search_text')], 'type': 'gin'},
      {'columns': ['user_id', 'item_type', 'item_name']},
    ],
) }}
{%- set scope = catalog_scope() %}

-- One listener at a time (a lateral per user, as int_streams does): every sort and hash of the four
-- groupings holds one user's plays, so it fits in memory instead of spilling all users' plays to disk.
with
{%- if scope == 'items' %}
changed_items as materialized (
    {{ catalog_changed_items() }}
),
{%- endif %}

work_users as (
    select user_id from {{ ref('stg_app__users') }}
    {%- if scope == 'items' %}
    where user_id in (select user_id from changed_items)
    {%- elif scope == 'users' %}
    where user_id in ({{ catalog_changed_users() }})
    {%- endif %}
)

select c.*
from work_users u
cross join lateral (

with streams as not materialized (
    select s.* from {{ ref('int_streams') }} s where s.user_id = u.user_id
),

-- One pass over the listener's plays: every music item below is a sum over these few groups, so
-- each play is hashed once (three sorts of every play before, one per item type).
play_groups as (
    select artist_name, track_name, album_name, track_uri,
           count(*) as plays, sum(ms_listened) as ms_played, min(ended_at) as first_played_at,
           max(ended_at) as last_played_at
    from streams
    where is_play
    {%- if scope == 'items' %}
      -- every track and album item the batch touched has its artist among the touched artists
      and (artist_name is null or artist_name in (
          select item_name from changed_items c where c.user_id = u.user_id and c.item_type = 'artist'
      ))
    {%- endif %}
    group by artist_name, track_name, album_name, track_uri
),

track_uris as (
    select artist_name, track_name, track_uri,
           sum(plays) as plays, sum(ms_played) as ms_played, min(first_played_at) as first_played_at,
           max(last_played_at) as last_played_at
    from play_groups
    where track_name is not null
      {{- catalog_item_filter(scope, 'track', 'track_name', 'artist_name') }}
    group by artist_name, track_name, track_uri
),

items as (
    -- The song's URI: its most played one, the first in URI order on a tie (as mode() would).
    select 'track' as item_type, track_name as item_name, artist_name,
           (array_agg(track_uri order by plays desc, track_uri) filter (where track_uri is not null))[1] as uri,
           sum(plays)::bigint as plays, sum(ms_played) as ms_played, min(first_played_at) as first_played_at,
           max(last_played_at) as last_played_at
    from track_uris
    group by artist_name, track_name

    union all

    select 'artist', artist_name, null, null,
           sum(plays)::bigint, sum(ms_played), min(first_played_at), max(last_played_at)
    from play_groups
    where artist_name is not null
      {{- catalog_item_filter(scope, 'artist', 'artist_name') }}
    group by artist_name

    union all

    select 'album', album_name, artist_name, null,
           sum(plays)::bigint, sum(ms_played), min(first_played_at), max(last_played_at)
    from play_groups
    where album_name is not null
      {{- catalog_item_filter(scope, 'album', 'album_name', 'artist_name') }}
    group by album_name, artist_name

    union all

    select 'show', coalesce(show_name, episode_name), null, null,
           count(*), sum(ms_listened), min(ended_at), max(ended_at)
    from streams
    where not is_duplicate and content_type = 'podcast' and coalesce(show_name, episode_name) is not null
      {{- catalog_item_filter(scope, 'show', 'coalesce(show_name, episode_name)') }}
    group by coalesce(show_name, episode_name)
),

keyed as (
    select
        *,
        {{ search_fold('item_name') }} as search_key,
        btrim({{ search_fold('item_name') }} || ' ' || coalesce({{ search_fold('artist_name') }}, '')) as search_text
    from items
)

select
    u.user_id,
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
