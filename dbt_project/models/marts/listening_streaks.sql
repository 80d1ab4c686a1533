-- Streaks (domain.md §3b): runs of consecutive local dates each with at least one play, per
-- listener, from coverage's days. history.sessions clips them to a window. Recomputed per
-- listener with new rows (a few thousand days each: cheap); the pre-hook deletes their rows.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=["{{ delete_changed_users_rows() }}"],
    post_hook=["{{ record_watermark() }}"],
    indexes=[{'columns': ['user_id', 'end_date']}],
) }}

with work_users as (
    select user_id from {{ ref('stg_app__users') }}
    {%- if is_incremental() %}
    where user_id in ({{ catalog_changed_users() }})
    {%- endif %}
)

select u.user_id, min(d.local_date) as start_date, max(d.local_date) as end_date, count(*)::integer as days
from work_users u
cross join lateral (
    -- consecutive dates share date - row_number
    select local_date, local_date - (row_number() over (order by local_date))::integer as run
    from (
        select distinct local_date from {{ ref('coverage') }} c where c.user_id = u.user_id and c.plays > 0
    ) days
) d
group by u.user_id, d.run
