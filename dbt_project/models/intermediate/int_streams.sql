{#
  One row per raw stream row of every source, with the play-semantics contract applied:
  identity, the three duplicate rules, the play flag and local time. Duplicates are kept and
  flagged (is_duplicate, duplicate_rule, canonical_of) so every raw row's fate is visible; marts
  read `where is_play` or `where not is_duplicate`.

  Incremental: rows are recomputed per (user, UTC day). A day is dirty when a raw row newer than
  what this table has seen for that user and source lands on it (± the margin below, so pairs across
  midnight are recomputed together), or when it has account rows whose artist and track names a
  new extended row carries (the URI they resolve to may change). Every duplicate rule matches rows
  at most max(1 minute, api_match_seconds) apart, so whole dirty days are self-contained. A user
  is recomputed whole when their time zone changed, or on their first load. Every row of a dirty day is re-emitted, so
  delete+insert on (source_table, raw_id) leaves no stale row.
#}
{# post_hook analyze: fresh statistics for the marts' dirty-day reads later in the same build
   (right after a full refresh the table has none, and the planner then scans it for every mart). #}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['source_table', 'raw_id'],
    on_schema_change='fail',
    post_hook=['analyze {{ this }}'],
    indexes=[
      {'columns': ['source_table', 'raw_id'], 'unique': True},
      {'columns': ['user_id', 'source_table', 'raw_id']},
      {'columns': ['user_id', 'ended_at']},
      {'columns': ['user_id', 'local_date']},
      {'columns': ['batch_at']},
    ],
) }}

