-- Music plays and minutes per user, local day and track (track_key: the Spotify URI when known,
-- else "name:<artist>|<track>").
{{ config(**day_mart_config(indexes=[{'columns': ['user_id', 'local_date']}])) }}

select
    user_id,
    local_date,
    item_key as track_key,
    max(track_uri) as track_uri,
    max(track_name) as track_name,
    max(artist_name) as artist_name,
    count(*) as plays,
    sum(ms_listened) as ms_played,
    sum(case when ms_is_estimated then ms_listened else 0 end) as ms_estimated,
    min(timezone) as timezone,
    max(batch_at) as source_batch_at
from {{ streams_to_aggregate() }} s
where is_play
group by user_id, local_date, item_key
-- Stored in (user_id, local_date) order: a window the API reads (one user, a range of days) is a few
-- adjacent pages instead of one page per row.
order by user_id, local_date
