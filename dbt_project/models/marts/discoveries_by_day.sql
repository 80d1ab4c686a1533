-- Per listener and local date: the day's plays, the artists and songs first played that day over
-- the whole stored history (every source, after dedup: listening_catalog's first_played_at), and
-- all of those items' plays (domain.md §3b; the discoveries block of models/_docs.md).
-- history.discoveries sums a window's days: how many things were new, per month, and — for a
-- window that reaches the last stored play — the share of its plays that went to them (every play
-- of an item first played in the window lies in it then).
-- Recomputed per listener with new rows: a first play can move (an import of older plays) and
-- every item's plays grow; one pass over the listener's catalog (a few hundred thousand rows).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=["{{ set_build_work_mem() }}", "{{ delete_changed_users_rows() }}"],
    post_hook=["{{ record_watermark() }}"],
    indexes=[{'columns': ['user_id', 'local_date']}],
) }}

with work_users as (
    select user_id, timezone from {{ ref('stg_app__users') }}
    {%- if is_incremental() %}
    where user_id in ({{ catalog_changed_users() }})
    {%- endif %}
)

select u.user_id, d.local_date,
       sum(d.plays)::bigint as plays,
       sum(d.new_artists)::bigint as new_artists,
       sum(d.new_tracks)::bigint as new_tracks,
       sum(d.new_artist_plays)::bigint as new_artist_plays,
       sum(d.new_track_plays)::bigint as new_track_plays
from work_users u
cross join lateral (
    select c.local_date, c.plays, 0 as new_artists, 0 as new_tracks, 0 as new_artist_plays, 0 as new_track_plays
    from {{ ref('coverage') }} c
    where c.user_id = u.user_id and c.plays > 0
    union all
    select (i.first_played_at at time zone u.timezone)::date, 0,
           count(*) filter (where i.item_type = 'artist'),
           count(*) filter (where i.item_type = 'track'),
           coalesce(sum(i.plays) filter (where i.item_type = 'artist'), 0),
           coalesce(sum(i.plays) filter (where i.item_type = 'track'), 0)
    from {{ ref('listening_catalog') }} i
    where i.user_id = u.user_id and i.item_type in ('artist', 'track')
    group by 1
) d
group by u.user_id, d.local_date
