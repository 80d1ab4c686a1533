-- Spotify's top lists, one row per item of each (entity, time_range) list of each snapshot.
select
    raw_id,
    user_id,
    snapshot_id,
    snapshot_at,
    entity,
    time_range,
    rank,
    item_id,
    item_uri,
    item_name,
    artists,
    album_name,
    genres,
    popularity,
    loaded_at
from {{ source('spotify_raw', 'spotify_top_items') }}