{%- set match_seconds = var('api_match_seconds') | int %}
{#- How far around a dirty day rows are recomputed and read as context: every duplicate rule's pairs
    lie within it (rule 2: one minute, rule 3: api_match_seconds), so dirty days stay self-contained
    whatever the var says. #}
{%- set margin = "interval '" ~ ([60, match_seconds] | max) ~ " seconds'" %}
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
    select b.user_id, b.source_table, s.ended_at
    from built b
    cross join lateral (  -- an index range read of the user's new rows (offset 0: not flattened)
        select ended_at from {{ ref(model) }} m
        where m.user_id = b.user_id and m.raw_id > coalesce(b.max_raw_id, 0)
        offset 0
    ) s
    where b.source_table = '{{ model.replace("stg_spotify__", "") }}'
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

-- Recomputed whole: users whose time zone changed (every local day moved) and users this table
-- has nothing of yet (their first load: one pass instead of thousands of dirty days).
full_users as (
    select b.user_id from built b join users u using (user_id)
    where b.built_timezone is distinct from u.timezone and b.built_timezone is not null
    union
    select user_id from built group by user_id having count(max_raw_id) = 0
),

-- New extended rows can change the URI an account row's names resolve to (uri_map below): the
-- days of the same user's account rows with those names are dirty too.
resolution_changes as (
    select a.user_id, a.ended_at
    from (
        -- lateral: an index range read of each user's new rows, never a scan of the whole table
        select distinct b.user_id, s.artist_name, s.track_name
        from built b
        cross join lateral (
            select artist_name, track_name from {{ ref('stg_spotify__extended_streams') }} e
            where e.user_id = b.user_id and e.raw_id > coalesce(b.max_raw_id, 0) and e.track_uri is not null
            offset 0  -- keeps the planner from flattening the lateral into a hash join
        ) s
        where b.source_table = 'extended_streams'
    ) n
    join {{ ref('stg_spotify__account_music_streams') }} a
      on a.user_id = n.user_id and a.artist_name = n.artist_name and a.track_name = n.track_name
),

dirty_days as (
    select distinct n.user_id, d.utc_day
    from (
        select user_id, ended_at from new_rows
        union all
        select user_id, ended_at from resolution_changes
    ) n
    cross join lateral (values
        ({{ utc_day("n.ended_at - " ~ margin) }}),
        ({{ utc_day("n.ended_at + " ~ margin) }})
    ) d (utc_day)
    where n.user_id not in (select user_id from full_users)
),

batch as (
    select s.* from {{ ref('int_streams_unioned') }} s
    where s.user_id in (select user_id from full_users)
    union all
    select s.* from (
        select user_id, min(utc_day) as first_day, max(utc_day) as last_day from dirty_days group by user_id
    ) r
    -- lateral: index range reads of each user's dirty span in every source, not a join over all rows
    cross join lateral (
        select * from {{ ref('int_streams_unioned') }} u
        where u.user_id = r.user_id
          and u.ended_at >= (r.first_day::timestamp at time zone 'UTC') - {{ margin }}
          and u.ended_at < ((r.last_day + 1)::timestamp at time zone 'UTC') + {{ margin }}
        offset 0  -- keeps the planner from flattening the lateral into a hash join
    ) s
    where exists (
          select 1 from dirty_days d
          where d.user_id = s.user_id
            and s.ended_at >= (d.utc_day::timestamp at time zone 'UTC') - {{ margin }}
            and s.ended_at < ((d.utc_day + 1)::timestamp at time zone 'UTC') + {{ margin }}
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
        first_value(stream_key) over same_record as same_record_winner,
        -- A boolean, not `stream_key = same_record_winner`: the planner guesses 0.5 % of rows for
        -- a column-to-column equality, and on an incremental batch that guess turned hash joins
        -- into nested loops over CTEs (minutes instead of a second).
        row_number() over same_record = 1 as is_same_record_winner
    from keyed k
    window same_record as (
        partition by user_id, stream_source, content_type, ended_at, item_key, ms_played
        order by raw_id, source_table
    )
),

-- Rule 2: an account row and an extended row of the same stream (same names and ms_played, the
-- extended end time truncated to the minute equals the account end time): the extended row wins.
-- A window over "same stream" partitions (one sort, no join) finds the extended rule-1 winner.
rule_account_vs_extended as (
    select
        r.*,
        case
            when r.stream_source = 'account' and r.is_same_record_winner
             and r.creator_name is not null and r.item_name is not null
            then min(r.raw_id) filter (
                where r.stream_source = 'extended' and r.is_same_record_winner
            ) over same_stream
        end as extended_winner_raw_id
    from rule_same_record r
    window same_stream as (
        partition by r.user_id, r.content_type, r.creator_name, r.item_name, r.ms_played,
                     case when r.stream_source = 'extended' then date_trunc('minute', r.ended_at, 'UTC')
                          else r.ended_at end
    )
),

-- Rule 3: an API play and an export row of the same track URI ending within api_match_seconds
-- of each other are one stream. Only tracks that have API plays take part; within a track, each
-- API play is compared with the export rows just before and just after it (equi-joins on a
-- running count, so the plan stays linear), and pairs are matched one-to-one: each is the other's
-- nearest.
rule3_candidates as (
    select
        stream_key, user_id, resolved_track_uri, ended_at, stream_source = 'api' as is_api,
        track_name, artist_name, album_name, duration_ms,
        count(*) filter (where stream_source <> 'api') over (
            partition by user_id, resolved_track_uri order by ended_at, stream_key
            rows between unbounded preceding and current row
        ) as exports_so_far
    from rule_account_vs_extended
    where is_same_record_winner
      and extended_winner_raw_id is null
      and resolved_track_uri is not null
      and stream_source in ('api', 'extended', 'account')
      and (user_id, resolved_track_uri) in (
          select user_id, resolved_track_uri from rule_account_vs_extended where stream_source = 'api'
      )
),

api_pairs as (
    select a.stream_key as api_key, e.stream_key as export_key,
           abs(extract(epoch from a.ended_at - e.ended_at)) as gap,
           -- The API's metadata, which the matched export row takes (carried here, not joined back later).
           a.track_name, a.artist_name, a.album_name, a.duration_ms
    from rule3_candidates a
    join rule3_candidates e
      on e.user_id = a.user_id and e.resolved_track_uri = a.resolved_track_uri
     and not e.is_api
     and e.exports_so_far in (a.exports_so_far, a.exports_so_far + 1)
    where a.is_api
      and abs(extract(epoch from a.ended_at - e.ended_at)) <= {{ match_seconds }}
),

api_matches as (
    select api_key, export_key, track_name, artist_name, album_name, duration_ms
    from (
        select p.*,
               row_number() over (partition by api_key order by gap, export_key) as api_rank,
               row_number() over (partition by export_key order by gap, api_key) as export_rank
        from api_pairs p
    ) ranked
    where api_rank = 1 and export_rank = 1
),

-- What each rule-1 winner became (rule 2 or 3 may still make it a duplicate).
winner_fates as (
    select
        r.stream_key,
        case when r.extended_winner_raw_id is not null then 'extended_streams:' || r.extended_winner_raw_id end
            as extended_winner,
        am.export_key as api_export_winner
    from rule_account_vs_extended r
    left join api_matches am on am.api_key = r.stream_key
    where r.is_same_record_winner
),

resolved as (
    select
        r.*,
        case
            when not r.is_same_record_winner then 'same_record'
            when f.extended_winner is not null then 'account_vs_extended'
            when f.api_export_winner is not null then 'api_vs_export'
        end as duplicate_rule,
        -- A duplicate points at the surviving stream, through its rule-1 winner's own fate.
        case
            when not r.is_same_record_winner
            then coalesce(wf.extended_winner, wf.api_export_winner, r.same_record_winner)
            else coalesce(f.extended_winner, f.api_export_winner)
        end as canonical_of,
        am_export.api_key as matched_api_key,
        -- An export row matched by an API play takes the API's metadata (names, album, duration);
        -- its own ms_played stays.
        am_export.track_name as api_track_name,
        am_export.artist_name as api_artist_name,
        am_export.album_name as api_album_name,
        am_export.duration_ms as api_duration_ms
    from rule_account_vs_extended r
    left join winner_fates f on f.stream_key = r.stream_key
    left join winner_fates wf on wf.stream_key = r.same_record_winner and not r.is_same_record_winner
    left join api_matches am_export on am_export.export_key = r.stream_key
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
        coalesce(e.is_incognito, false) as is_incognito,
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
            and ({{ var('include_incognito') }} or not coalesce(e.is_incognito, false))
        ) as is_play,
        '{{ run_started_at }}'::timestamptz as batch_at
    from resolved e
    join users u using (user_id)
)

select * from final
{% if is_incremental() %}
where user_id in (select user_id from full_users)
   or (user_id, utc_day) in (select user_id, utc_day from dirty_days)
{% endif %}
