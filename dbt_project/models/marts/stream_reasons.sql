-- Why streams started and ended, and shuffle (domain.md §3b): per listener and local day, the
-- skip streams of stream_skips (music of any length, not private, after dedup) counted per
-- combination of reason_start, reason_end, shuffle and whether the skip is known (extended rows
-- with `skipped` or `reason_end`) and happened. history.skips sums a window's rows.
{{ config(**day_mart_config(indexes=[{'columns': ['user_id', 'local_date']}])) }}

{% call day_rows_by_user() %}
select
    user_id,
    local_date,
    stream_source = 'extended' as is_extended,
    reason_start,
    reason_end,
    shuffle,
    {{ skip_known() }} as known,
    {{ is_skipped() }} as skipped,
    count(*) as streams,
    min(timezone) as timezone,
    max(batch_at) as source_batch_at
from {{ streams_to_aggregate() }} s
where {{ skip_stream() }}
group by 1, 2, 3, 4, 5, 6, 7, 8
{% endcall %}
