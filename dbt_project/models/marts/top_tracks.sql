-- Music plays and minutes per user, local day, track and release (track_uri). track_key is what
-- "the same track" means (var track_identity, macros/track_identity.sql): with `song` one song's
-- releases (URIs) are separate rows of one track_key, so a window can rank songs (sum by
-- track_key) and still name each song's most played release and count its releases.
{{ config(**day_mart_config(indexes=[{'columns': ['user_id', 'local_date']}])) }}

{% call day_rows_by_user() %}
select
    user_id,
    local_date,
    {{ track_key() }} as track_key,
    track_uri,
    max(track_name) as track_name,
    max(artist_name) as artist_name,
    max(album_name) as album_name,
    count(*) as plays,
    sum(ms_listened) as ms_played,
    sum(case when ms_is_estimated then ms_listened else 0 end) as ms_estimated,
    min(timezone) as timezone,
    max(batch_at) as source_batch_at
from {{ streams_to_aggregate() }} s
where is_play
group by user_id, local_date, {{ track_key() }}, track_uri
{% endcall %}
