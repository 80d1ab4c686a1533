-- The work done for each listener, newest first: privacy-export imports, Spotify polls, backfills
-- and initial syncs, top-list snapshots, and marts builds (user_id NULL: a build serves every user).
--
-- A view, read when asked (issue 25): a run shows as soon as its registry row is written or
-- changes, a marts build while it runs (`running`) and the moment it ends, not from the next
-- build on, as a table built by that same build would. It reads the app tables themselves rather
-- than the staging views: rebuilding a staging view drops it with `cascade`, which would take this
-- view away in the middle of every build. Queries filter by user and take the newest few; the
-- registries' (user_id, started_at) indexes serve that.
{{ config(materialized='view') }}

with runs as (
    select user_id, 'import' as kind, import_id as run_id, status, started_at, finished_at,
           jsonb_build_object('records', records, 'inserted', inserted, 'duplicates', duplicates) as counts,
           source_name as detail, error
    from {{ source('app', 'imports') }}

    union all

    select user_id, kind, sync_id, status, started_at, finished_at,
           jsonb_build_object('requests', requests, 'fetched', fetched, 'inserted', inserted),
           case when gap_detected then 'gap detected: plays were missed' else stop_reason end, error
    from {{ source('app', 'spotify_syncs') }}

    union all

    select user_id, 'top_snapshot', snapshot_id, status, started_at, finished_at,
           jsonb_build_object('requests', requests, 'items', items), null, error
    from {{ source('app', 'spotify_top_snapshots') }}

    union all

    select null::integer, 'marts_build', build_id, status, started_at, finished_at,
           jsonb_build_object('models', models, 'tests', tests, 'failures', failures),
           case when full_refresh then 'full refresh' end, error
    from {{ source('app', 'marts_builds') }}
)

select
    r.user_id,
    u.name as user_name,
    r.kind,
    r.run_id,
    r.status,
    r.started_at,
    r.finished_at,
    r.counts,
    r.detail,
    r.error
from runs r
left join {{ source('app', 'users') }} u using (user_id)
