-- Music plays and minutes per user, local day and artist. A window's top artists are a sum over
-- its days (an index range read on user_id, local_date).
{{ config(**day_mart_config(indexes=[{'columns': ['user_id', 'local_date']}])) }}

{% call day_rows_by_user() %}
select
    user_id,
    local_date,
    artist_name,
    count(*) as plays,
    sum(ms_listened) as ms_played,
    sum(case when ms_is_estimated then ms_listened else 0 end) as ms_estimated,
    min(timezone) as timezone,
    max(batch_at) as source_batch_at
from {{ streams_to_aggregate() }} s
where is_play
group by user_id, local_date, artist_name
{% endcall %}
