-- Spotify's own top artists and tracks, every snapshot kept ("how did my top change"), one row per
-- user × snapshot × entity × time_range × rank. `is_latest` marks the newest snapshot of each
-- (user, entity, time_range) list: what spotify.get_top serves.
{{ config(indexes=[{'columns': ['user_id', 'entity', 'time_range', 'is_latest', 'rank']}]) }}

with items as (
    select * from {{ ref('stg_spotify__top_items') }}
),

latest as (
    select user_id, entity, time_range, max(snapshot_at) as snapshot_at
    from items
    group by user_id, entity, time_range
)

select
    i.user_id,
    u.user_name,
    i.snapshot_id,
    i.snapshot_at,
    i.entity,
    i.time_range,
    i.rank,
    i.item_name,
    i.item_uri,
    i.item_id,
    case when i.entity = 'tracks'
         then array(select a ->> 'name' from jsonb_array_elements(i.artists) a) end as artist_names,
    i.album_name,
    case when i.entity = 'artists' then array(select jsonb_array_elements_text(i.genres)) end as genres,
    i.popularity,
    l.snapshot_at is not null as is_latest
from items i
-- Users removed since their snapshot are not served; the name is what the admin sees.
join {{ ref('stg_app__users') }} u using (user_id)
left join latest l using (user_id, entity, time_range, snapshot_at)
