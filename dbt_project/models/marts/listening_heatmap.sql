-- Music plays per user, local day and local hour (ISO weekday: Monday = 1), in the listener's zone.
{{ config(**day_mart_config(indexes=[{'columns': ['user_id', 'local_date']}])) }}

{% call day_rows_by_user() %}
select
    user_id,
    local_date,
    iso_weekday,
    local_hour,
    count(*) as plays,
    sum(ms_listened) as ms_played,
    min(timezone) as timezone,
    max(batch_at) as source_batch_at
from {{ streams_to_aggregate() }} s
where is_play
group by user_id, local_date, iso_weekday, local_hour
{% endcall %}
