{#
  One row per raw stream row of every source, with the play-semantics contract applied:
  identity, the three duplicate rules, the play flag and local time. Duplicates are kept and
  flagged (is_duplicate, duplicate_rule, canonical_key) so every raw row's fate is visible; marts
  read `where is_play` or `where not is_duplicate`.

  Incremental: rows are recomputed per (user, UTC day). A day is dirty when a raw row newer than
  what this table has seen for that user and source lands on it (±1 minute, so pairs across
  midnight are recomputed together). A user is recomputed whole when their time zone changed or
  new extended rows arrived (they change how account rows resolve to track URIs). Every row of a
  dirty day is re-emitted, so delete+insert on (source_table, raw_id) leaves no stale row.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['source_table', 'raw_id'],
    on_schema_change='fail',
    indexes=[
      {'columns': ['source_table', 'raw_id'], 'unique': True},
      {'columns': ['user_id', 'source_table', 'raw_id']},
      {'columns': ['user_id', 'ended_at']},
      {'columns': ['user_id', 'local_date']},
      {'columns': ['batch_at']},
    ],
) }}

{%- set match_seconds = var('api_match_seconds') | int %}
{%- for model in stream_models() %}
-- depends_on: {{ ref(model) }}
{%- endfor %}

with users as (
    select user_id, timezone from {{ ref('stg_app__users') }}
),

{% if is_incremental() %}
built as (  -- per user and source: the newest raw row this table has seen, and the zone it used
    select u.user_id, t.source_table, w.max_raw_id, z.timezone as built_timezone
    from users u
    cross join (values
        {%- for model in stream_models() %}
        ('{{ model.replace("stg_spotify__", "") }}'){{ "," if not loop.last }}
        {%- endfor %}
    ) t (source_table)
    left join lateral (
        select max(raw_id) as max_raw_id from {{ this }} s
        where s.user_id = u.user_id and s.source_table = t.source_table
    ) w on true
    left join lateral (
        select timezone from {{ this }} s where s.user_id = u.user_id limit 1
    ) z on true
),

