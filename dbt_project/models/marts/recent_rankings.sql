-- The rankings of the default windows, stored: per user, the last 90 and the last 365 local days
-- ending today (as of the build, in the listener's zone) and ending tomorrow (so the answers
-- survive a midnight without a build), each ranking's first 50 rows as the window functions of
-- macros/window_rankings.sql return them, plus one marker row (rank 0) per window and ranking so an
-- empty window is stored too. The API answers such a window from here (an index lookup) and any
-- other window from the functions themselves: the same rows either way.
--
-- Incremental per user: a build recomputes the users with new int_streams rows since the last one
-- (the watermark of the day-grain marts) and the users whose local date moved since (their windows
-- did); every other user's rows stay.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['user_id'],
    on_schema_change='fail',
    pre_hook=["{{ set_build_work_mem() }}"],
    post_hook=["{{ record_watermark() }}"],
    indexes=[{'columns': ['user_id', 'window_start', 'window_end', 'ranking', 'rank']}],
) }}
-- The functions read these marts, so they are built first.
-- depends_on: {{ ref('top_artists') }}
-- depends_on: {{ ref('top_tracks') }}
-- depends_on: {{ ref('repeat_rate') }}
-- depends_on: {{ ref('album_plays') }}
-- depends_on: {{ ref('stream_skips') }}

{%- set rankings = window_rankings() %}

with today as (
    select user_id, ('{{ run_started_at }}'::timestamptz at time zone timezone)::date as as_of
    from {{ ref('stg_app__users') }}
),

{% if is_incremental() %}
changed as (
    select t.user_id from today t
    where not exists (select 1 from {{ this }} r where r.user_id = t.user_id and r.as_of = t.as_of)
    union
    select distinct user_id from {{ ref('int_streams') }} where batch_at > '{{ mart_watermark() }}'::timestamptz
),
{% endif %}

windows as (
    select t.user_id, t.as_of, t.as_of + e.ahead - d.days + 1 as window_start, t.as_of + e.ahead as window_end
    from today t
    cross join (values (90), (365)) d (days)
    cross join (values (0), (1)) e (ahead)
    {%- if is_incremental() %}
    where t.user_id in (select user_id from changed)
    {%- endif %}
)

-- A function may return a rank-0 row of the window's totals (window_top_albums does): it is then
-- the window's marker row; the other rankings get an empty one.
, ranked as (
{%- for ranking, function in rankings.items() %}
select w.user_id, w.as_of, w.window_start, w.window_end, '{{ ranking }}' as ranking, r.rank, to_jsonb(r) - 'rank' as item
from windows w
cross join lateral {{ adapter.quote(generate_schema_name('marts', none)) }}.{{ function }}(
    w.user_id, w.window_start, w.window_end, 50
) r
{% if not loop.last %}union all{% endif %}
{%- endfor %}
)

select * from ranked
union all
select w.user_id, w.as_of, w.window_start, w.window_end, k.ranking, 0::bigint, null::jsonb
from windows w
cross join (values {% for ranking in rankings %}('{{ ranking }}'){{ "," if not loop.last }}{% endfor %}) k (ranking)
where not exists (
    select 1 from ranked r
    where r.user_id = w.user_id and r.window_start = w.window_start and r.window_end = w.window_end
      and r.ranking = k.ranking and r.rank = 0
)
