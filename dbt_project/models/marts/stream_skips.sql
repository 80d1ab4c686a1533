-- Skips (domain.md §3b; the skips block of models/_docs.md), over streams, not plays: per
-- listener, local day and song, the music streams of any length that are not private, after
-- dedup. `known` streams are extended-format rows with `skipped` or `reason_end`; a stream is
-- skipped when `skipped` is true, or `skipped` is NULL and `reason_end` is 'fwdbtn'. Rows of account
-- data and of the API carry neither field: they are the `unknown` streams, counted, never guessed.
{#- The second index: skip_totals recounts the songs a build touched, one range read each. #}
{{ config(**day_mart_config(indexes=[
    {'columns': ['user_id', 'local_date']},
    {'columns': ['user_id', 'track_key']},
])) }}

{% call day_rows_by_user() %}
select
    user_id,
    local_date,
    {{ track_key() }} as track_key,
    max(track_name) as track_name,
    max(artist_name) as artist_name,
    count(*) filter (where {{ skip_known() }}) as streams,
    count(*) filter (where {{ is_skipped() }}) as skips,
    count(*) filter (where not {{ skip_known() }}) as unknown_streams,
    min(timezone) as timezone,
    max(batch_at) as source_batch_at
from {{ streams_to_aggregate() }} s
where {{ skip_stream() }}
group by user_id, local_date, {{ track_key() }}
{% endcall %}
