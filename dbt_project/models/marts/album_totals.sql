-- Every album of a listener over all stored history: plays, minutes and distinct songs, summed from
-- album_plays; the row with album_name NULL holds the plays without an album. history.top_albums
-- answers `all_time` from here (one index range read in ranking order) and any other window from
-- the day rows (marts.window_top_albums): the same sums either way.
--
-- Incremental per album: a build after a poll recounts the albums its new rows touched
-- (macros/totals.sql); the pre-hook deletes those rows, the model appends them again.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    meta={'batch_column': 'built_at'},
    pre_hook=["{{ set_build_work_mem() }}", "{{ delete_recounted_albums() }}"],
    post_hook=["{{ record_watermark() }}"],
    indexes=[{'columns': ['user_id', 'plays desc', 'ms_played desc', 'album_name collate "C"', 'artist_name collate "C"']}],
) }}
{%- set scope = catalog_scope() %}

with
{%- if scope == 'items' %}
touched as materialized (
    {{ touched_albums() }}
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

select u.user_id, a.artist_name, a.album_name, a.plays, a.ms_played, a.songs,
       '{{ run_started_at }}'::timestamptz as built_at
from work_users u
cross join lateral (
    select p.artist_name, p.album_name, sum(p.plays)::bigint as plays, sum(p.ms_played)::bigint as ms_played,
           count(distinct p.track_key) as songs
    {%- if scope == 'items' %}
    -- one index range read of album_plays per touched album
    from touched t
    cross join lateral (
        select * from {{ ref('album_plays') }} x
        where x.user_id = t.user_id
          and (x.artist_name = t.artist_name or x.artist_name is null and t.artist_name is null)
          and (x.album_name = t.album_name or x.album_name is null and t.album_name is null)
        offset 0
    ) p
    where t.user_id = u.user_id
    {%- else %}
    from {{ ref('album_plays') }} p
    where p.user_id = u.user_id
    {%- endif %}
    group by p.artist_name, p.album_name
) a
