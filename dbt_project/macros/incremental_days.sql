{#
  Incremental pattern of the day-grain marts. int_streams stamps every row it (re)writes with
  batch_at. Each mart records in intermediate.mart_watermarks the newest batch_at it has consumed
  (a post-hook, in the same transaction as the mart's insert). A local day is dirty for a mart
  when int_streams has rows for it newer than that watermark. The pre-hook deletes the mart's rows
  of dirty days (and every row of users whose time zone changed, since their days moved); the model
  then re-aggregates exactly those days. Days are whole units, so a group that disappeared (say,
  its only play turned out to be a duplicate) disappears from the mart too.
#}

{% macro watermark_table() -%}
  {{ adapter.quote(generate_schema_name('intermediate', none)) }}.mart_watermarks
{%- endmacro %}

{# on-run-start: the table the watermarks live in. #}
{% macro create_watermark_table() -%}
  create schema if not exists {{ adapter.quote(generate_schema_name('intermediate', none)) }};
  create table if not exists {{ watermark_table() }} (
      model text primary key,
      consumed_batch_at timestamptz not null,
      updated_at timestamptz not null default now()
  );
  create table if not exists {{ stream_batches_table() }} (
      batch_at timestamptz primary key,
      whole boolean not null
  )
{%- endmacro %}

{#
  Every build of int_streams, in order: its batch_at and whether it was a full refresh (`whole`: no
  row's previous names are known). A consumer that has seen every batch but the latest can work
  from the latest batch's rows alone (listening_catalog's per-item path); one that missed a batch
  (its build failed, or it was not selected) cannot: the rows of the missed batch may have been
  rewritten again since.
#}
{% macro stream_batches_table() -%}
  {{ adapter.quote(generate_schema_name('intermediate', none)) }}.stream_batches
{%- endmacro %}

{# post-hook of int_streams: log this build's batch; entries every consumer has seen are dropped. #}
{% macro record_stream_batch() -%}
  insert into {{ stream_batches_table() }} (batch_at, whole)
  select batch_at, {{ 'false' if is_incremental() else 'true' }}
  from {{ this }} where batch_at = '{{ run_started_at }}'::timestamptz
  limit 1  -- a build that wrote no row made no batch (consumers' watermarks never reach it)
  on conflict (batch_at) do nothing;
  delete from {{ stream_batches_table() }}
  where batch_at < (select min(consumed_batch_at) from {{ watermark_table() }})
{%- endmacro %}

{# The int_streams batches newer than this model's watermark: how many, whether one was whole, and
   whether the log reaches back to the watermark (it does not before the log's first entry). #}
{% macro stream_batches_since_watermark() -%}
  {%- set sql -%}
    select count(*) filter (where batch_at > w.at),
           coalesce(bool_or(whole) filter (where batch_at > w.at), false),
           coalesce(bool_or(batch_at = w.at), false)
    from {{ stream_batches_table() }}
    -- the watermark in the same query (mart_watermark() would be a second round trip)
    cross join (select {{ watermark_sql() }} as at) w
  {%- endset -%}
  {%- set result = run_query(sql) if execute else none -%}
  {{- return(result.rows[0] if result else (0, true, false)) -}}
{%- endmacro %}

{# This model's watermark as a scalar subquery (-infinity before its first build). #}
{% macro watermark_sql() -%}
  (select coalesce(max(consumed_batch_at), '-infinity'::timestamptz)
   from {{ watermark_table() }} where model = '{{ this.name }}')
{%- endmacro %}

{% macro mart_watermark() -%}
  {%- set sql -%}
    select {{ watermark_sql() }}::text
  {%- endset -%}
  {%- set result = run_query(sql) if execute else none -%}
  {{- return(result.rows[0][0] if result else '-infinity') -}}
{%- endmacro %}

{% macro dirty_days_sql(watermark) -%}
  select distinct user_id, local_date, timezone
  from {{ ref('int_streams') }}
  where batch_at > '{{ watermark }}'::timestamptz
{%- endmacro %}

{# The int_streams rows a day-grain mart aggregates: those of dirty days, or (a full build, inside
   day_rows_by_user) every row of listener `u`. #}
{% macro streams_to_aggregate() -%}
  {%- if is_incremental() -%}
    (
      select s.* from {{ ref('int_streams') }} s
      join ({{ dirty_days_sql(mart_watermark()) }}) d using (user_id, local_date)
    )
  {%- else -%}
    (select * from {{ ref('int_streams') }} where user_id = u.user_id)
  {%- endif -%}
{%- endmacro %}

{#
  Wraps a day-grain mart's aggregation (`{% call day_rows_by_user() %} select … group by … {% endcall %}`)
  and stores its rows in (user_id, local_date) order: a window the API reads (one user, a range of
  days) is then a few adjacent pages instead of one page per row. A full build aggregates one
  listener at a time (a lateral per user, as int_streams does), so each hash and sort holds one
  listener's rows: over all listeners at once the day rows of 10 M plays spilled 4 GB to disk.
#}
{% macro day_rows_by_user() -%}
  {%- if is_incremental() %}
{{ caller() }}
order by user_id, local_date
  {%- else %}
select day_rows.*
from (select user_id from {{ ref('stg_app__users') }} order by user_id) u
cross join lateral (
{{ caller() }}
order by local_date
) day_rows
  {%- endif %}
{%- endmacro %}

{# One pre-hook, one watermark: delete rows of moved users, then rows of dirty days. #}
{% macro delete_dirty_days() -%}
  {%- if is_incremental() -%}
    {%- set watermark = mart_watermark() -%}
    delete from {{ this }} m
    using (select distinct user_id, timezone from ({{ dirty_days_sql(watermark) }}) x) d
    where m.user_id = d.user_id
      and (select timezone from {{ this }} one where one.user_id = d.user_id limit 1) <> d.timezone;
    delete from {{ this }} m
    using (select distinct user_id, local_date from ({{ dirty_days_sql(watermark) }}) x) d
    where m.user_id = d.user_id and m.local_date = d.local_date
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{% macro record_watermark() -%}
  insert into {{ watermark_table() }} (model, consumed_batch_at)
  select '{{ this.name }}', coalesce(max(batch_at), '-infinity'::timestamptz) from {{ ref('int_streams') }}
  on conflict (model) do update set consumed_batch_at = excluded.consumed_batch_at, updated_at = now()
{%- endmacro %}

{# Config shared by every day-grain mart. Its indexes are also made by a post-hook when the table lacks
   one (config indexes are made only when a table is created: an index added later reaches tables
   built before it this way). #}
{% macro day_mart_config(indexes) -%}
  {%- set ensure = [] -%}
  {%- for index in indexes -%}
    {%- do ensure.append("{{ ensure_index('" ~ (index['columns'] | join(', ')) ~ "') }}") -%}
  {%- endfor -%}
  {{ return({
    'materialized': 'incremental',
    'incremental_strategy': 'append',
    'on_schema_change': 'fail',
    'pre_hook': ["{{ set_build_work_mem() }}", "{{ delete_dirty_days() }}"],
    'post_hook': ["{{ record_watermark() }}"] + ensure,
    'indexes': indexes,
    'meta': {'batch_column': 'source_batch_at'},
  }) }}
{%- endmacro %}
