-- Music plays and minutes per user, local day, album and song (docs: the albums block of
-- models/_docs.md). An album is its artist (the play's artist: master_metadata_album_artist_name
-- of extended rows, the first artist of an API track) and its name; plays without an album
-- (account-format rows carry none) are the rows with album_name NULL, so a window can say how
-- much its album ranking cannot see. A window's albums are a sum over its days (an index range
-- read on user_id, local_date); `songs` counts the distinct track_key of an album in the window.
{#- The second index: album_totals recounts the albums a build touched, one range read each. #}
{{ config(**day_mart_config(indexes=[
    {'columns': ['user_id', 'local_date']},
    {'columns': ['user_id', 'artist_name', 'album_name']},
])) }}

{% call day_rows_by_user() %}
select
    user_id,
    local_date,
    case when album_name is not null then artist_name end as artist_name,
    album_name,
    case when album_name is not null then {{ track_key() }} end as track_key,
    count(*) as plays,
    sum(ms_listened) as ms_played,
    min(timezone) as timezone,
    max(batch_at) as source_batch_at
from {{ streams_to_aggregate() }} s
where is_play
group by 1, 2, 3, 4, 5
{% endcall %}
