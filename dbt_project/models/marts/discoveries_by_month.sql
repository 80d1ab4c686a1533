-- discoveries_by_day summed per listener and local month: what history.discoveries reads for a window
-- that holds the whole stored history (about 180 rows for 15 years instead of about 5 500 days; with no
-- play before the first or after the last, the window's partial first and last months sum the same).
-- Recomputed per listener with new rows, from their day rows.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=["{{ delete_changed_users_rows() }}"],
    post_hook=["{{ record_watermark() }}"],
    indexes=[{'columns': ['user_id', 'month']}],
) }}

select d.user_id, date_trunc('month', d.local_date)::date as month,
       sum(d.plays)::bigint as plays,
       sum(d.new_artists)::bigint as new_artists,
       sum(d.new_tracks)::bigint as new_tracks,
       sum(d.new_artist_plays)::bigint as new_artist_plays,
       sum(d.new_track_plays)::bigint as new_track_plays
from {{ ref('discoveries_by_day') }} d
{%- if is_incremental() %}
where d.user_id in ({{ catalog_changed_users() }})
{%- endif %}
group by d.user_id, date_trunc('month', d.local_date)
