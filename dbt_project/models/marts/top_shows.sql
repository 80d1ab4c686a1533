-- Podcast streams and minutes per user, local day and show (podcasts are not music plays).
{{ config(**day_mart_config(indexes=[{'columns': ['user_id', 'local_date']}])) }}

{% call day_rows_by_user() %}
select
    user_id,
    local_date,
    coalesce(show_name, episode_name) as show_name,
    count(*) as streams,
    sum(ms_listened) as ms_listened,
    min(timezone) as timezone,
    max(batch_at) as source_batch_at
from {{ streams_to_aggregate() }} s
where not is_duplicate and content_type = 'podcast'
group by user_id, local_date, coalesce(show_name, episode_name)
{% endcall %}
