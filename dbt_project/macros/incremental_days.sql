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
  )
{%- endmacro %}

{% macro mart_watermark() -%}
  {%- set sql -%}
    select coalesce(max(consumed_batch_at), '-infinity'::timestamptz)::text
    from {{ watermark_table() }} where model = '{{ this.name }}'
  {%- endset -%}
  {%- set result = run_query(sql) if execute else none -%}
  {{- return(result.rows[0][0] if result else '-infinity') -}}
{%- endmacro %}

{% macro dirty_days_sql(watermark) -%}
  select distinct user_id, local_date, timezone
  from {{ ref('int_streams') }}
  where batch_at > '{{ watermark }}'::timestamptz
{%- endmacro %}

{# The int_streams rows a day-grain mart aggregates: all of them, or those of dirty days. #}
{% macro streams_to_aggregate() -%}
  {%- if is_incremental() -%}
    (
      select s.* from {{ ref('int_streams') }} s
      join ({{ dirty_days_sql(mart_watermark()) }}) d using (user_id, local_date)
    )
  {%- else -%}
    {{ ref('int_streams') }}
  {%- endif -%}
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

{# Config shared by every day-grain mart. #}
{% macro day_mart_config(indexes) -%}
  {{ return({
    'materialized': 'incremental',
    'incremental_strategy': 'append',
    'on_schema_change': 'fail',
    'pre_hook': ["{{ set_build_work_mem() }}", "{{ delete_dirty_days() }}"],
    'post_hook': ["{{ record_watermark() }}"],
    'indexes': indexes,
    'meta': {'batch_column': 'source_batch_at'},
  }) }}
{%- endmacro %}
