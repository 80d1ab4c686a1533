{#
  The incremental day-grain marts hold exactly what a full aggregation of int_streams gives, per
  user and local day: plays and play minutes (top_artists, top_tracks, listening_heatmap, coverage,
  content_mix), streams per content type (content_mix) and podcast / audiobook streams (top_shows,
  top_audiobooks), album_plays' plays and minutes, and the skip streams of stream_skips and
  stream_reasons (music, not private, after dedup). A day missing from a mart, a stale day or a day counted twice shows up here.
  coverage.streams is checked by coverage_never_counts_unknown_streams.
#}
with days as (  -- the days the latest build wrote (macros/latest_batch.sql)
    select distinct user_id, local_date from {{ latest_batch(ref('int_streams')) }}
),
streams as (
    select * from {{ rows_on_days(ref('int_streams'), 's') }}
),

-- One pass over the streams and one per mart, each measure a column, then one row per measure.
expected as (
    select s.user_id, s.local_date, m.measure, m.value
    from (
        select user_id, local_date,
               count(*) filter (where is_play) as plays,
               coalesce(sum(ms_listened) filter (where is_play), 0) as play_ms,
               count(*) filter (where not is_duplicate and content_type = 'music' and not is_incognito)
                   as skip_streams
               {%- for content_type in ['music', 'podcast', 'audiobook', 'unknown'] %},
               count(*) filter (where not is_duplicate and content_type = '{{ content_type }}')
                   as streams_{{ content_type }}
               {%- endfor %}
        from streams group by 1, 2
    ) s
    cross join lateral (values
        ('plays', s.plays::numeric), ('play_ms', s.play_ms), ('skip_streams', s.skip_streams)
        {%- for content_type in ['music', 'podcast', 'audiobook', 'unknown'] %},
        ('streams_{{ content_type }}', s.streams_{{ content_type }})
        {%- endfor %}
    ) m (measure, value)
),

actual as (
    {%- for mart, ms in [('top_artists', 'ms_played'), ('top_tracks', 'ms_played'),
                         ('listening_heatmap', 'ms_played'), ('coverage', none), ('content_mix', none),
                         ('album_plays', 'ms_played')] %}
    select '{{ mart }}' as mart, d.user_id, d.local_date, m.measure, m.value
    from (
        select user_id, local_date, sum(plays) as plays{% if ms %}, sum({{ ms }}) as play_ms{% endif %}
        from {{ rows_on_days(ref(mart), 'r') }} group by user_id, local_date
    ) d
    cross join lateral (values ('plays', d.plays::numeric){% if ms %}, ('play_ms', d.play_ms){% endif %}) m (measure, value)
    union all
    {%- endfor %}
    select 'content_mix', user_id, local_date, 'streams_' || content_type, sum(streams)
    from {{ rows_on_days(ref('content_mix'), 'r') }} group by user_id, local_date, content_type
    union all
    select 'top_shows', user_id, local_date, 'streams_podcast', sum(streams)
    from {{ rows_on_days(ref('top_shows'), 'r') }} group by user_id, local_date
    union all
    select 'top_audiobooks', user_id, local_date, 'streams_audiobook', sum(streams)
    from {{ rows_on_days(ref('top_audiobooks'), 'r') }} group by user_id, local_date
    union all
    select 'stream_skips', user_id, local_date, 'skip_streams', sum(streams + unknown_streams)
    from {{ rows_on_days(ref('stream_skips'), 'r') }} group by user_id, local_date
    union all
    select 'stream_reasons', user_id, local_date, 'skip_streams', sum(streams)
    from {{ rows_on_days(ref('stream_reasons'), 'r') }} group by user_id, local_date
),

-- Which measures each mart answers for.
mart_measures (mart, measure) as (
    values
    {%- for mart in ['top_artists', 'top_tracks', 'listening_heatmap', 'album_plays'] %}
        ('{{ mart }}', 'plays'), ('{{ mart }}', 'play_ms'),
    {%- endfor %}
        ('coverage', 'plays'), ('content_mix', 'plays'),
        ('content_mix', 'streams_music'), ('content_mix', 'streams_podcast'),
        ('content_mix', 'streams_audiobook'), ('content_mix', 'streams_unknown'),
        ('top_shows', 'streams_podcast'), ('top_audiobooks', 'streams_audiobook'),
        ('stream_skips', 'skip_streams'), ('stream_reasons', 'skip_streams')
),

expected_per_mart as (
    select m.mart, e.user_id, e.local_date, e.measure, e.value
    from expected e join mart_measures m using (measure)
    where e.value <> 0
)

select
    coalesce(e.mart, a.mart) as mart,
    coalesce(e.user_id, a.user_id) as user_id,
    coalesce(e.local_date, a.local_date) as local_date,
    coalesce(e.measure, a.measure) as measure,
    e.value as expected,
    a.value as actual
from expected_per_mart e
full outer join actual a
  on a.mart = e.mart and a.user_id = e.user_id and a.local_date = e.local_date and a.measure = e.measure
-- A day a mart lacks counts as 0 (content_mix and coverage also hold days without plays).
where coalesce(e.value, 0) <> coalesce(a.value, 0)
