-- Per user, local day and content type (music / podcast / audiobook / unknown): streams, plays
-- (music only) and minutes, so podcasts and audiobooks are reported apart from music.
{{ config(**day_mart_config(indexes=[{'columns': ['user_id', 'local_date']}])) }}

{% call day_rows_by_user() %}
select
    user_id,
    local_date,
    content_type,
    count(*) as streams,
    count(*) filter (where is_play) as plays,
    sum(ms_listened) as ms_listened,
    count(*) filter (where is_video) as video_streams,
    min(timezone) as timezone,
    max(batch_at) as source_batch_at
from {{ streams_to_aggregate() }} s
where not is_duplicate
group by user_id, local_date, content_type
{% endcall %}
