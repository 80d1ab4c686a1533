-- Every song's skip streams over all stored history, per listener (summed from stream_skips):
-- history.skips answers most_skipped from here for a window that holds every stored stream (an
-- index read in rate order). Incremental per song: a build recounts the songs its new int_streams
-- rows name, now or before (macros/totals.sql), like album_totals.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    meta={'batch_column': 'built_at'},
    pre_hook=["{{ set_build_work_mem() }}", "{{ delete_recounted_songs() }}"],
    post_hook=["{{ record_watermark() }}"],
    indexes=[{'columns': ['user_id', 'skip_rate desc', 'streams desc']}],
) }}
{%- set scope = catalog_scope() %}

with
{%- if scope == 'items' %}
touched as materialized (
    {{ touched_songs() }}
),
{%- endif %}

work_users as (
    select user_id from {{ ref('stg_app__users') }}
    {%- if scope == 'items' %}
    where user_id in (select user_id from touched)
    {%- elif scope == 'users' %}
    where user_id in ({{ catalog_changed_users() }})
    {%- endif %}
)

select u.user_id, a.track_key, a.track_name, a.artist_name, a.streams, a.skips, a.unknown_streams,
       case when a.streams > 0 then a.skips::float8 / a.streams end as skip_rate,
       '{{ run_started_at }}'::timestamptz as built_at
from work_users u
cross join lateral (
    select p.track_key, max(p.track_name) as track_name, max(p.artist_name) as artist_name,
           sum(p.streams)::bigint as streams, sum(p.skips)::bigint as skips,
           sum(p.unknown_streams)::bigint as unknown_streams
    {%- if scope == 'items' %}
    from touched t
    cross join lateral (
        select * from {{ ref('stream_skips') }} x
        where x.user_id = t.user_id and x.track_key = t.track_key
        offset 0
    ) p
    where t.user_id = u.user_id
    {%- else %}
    from {{ ref('stream_skips') }} p
    where p.user_id = u.user_id
    {%- endif %}
    group by p.track_key
) a
