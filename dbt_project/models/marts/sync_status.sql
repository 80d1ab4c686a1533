-- Built after the marts of the listening history: its build stamp (built_at) is what makes the API
-- drop the answers it keeps, so it must not change before those marts have (an answer computed in
-- between would be kept, stale, under the new stamp). Only marts built with coverage (all from
-- int_streams): a dependency on marts updated by other runs would hold sync_status back while they run.
{%- for mart in ['top_artists', 'top_tracks', 'listening_heatmap', 'content_mix', 'top_shows', 'top_audiobooks',
                 'listening_catalog', 'recent_rankings'] %}
-- depends_on: {{ ref(mart) }}
{%- endfor %}
{#- On a fresh database a Spotify sync can finish before the first build of the listening marts: the
    automation then builds sync_status (downstream of the syncs) while coverage does not exist yet.
    It reads no coverage rows then (every count 0), and the build that creates coverage rebuilds it. #}
{%- set coverage_built = not execute or load_relation(ref('coverage')) is not none %}
-- One row per user: status and time zone, the last import and its counts, per source the time
-- span and number of streams, and the Spotify connection: token status, the last poll, the
-- newest API play and detected gaps. Rebuilt whole (one row per user, read from small tables).
with users as (
    select * from {{ ref('stg_app__users') }}
),

spotify_syncs as (
    select * from {{ ref('stg_app__spotify_syncs') }}
),

last_poll as (
    select distinct on (user_id) *
    from spotify_syncs
    where kind = 'poll'
    order by user_id, started_at desc, sync_id desc
),

sync_counts as (
    select
        user_id,
        max(finished_at) filter (where kind = 'poll' and status = 'succeeded') as last_successful_poll_at,
        max(finished_at) filter (where kind <> 'poll' and status in ('succeeded', 'rate_limited')) as last_backfill_at,
        count(*) filter (where gap_detected) as gaps_detected,
        max(started_at) filter (where gap_detected) as last_gap_at
    from spotify_syncs
    group by user_id
),

api_plays as (
    select user_id, max(ended_at) as api_last_played_at
    from {{ ref('stg_spotify__api_recently_played') }}
    group by user_id
),

last_import as (
    select distinct on (user_id) *
    from {{ ref('stg_app__imports') }}
    order by user_id, started_at desc, import_id desc
),

import_counts as (
    select
        user_id,
        count(*) filter (where status = 'succeeded') as imports_succeeded,
        count(*) filter (where status = 'failed') as imports_failed
    from {{ ref('stg_app__imports') }}
    group by user_id
),

by_source as (
    select
        user_id,
        source,
        sum(streams) as streams,
        sum(plays) as plays,
        min(first_stream_at) as first_stream_at,
        max(last_stream_at) as last_stream_at,
        min(local_date) filter (where plays > 0) as first_play_date,
        max(local_date) filter (where plays > 0) as last_play_date,
        count(*) as days_with_streams
    {%- if coverage_built %}
    from {{ ref('coverage') }}
    {%- else %}
    from (
        select null::integer as user_id, null::text as source, null::bigint as streams, null::bigint as plays,
               null::timestamptz as first_stream_at, null::timestamptz as last_stream_at, null::date as local_date
        where false
    ) no_coverage_yet
    {%- endif %}
    group by user_id, source
),

pivoted as (
    select
        user_id,
        {%- for source in ['extended', 'account', 'api'] %}
        sum(streams) filter (where source = '{{ source }}') as {{ source }}_streams,
        min(first_stream_at) filter (where source = '{{ source }}') as {{ source }}_first_stream_at,
        max(last_stream_at) filter (where source = '{{ source }}') as {{ source }}_last_stream_at,
        {%- endfor %}
        sum(plays) as plays,
        min(first_stream_at) as first_stream_at,
        max(last_stream_at) as last_stream_at,
        min(first_play_date) as first_play_date,
        max(last_play_date) as last_play_date
    from by_source
    group by user_id
)

select
    u.user_id,
    u.user_name,
    u.status,
    u.timezone,
    u.spotify_user_id is not null as spotify_linked,
    u.spotify_display_name,
    coalesce(p.plays, 0) as plays,
    p.first_stream_at,
    p.last_stream_at,
    -- The local days of the first and last play of everything stored (what a windowed answer
    -- reports as `history`, so an empty window can say where the plays are).
    p.first_play_date,
    p.last_play_date,
    {%- for source in ['extended', 'account', 'api'] %}
    coalesce(p.{{ source }}_streams, 0) as {{ source }}_streams,
    p.{{ source }}_first_stream_at,
    p.{{ source }}_last_stream_at,
    {%- endfor %}
    coalesce(c.imports_succeeded, 0) as imports_succeeded,
    coalesce(c.imports_failed, 0) as imports_failed,
    li.import_id as last_import_id,
    li.source_name as last_import_source,
    li.status as last_import_status,
    li.started_at as last_import_started_at,
    li.finished_at as last_import_finished_at,
    li.records as last_import_records,
    li.inserted as last_import_inserted,
    li.duplicates as last_import_duplicates,
    li.error as last_import_error,
    -- The one definition of the rule, shared with `auth status` and the sensor (migration 0006).
    app.spotify_token_status(u.status, t.user_id is not null, t.invalidated_at) as token_status,
    t.authorized_at as spotify_authorized_at,
    t.access_expires_at as spotify_access_expires_at,
    lp.started_at as last_poll_at,
    lp.status as last_poll_status,
    lp.fetched as last_poll_fetched,
    lp.inserted as last_poll_inserted,
    lp.stop_reason as last_poll_stop_reason,
    lp.error as last_poll_error,
    sc.last_successful_poll_at,
    sc.last_backfill_at,
    ap.api_last_played_at,
    coalesce(sc.gaps_detected, 0) as gaps_detected,
    sc.last_gap_at,
    -- When this build started: every build rewrites this table, so the API knows the marts changed.
    '{{ run_started_at }}'::timestamptz as built_at
from users u
left join pivoted p using (user_id)
left join import_counts c using (user_id)
left join last_import li using (user_id)
left join {{ ref('stg_app__spotify_tokens') }} t using (user_id)
left join last_poll lp using (user_id)
left join sync_counts sc using (user_id)
left join api_plays ap using (user_id)

