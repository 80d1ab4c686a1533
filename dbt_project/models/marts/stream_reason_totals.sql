-- stream_reasons over all stored history, per listener: what history.skips sums for a window that
-- holds every stored stream (a few dozen rows instead of one set per day; first_date and last_date
-- say which days the listener's skip streams span, so the API knows when a window holds them all). Recomputed per listener
-- with new rows (their stream_reasons rows: a few per day).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=["{{ delete_changed_users_rows() }}"],
    post_hook=["{{ record_watermark() }}"],
    indexes=[{'columns': ['user_id']}],
) }}

with work_users as (
    select user_id from {{ ref('stg_app__users') }}
    {%- if is_incremental() %}
    where user_id in ({{ catalog_changed_users() }})
    {%- endif %}
)

select u.user_id, r.is_extended, r.reason_start, r.reason_end, r.shuffle, r.known, r.skipped, r.streams,
       r.first_date, r.last_date
from work_users u
cross join lateral (
    select is_extended, reason_start, reason_end, shuffle, known, skipped, sum(streams)::bigint as streams,
           min(local_date) as first_date, max(local_date) as last_date
    from {{ ref('stream_reasons') }} s
    where s.user_id = u.user_id
    group by is_extended, reason_start, reason_end, shuffle, known, skipped
) r
