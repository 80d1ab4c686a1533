-- Per user, local day and source (extended / account / api): streams (duplicates collapsed,
-- 'unknown' rows never counted), plays, minutes, and the first and last stream and play. Days
-- without a row have no data: runs of them are the gaps.
{{ config(**day_mart_config(indexes=[{'columns': ['user_id', 'local_date']}])) }}

{% call day_rows_by_user() %}
select
    user_id,
    local_date,
    stream_source as source,
    count(*) as streams,
    count(*) filter (where is_play) as plays,
    sum(ms_listened) as ms_listened,
    min(ended_at) as first_stream_at,
    max(ended_at) as last_stream_at,
    min(ended_at) filter (where is_play) as first_play_at,
    max(ended_at) filter (where is_play) as last_play_at,
    min(timezone) as timezone,
    max(batch_at) as source_batch_at
from {{ streams_to_aggregate() }} s
where not is_duplicate and content_type <> 'unknown'
group by user_id, local_date, stream_source
{% endcall %}
