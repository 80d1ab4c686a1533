-- Audiobook streams and minutes per user, local day and book.
{{ config(**day_mart_config(indexes=[{'columns': ['user_id', 'local_date']}])) }}

{% call day_rows_by_user() %}
select
    user_id,
    local_date,
    coalesce(audiobook_title, chapter_title) as audiobook_title,
    count(*) as streams,
    sum(ms_listened) as ms_listened,
    min(timezone) as timezone,
    max(batch_at) as source_batch_at
from {{ streams_to_aggregate() }} s
where not is_duplicate and content_type = 'audiobook'
group by user_id, local_date, coalesce(audiobook_title, chapter_title)
{% endcall %}
