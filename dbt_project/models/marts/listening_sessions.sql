-- Listening sessions (domain.md §3b; the sessions block of models/_docs.md): plays ordered by end
-- time are one session while the gap from a play's end to the next play's start is at most
-- session_gap_minutes (overlaps, negative gaps, stay in the session). A session starts where its
-- first play starts (end minus ms played), ends where its last play ends, and belongs to the local
-- date of its start: a window holds the sessions that start in it. Minutes are its plays' time
-- listened; top_artist: most plays, then minutes, then name.
--
-- Incremental: the sessions a build's new rows can change are deleted and recomputed
-- (macros/sessions.sql); one listener at a time (a lateral per user, as int_streams does).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    meta={'batch_column': 'built_at'},
    pre_hook=["{{ set_build_work_mem() }}", "{{ delete_reopened_sessions() }}"],
    post_hook=["{{ record_watermark() }}"],
    indexes=[{'columns': ['user_id', 'local_date']}, {'columns': ['user_id', 'session_end']}],
) }}

with work_users as (
    select user_id from {{ ref('stg_app__users') }}
    {%- if is_incremental() %}
    where user_id in ({{ catalog_changed_users() }})
    {%- endif %}
)

select s.*
from work_users u
cross join lateral (
    with plays as not materialized (
        select p.ended_at, {{ play_start('p.ended_at', 'p.ms_listened') }} as started_at, p.ms_listened,
               p.artist_name, p.stream_key, p.timezone
        from {{ ref('int_streams') }} p
        where p.user_id = u.user_id and p.is_play
        {%- if is_incremental() %}
          -- after the pre-hook: the plays after the last session kept (an index range read)
          and p.ended_at > coalesce(
              (select max(k.session_end) from {{ this }} k where k.user_id = u.user_id), '-infinity'::timestamptz)
        {%- endif %}
    ),

    ordered as (
        select *, lag(ended_at) over (order by ended_at, stream_key) as previous_end
        from plays
    ),

    numbered as (
        select *,
               previous_end is null or started_at - previous_end > {{ session_gap() }} as opens_session,
               count(*) filter (where previous_end is null or started_at - previous_end > {{ session_gap() }})
                   over (order by ended_at, stream_key rows unbounded preceding) as session_no
        from ordered
    ),

    sessions as (
        select session_no,
               min(started_at) filter (where opens_session) as session_start,
               max(ended_at) as session_end,
               count(*) as plays,
               sum(ms_listened)::bigint as ms_played,
               min(timezone) as timezone
        from numbered
        group by session_no
    ),

    top_artists as (
        select distinct on (session_no) session_no, artist_name
        from (
            select session_no, artist_name, count(*) as plays, sum(ms_listened) as ms
            from numbered
            group by session_no, artist_name
        ) a
        order by session_no, plays desc, ms desc, artist_name collate "C" nulls last
    )

    select u.user_id, s.session_start, s.session_end,
           (s.session_start at time zone s.timezone)::date as local_date,
           s.plays, s.ms_played, t.artist_name as top_artist, s.timezone,
           '{{ run_started_at }}'::timestamptz as built_at
    from sessions s
    join top_artists t using (session_no)
) s
