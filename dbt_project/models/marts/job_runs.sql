-- The work done for each listener, newest first: privacy-export imports, Spotify polls, backfills
-- and initial syncs, top-list snapshots, and marts builds (user_id NULL: a build serves every user).
-- Kept: the latest 50 runs of each user and kind (what ops.latest_job_runs can list), so the table
-- stays small however often polls run.
{{ config(indexes=[{'columns': ['user_id', 'started_at']}, {'columns': ['kind', 'started_at']}]) }}

with runs as (
    select user_id, 'import' as kind, import_id as run_id, status, started_at, finished_at,
           jsonb_build_object('records', records, 'inserted', inserted, 'duplicates', duplicates) as counts,
           source_name as detail, error
    from {{ ref('stg_app__imports') }}

    union all

    select user_id, kind, sync_id, status, started_at, finished_at,
           jsonb_build_object('requests', requests, 'fetched', fetched, 'inserted', inserted),
           case when gap_detected then 'gap detected: plays were missed' else stop_reason end, error
    from {{ ref('stg_app__spotify_syncs') }}

    union all

    select user_id, 'top_snapshot', snapshot_id, status, started_at, finished_at,
           jsonb_build_object('requests', requests, 'items', items), null, error
    from {{ ref('stg_app__spotify_top_snapshots') }}

    union all

    select null::integer, 'marts_build', build_id, status, started_at, finished_at,
           jsonb_build_object('models', models, 'tests', tests, 'failures', failures),
           case when full_refresh then 'full refresh' end, error
    from {{ ref('stg_app__marts_builds') }}
),

ranked as (
    select *, row_number() over (partition by user_id, kind order by started_at desc, run_id desc) as recency
    from runs
)

select
    r.user_id,
    u.user_name,
    r.kind,
    r.run_id,
    r.status,
    r.started_at,
    r.finished_at,
    r.counts,
    r.detail,
    r.error
from ranked r
left join {{ ref('stg_app__users') }} u using (user_id)
where r.recency <= 50
