-- One row per user: status and time zone, the last import and its counts, and per source the
-- time span and number of streams. Rebuilt whole (one row per user, read from small marts).
with users as (
    select * from {{ ref('stg_app__users') }}
),

last_import as (
    select distinct on (user_id) *
    from {{ ref('stg_app__imports') }}
    order by user_id, started_at desc, import_id desc
),

import_counts as (
    select
        user_id,
        count(*) filter (where status = 'succeeded') as imports_succeeded,
        count(*) filter (where status = 'failed') as imports_failed
    from {{ ref('stg_app__imports') }}
    group by user_id
),

by_source as (
    select
        user_id,
        source,
        sum(streams) as streams,
        sum(plays) as plays,
        min(first_stream_at) as first_stream_at,
        max(last_stream_at) as last_stream_at,
        count(*) as days_with_streams
    from {{ ref('coverage') }}
    group by user_id, source
),

pivoted as (
    select
        user_id,
        {%- for source in ['extended', 'account', 'api'] %}
        sum(streams) filter (where source = '{{ source }}') as {{ source }}_streams,
        min(first_stream_at) filter (where source = '{{ source }}') as {{ source }}_first_stream_at,
        max(last_stream_at) filter (where source = '{{ source }}') as {{ source }}_last_stream_at,
        {%- endfor %}
        sum(plays) as plays,
        min(first_stream_at) as first_stream_at,
        max(last_stream_at) as last_stream_at
    from by_source
    group by user_id
)

select
    u.user_id,
    u.user_name,
    u.status,
    u.timezone,
    u.spotify_user_id is not null as spotify_linked,
    u.spotify_display_name,
    coalesce(p.plays, 0) as plays,
    p.first_stream_at,
    p.last_stream_at,
    {%- for source in ['extended', 'account', 'api'] %}
    coalesce(p.{{ source }}_streams, 0) as {{ source }}_streams,
    p.{{ source }}_first_stream_at,
    p.{{ source }}_last_stream_at,
    {%- endfor %}
    coalesce(c.imports_succeeded, 0) as imports_succeeded,
    coalesce(c.imports_failed, 0) as imports_failed,
    li.import_id as last_import_id,
    li.source_name as last_import_source,
    li.status as last_import_status,
    li.started_at as last_import_started_at,
    li.finished_at as last_import_finished_at,
    li.records as last_import_records,
    li.inserted as last_import_inserted,
    li.duplicates as last_import_duplicates,
    li.error as last_import_error
from users u
left join pivoted p using (user_id)
left join import_counts c using (user_id)
left join last_import li using (user_id)