new_rows as (
    {%- for model in stream_models() %}
    select s.user_id, s.source_table, s.ended_at
    from built b
    join {{ ref(model) }} s
      on s.user_id = b.user_id and s.raw_id > coalesce(b.max_raw_id, 0)
    where b.source_table = '{{ model.replace("stg_spotify__", "") }}'
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

full_users as (
    select distinct user_id from new_rows where source_table = 'extended_streams'
    union
    select b.user_id from built b join users u using (user_id)
    where b.built_timezone is distinct from u.timezone and b.built_timezone is not null
),

dirty_days as (
    select distinct n.user_id, d.utc_day
    from new_rows n
    cross join lateral (values
        ({{ utc_day("n.ended_at - interval '1 minute'") }}),
        ({{ utc_day("n.ended_at + interval '1 minute'") }})
    ) d (utc_day)
    where n.user_id not in (select user_id from full_users)
),

batch as (
    select s.* from {{ ref('int_streams_unioned') }} s
    where s.user_id in (select user_id from full_users)
    union all
    select s.* from {{ ref('int_streams_unioned') }} s
    join (
        select user_id, min(utc_day) as first_day, max(utc_day) as last_day from dirty_days group by user_id
    ) r on r.user_id = s.user_id
    where s.ended_at >= (r.first_day::timestamp at time zone 'UTC') - interval '1 minute'
      and s.ended_at < ((r.last_day + 1)::timestamp at time zone 'UTC') + interval '1 minute'
      and exists (
          select 1 from dirty_days d
          where d.user_id = s.user_id
            and s.ended_at >= (d.utc_day::timestamp at time zone 'UTC') - interval '1 minute'
            and s.ended_at < ((d.utc_day + 1)::timestamp at time zone 'UTC') + interval '1 minute'
      )
),
{% else %}
batch as (
    select * from {{ ref('int_streams_unioned') }}
),
{% endif %}

-- Account rows carry names only; where the same user's extended history has a track URI for the
-- same artist and track name, use it (the most streamed one if there are several).
uri_map as (
    select distinct on (user_id, artist_name, track_name) user_id, artist_name, track_name, track_uri
    from (
        select user_id, artist_name, track_name, track_uri, count(*) as streams
        from {{ ref('stg_spotify__extended_streams') }}
        where track_uri is not null and track_name is not null and artist_name is not null
          and user_id in (
              select user_id from batch where stream_source = 'account' and content_type = 'music'
          )
        group by user_id, artist_name, track_name, track_uri
    ) counted
    order by user_id, artist_name, track_name, streams desc, track_uri
),

identified as (
    select
        b.*,
        b.source_table || ':' || b.raw_id as stream_key,
        coalesce(b.track_uri, m.track_uri) as resolved_track_uri,
        case b.content_type
            when 'music' then b.artist_name
            when 'podcast' then b.show_name
            when 'audiobook' then b.audiobook_title
        end as creator_name,
        case b.content_type
            when 'music' then b.track_name
            when 'podcast' then b.episode_name
            when 'audiobook' then b.chapter_title
        end as item_name
    from batch b
    left join uri_map m
      on b.stream_source = 'account' and b.content_type = 'music'
     and m.user_id = b.user_id and m.artist_name = b.artist_name and m.track_name = b.track_name
),

keyed as (
    select
        i.*,
        -- What "the same track" means: its URI when known, else its names.
        case content_type
            when 'music' then coalesce(resolved_track_uri, 'name:' || coalesce(creator_name, '') || '|' || coalesce(item_name, ''))
            when 'podcast' then coalesce(episode_uri, 'name:' || coalesce(creator_name, '') || '|' || coalesce(item_name, ''))
            when 'audiobook' then coalesce(chapter_uri, 'name:' || coalesce(creator_name, '') || '|' || coalesce(item_name, ''))
            else 'unknown'
        end as item_key
    from identified i
),

-- Rule 1: the same record seen twice (same source kind, end time, identity and ms_played).
rule_same_record as (
    select
        k.*,
        first_value(stream_key) over same_record as same_record_winner
    from keyed k
    window same_record as (
        partition by user_id, stream_source, content_type, ended_at, item_key, ms_played
        order by raw_id, source_table
    )
),

-- Rule 2: an account row and an extended row of the same stream (same names and ms_played, the
-- extended end time truncated to the minute equals the account end time): the extended row wins.
extended_minutes as (
    select user_id, content_type, creator_name, item_name, ms_played,
           date_trunc('minute', ended_at, 'UTC') as ended_minute,
           min(stream_key) as winner
    from rule_same_record
    where stream_source = 'extended' and stream_key = same_record_winner
    group by 1, 2, 3, 4, 5, 6
),

rule_account_vs_extended as (
    select r.*, em.winner as extended_winner
    from rule_same_record r
    left join extended_minutes em
      on r.stream_source = 'account' and r.stream_key = r.same_record_winner
     and em.user_id = r.user_id and em.content_type = r.content_type
     and em.creator_name = r.creator_name and em.item_name = r.item_name
     and em.ms_played = r.ms_played and em.ended_minute = r.ended_at
),

-- Rule 3: an API play and an export row of the same track URI ending within api_match_seconds
-- of each other are one stream. Pairs are matched one-to-one (each is the other's nearest).
api_pairs as (
    select a.stream_key as api_key, e.stream_key as export_key,
           abs(extract(epoch from a.ended_at - e.ended_at)) as gap
    from rule_account_vs_extended a
    join rule_account_vs_extended e
      on e.user_id = a.user_id
     and e.stream_source in ('extended', 'account')
     and e.resolved_track_uri = a.resolved_track_uri
     and e.ended_at between a.ended_at - interval '{{ match_seconds }} seconds'
                        and a.ended_at + interval '{{ match_seconds }} seconds'
    where a.stream_source = 'api'
      and a.stream_key = a.same_record_winner
      and e.stream_key = e.same_record_winner and e.extended_winner is null
),

api_matches as (
    select api_key, export_key
    from (
        select p.*,
               row_number() over (partition by api_key order by gap, export_key) as api_rank,
               row_number() over (partition by export_key order by gap, api_key) as export_rank
        from api_pairs p
    ) ranked
    where api_rank = 1 and export_rank = 1
),

resolved as (
    select
        r.*,
        case
            when r.stream_key <> r.same_record_winner then 'same_record'
            when r.extended_winner is not null then 'account_vs_extended'
            when am_api.export_key is not null then 'api_vs_export'
        end as duplicate_rule,
        case
            when r.stream_key <> r.same_record_winner then r.same_record_winner
            when r.extended_winner is not null then r.extended_winner
            when am_api.export_key is not null then am_api.export_key
        end as canonical_of,
        am_export.api_key as matched_api_key
    from rule_account_vs_extended r
    left join api_matches am_api on am_api.api_key = r.stream_key
    left join api_matches am_export on am_export.export_key = r.stream_key
),

-- An export row matched by an API play takes the API's metadata (names, album, duration);
-- its own ms_played stays.
enriched as (
    select
        r.*,
        api.track_name as api_track_name,
        api.artist_name as api_artist_name,
        api.album_name as api_album_name,
        api.duration_ms as api_duration_ms
    from resolved r
    left join (select * from resolved where stream_source = 'api') api on api.stream_key = r.matched_api_key
),

final as (
    select
        e.stream_key,
        e.source_table,
        e.raw_id,
        e.user_id,
        e.stream_source,
        e.load_id,
        e.loaded_at,
        e.ended_at,
        {{ utc_day('e.ended_at') }} as utc_day,
        u.timezone,
        {{ local_time('e.ended_at', 'u.timezone') }} as local_ts,
        ({{ local_time('e.ended_at', 'u.timezone') }})::date as local_date,
        extract(hour from {{ local_time('e.ended_at', 'u.timezone') }})::integer as local_hour,
        extract(isodow from {{ local_time('e.ended_at', 'u.timezone') }})::integer as iso_weekday,
        e.content_type,
        e.item_key,
        e.resolved_track_uri as track_uri,
        coalesce(e.api_track_name, e.track_name) as track_name,
        coalesce(e.api_artist_name, e.artist_name) as artist_name,
        coalesce(e.api_album_name, e.album_name) as album_name,
        e.show_name,
        e.episode_name,
        e.episode_uri,
        e.audiobook_title,
        e.chapter_title,
        e.author_name,
        e.ms_played,
        coalesce(e.duration_ms, e.api_duration_ms) as duration_ms,
        -- Time listened: ms_played where known; for API-only plays the track duration, flagged.
        coalesce(e.ms_played, e.duration_ms, e.api_duration_ms, 0) as ms_listened,
        (e.ms_played is null) as ms_is_estimated,
        e.is_incognito,
        e.is_video,
        e.platform,
        e.conn_country,
        e.reason_start,
        e.reason_end,
        e.shuffle,
        e.skipped,
        e.offline,
        e.offline_at,
        e.duplicate_rule is not null as is_duplicate,
        e.duplicate_rule,
        e.canonical_of,
        e.matched_api_key,
        (
            e.duplicate_rule is null
            and e.content_type = 'music'
            and (e.stream_source = 'api' and e.ms_played is null or e.ms_played >= {{ var('min_play_ms') | int }})
            and ({{ var('include_incognito') }} or not e.is_incognito)
        ) as is_play,
        '{{ run_started_at }}'::timestamptz as batch_at
    from enriched e
    join users u using (user_id)
)

select * from final
{% if is_incremental() %}
where user_id in (select user_id from full_users)
   or (user_id, utc_day) in (select user_id, utc_day from dirty_days)
{% endif %}
