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

  Full and incremental builds run the rules one user at a time (a lateral subquery per user), with
  narrow rows through the window and joins: see the incremental_int_streams doc block.
#}
{# pre_hook: memory for one user's sorts (macros/build_memory.sql); no merge joins: the planner
   cannot know that a rule changes few rows, and sorted every row (wide, at the end) to merge them
   with those few instead of hashing the few.
   post_hook analyze: fresh statistics for the marts' dirty-day reads later in the same build
   (right after a full refresh the table has none, and the planner then scans it for every mart),
   when the build wrote many rows; then the log of batches listening_catalog reads. #}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['source_table', 'raw_id'],
    on_schema_change='fail',
    meta={'batch_column': 'batch_at'},
    pre_hook=['{{ set_build_work_mem() }}', 'set local enable_mergejoin = off'],
    post_hook=["{{ analyze_after_many_rows('batch_at') }}", '{{ record_stream_batch() }}'],
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
        -- ordered by the (user_id, ended_at) index, so it reads one index entry; unordered, the
        -- planner scanned the table for the first row of the user (0.4 s at 1 M rows)
        select timezone from {{ this }} s where s.user_id = u.user_id order by s.ended_at limit 1
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

{% endif %}

-- Whose rows this build computes: everyone in a full build; in an incremental one, the users
-- recomputed whole and those with dirty days.
work_users as (
    select user_id, timezone from users
    {%- if is_incremental() %}
    where user_id in (select user_id from full_users union select user_id from dirty_days)
    {%- endif %}
)

{#- The rules, as one query over `batch`: the rows of user `u` (all of them, or their dirty days). Only
    narrow rows (keys, names, ids) go through the window and join steps; the wide rows are read once
    more at the end and joined to the few rows a rule changed. #}
{%- set rules %}
-- Account rows carry names only; where the user's extended history has a track URI for the same
-- artist and track name, use it (the most streamed one if there are several). Computed only when
-- the batch has account music rows.
uri_map as (
    select distinct on (artist_name, track_name) artist_name, track_name, track_uri
    from (
        select artist_name, track_name, track_uri, count(*) as streams
        from {{ ref('stg_spotify__extended_streams') }}
        where user_id = u.user_id
          and track_uri is not null and track_name is not null and artist_name is not null
          and exists (select 1 from batch where stream_source = 'account' and content_type = 'music')
        group by artist_name, track_name, track_uri
    ) counted
    order by artist_name, track_name, streams desc, track_uri
),

-- Every row with its identity. Not materialized: read twice (narrow for the rules, wide at the end),
-- each time straight from the raw tables instead of through a stored copy of the wide rows.
identified as not materialized (
    select
        i.*,
        i.source_table || ':' || i.raw_id as stream_key,
        -- What "the same track" means: its URI when known, else its names.
        case content_type
            when 'music' then coalesce(resolved_track_uri, 'name:' || coalesce(creator_name, '') || '|' || coalesce(item_name, ''))
            when 'podcast' then coalesce(episode_uri, 'name:' || coalesce(creator_name, '') || '|' || coalesce(item_name, ''))
            when 'audiobook' then coalesce(chapter_uri, 'name:' || coalesce(creator_name, '') || '|' || coalesce(item_name, ''))
            else 'unknown'
        end as item_key
    from (
        select
            b.*,
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
        from (
            -- Only account music rows look up uri_map (the other sources' branches skip the join).
            select s.*, s.track_uri as resolved_track_uri
            from batch s
            where not (s.stream_source = 'account' and s.content_type = 'music')
            union all
            select s.*, coalesce(s.track_uri, m.track_uri)
            from batch s
            left join uri_map m on m.artist_name = s.artist_name and m.track_name = s.track_name
            where s.stream_source = 'account' and s.content_type = 'music'
        ) b
    ) i
),

-- Rule 1: the same record seen twice (same source kind, end time, identity and ms_played). One
-- window sort over narrow rows; ended_at leads the partition (the partition is the same set of
-- columns in any order) so rows of one moment sort together.
rule_same_record as (
    select
        source_table, raw_id, user_id, stream_source, content_type, ended_at, ms_played,
        resolved_track_uri, creator_name, item_name,
        first_value(stream_key) over same_record as same_record_winner,
        -- A boolean, not `stream_key = same_record_winner`: the planner guesses 0.5 % of rows for
        -- a column-to-column equality, and on an incremental batch that guess turned hash joins
        -- into nested loops over CTEs (minutes instead of a second).
        row_number() over same_record = 1 as is_same_record_winner
    from identified
    window same_record as (
        partition by user_id, ended_at, stream_source, content_type, item_key, ms_played
        order by raw_id, source_table
    )
),

-- Rule 2: an account row and an extended row of the same stream (same names and ms_played, the
-- extended end time truncated to the minute equals the account end time): the extended row wins,
-- the lowest raw_id if several fit. An equi-join from the account rule-1 winners (a hash on the
-- account side; nothing to probe for a user without account rows), not a sort of every row.
account_vs_extended as (
    select a.source_table || ':' || a.raw_id as stream_key,
           'extended_streams:' || min(e.raw_id) as extended_winner
    from rule_same_record a
    join rule_same_record e
      on e.user_id = a.user_id and e.content_type = a.content_type
     and e.creator_name = a.creator_name and e.item_name = a.item_name
     -- ms_played may be NULL (podcast and audiobook account rows): NULL matches NULL, as in a partition.
     and coalesce(e.ms_played, -1) = coalesce(a.ms_played, -1)
     and date_trunc('minute', e.ended_at, 'UTC') = a.ended_at
    where a.stream_source = 'account' and a.is_same_record_winner
      and e.stream_source = 'extended' and e.is_same_record_winner
    group by a.source_table, a.raw_id
),

-- Rule 3: an API play and an export row of the same track URI ending within api_match_seconds
-- of each other are one stream. Only tracks that have API plays take part; within a track, each
-- API play is compared with the export rows just before and just after it (equi-joins on a
-- running count, so the plan stays linear), and pairs are matched one-to-one: each is the other's
-- nearest.
rule3_candidates as (
    select
        r.source_table || ':' || r.raw_id as stream_key, r.user_id, r.resolved_track_uri, r.ended_at,
        r.stream_source = 'api' as is_api,
        count(*) filter (where r.stream_source <> 'api') over (
            partition by r.user_id, r.resolved_track_uri order by r.ended_at, r.source_table || ':' || r.raw_id
            rows between unbounded preceding and current row
        ) as exports_so_far
    from rule_same_record r
    where r.is_same_record_winner
      and r.resolved_track_uri is not null
      and r.stream_source in ('api', 'extended', 'account')
      and (r.user_id, r.resolved_track_uri) in (
          select user_id, resolved_track_uri from rule_same_record where stream_source = 'api'
      )
      and not exists (
          select 1 from account_vs_extended x where x.stream_key = r.source_table || ':' || r.raw_id
      )
),

api_pairs as (
    select a.stream_key as api_key, e.stream_key as export_key,
           abs(extract(epoch from a.ended_at - e.ended_at)) as gap
    from rule3_candidates a
    join rule3_candidates e
      on e.user_id = a.user_id and e.resolved_track_uri = a.resolved_track_uri
     and not e.is_api
     and e.exports_so_far in (a.exports_so_far, a.exports_so_far + 1)
    where a.is_api
      and abs(extract(epoch from a.ended_at - e.ended_at)) <= {{ match_seconds }}
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

-- What became of each rule-1 winner that a later rule collapsed (rule 2 or 3): few rows.
winner_fates as (
    select stream_key, extended_winner, null::text as api_export_winner from account_vs_extended
    union all
    select api_key, null, export_key from api_matches
),

-- Every row a rule changed, once (the three parts are disjoint): rule-1 losers, rule-1 winners a
-- later rule collapsed, and export rows an API play matched. Every other row survives untouched.
row_fates as (
    -- A duplicate points at the surviving stream, through its rule-1 winner's own fate.
    select l.source_table || ':' || l.raw_id as stream_key, 'same_record' as duplicate_rule,
           coalesce(wf.extended_winner, wf.api_export_winner, l.same_record_winner) as canonical_of,
           null::text as matched_api_key, null::text as api_track_name, null::text as api_artist_name,
           null::text as api_album_name, null::bigint as api_duration_ms
    from rule_same_record l
    left join winner_fates wf on wf.stream_key = l.same_record_winner
    where not l.is_same_record_winner
    union all
    select stream_key,
           case when extended_winner is not null then 'account_vs_extended' else 'api_vs_export' end,
           coalesce(extended_winner, api_export_winner),
           null, null, null, null, null
    from winner_fates
    union all
    -- An export row matched by an API play takes the API's metadata (names, album, duration).
    select m.export_key, null, null, m.api_key, a.track_name, a.artist_name, a.album_name, a.duration_ms
    from api_matches m
    join batch a on a.stream_source = 'api' and a.source_table || ':' || a.raw_id = m.api_key
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
        -- An export row matched by an API play takes the API's metadata; its own ms_played stays.
        coalesce(f.api_track_name, e.track_name) as track_name,
        coalesce(f.api_artist_name, e.artist_name) as artist_name,
        coalesce(f.api_album_name, e.album_name) as album_name,
        e.show_name,
        e.episode_name,
        e.episode_uri,
        e.audiobook_title,
        e.chapter_title,
        e.author_name,
        e.ms_played,
        coalesce(e.duration_ms, f.api_duration_ms) as duration_ms,
        -- Time listened: ms_played where known; for API-only plays the track duration, flagged.
        coalesce(e.ms_played, e.duration_ms, f.api_duration_ms, 0) as ms_listened,
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
        f.duplicate_rule is not null as is_duplicate,
        f.duplicate_rule,
        f.canonical_of,
        f.matched_api_key,
        (
            f.duplicate_rule is null
            and e.content_type = 'music'
            and (e.stream_source = 'api' and e.ms_played is null or e.ms_played >= {{ var('min_play_ms') | int }})
            and ({{ var('include_incognito') }} or not coalesce(e.is_incognito, false))
        ) as is_play,
        '{{ run_started_at }}'::timestamptz as batch_at
    from identified e
    left join row_fates f on f.stream_key = e.stream_key
)
{%- endset %}

-- The rules run one user at a time (a lateral subquery per user): each sort and hash holds one
-- user's rows, so they fit in memory and time stays linear in rows, however many users there are.
-- A rewritten row keeps the names it had when they changed (previous_*): listening_catalog
-- recounts the items a batch touched, and a play that moved to other names touched its old items too.
select
    r.*,
    {%- if is_incremental() %}
    x.renamed,
    case when x.renamed then old.track_name end as previous_track_name,
    case when x.renamed then old.artist_name end as previous_artist_name,
    case when x.renamed then old.album_name end as previous_album_name
    {%- else %}
    false as renamed,
    null::text as previous_track_name,
    null::text as previous_artist_name,
    null::text as previous_album_name
    {%- endif %}
from work_users u
cross join lateral (
    with batch as not materialized (
        {%- if is_incremental() %}
        select s.* from {{ ref('int_streams_unioned') }} s
        where s.user_id = u.user_id and u.user_id in (select user_id from full_users)
        union all
        select s.* from (
            select min(utc_day) as first_day, max(utc_day) as last_day from dirty_days where user_id = u.user_id
        ) r
        -- lateral: an index range read of the user's dirty span in every source, not a scan
        cross join lateral (
            select * from {{ ref('int_streams_unioned') }} x
            where x.user_id = u.user_id
              and x.ended_at >= (r.first_day::timestamp at time zone 'UTC') - {{ margin }}
              and x.ended_at < ((r.last_day + 1)::timestamp at time zone 'UTC') + {{ margin }}
            offset 0  -- keeps the planner from flattening the lateral into a hash join
        ) s
        where exists (
              select 1 from dirty_days d
              where d.user_id = u.user_id
                and s.ended_at >= (d.utc_day::timestamp at time zone 'UTC') - {{ margin }}
                and s.ended_at < ((d.utc_day + 1)::timestamp at time zone 'UTC') + {{ margin }}
          )
        {%- else %}
        select * from {{ ref('int_streams_unioned') }} s where s.user_id = u.user_id
        {%- endif %}
    ),
    {{ rules }}
    select * from final
) r
{%- if is_incremental() %}
-- lateral: one unique-index lookup per row written (a join hashed the whole table)
left join lateral (
    select o.raw_id, o.track_name, o.artist_name, o.album_name from {{ this }} o
    where o.source_table = r.source_table and o.raw_id = r.raw_id
    offset 0
) old on true
cross join lateral (
    select (old.track_name, old.artist_name, old.album_name)
           is distinct from (r.track_name, r.artist_name, r.album_name) and old.raw_id is not null as renamed
) x
where u.user_id in (select user_id from full_users)
   or (r.user_id, r.utc_day) in (select user_id, utc_day from dirty_days)
{%- endif %}
