-- Podcast streams and minutes per user, local day and show (podcasts are not music plays).
{{ config(**day_mart_config(indexes=[{'columns': ['user_id', 'local_date']}])) }}

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
-- Stored in (user_id, local_date) order: a window the API reads (one user, a range of days) is a few
-- adjacent pages instead of one page per row.
order by user_id, local_date
