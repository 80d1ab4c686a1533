{#
  Incremental pattern of the day-grain marts. int_streams stamps every row it (re)writes with
  batch_at; a mart row remembers the newest batch it was built from (source_batch_at). A local day
  is dirty for a mart when int_streams has rows for it newer than the mart's watermark. The pre-hook
  deletes the mart's rows of dirty days (and all rows of users whose time zone changed, since their
  days moved); the model then re-aggregates exactly those days. Days are whole units, so a group
  that disappeared (say, its only play turned out to be a duplicate) disappears from the mart too.
#}

{% macro mart_watermark() -%}
  {%- set sql -%}
    select coalesce(max(source_batch_at), '-infinity'::timestamptz)::text from {{ this }}
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

{% macro delete_dirty_days() -%}
  {%- if is_incremental() -%}
    delete from {{ this }} m
    using (select distinct user_id, local_date from ({{ dirty_days_sql(mart_watermark()) }}) x) d
    where m.user_id = d.user_id and m.local_date = d.local_date
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{# A user whose time zone changed has all days moved: drop all their rows (one row tells). #}
{% macro delete_moved_users() -%}
  {%- if is_incremental() -%}
    delete from {{ this }} m
    using (select distinct user_id, timezone from ({{ dirty_days_sql(mart_watermark()) }}) x) d
    where m.user_id = d.user_id
      and (select timezone from {{ this }} one where one.user_id = d.user_id limit 1) <> d.timezone
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{# Config shared by every day-grain mart. #}
{% macro day_mart_config(indexes) -%}
  {{ return({
    'materialized': 'incremental',
    'incremental_strategy': 'append',
    'on_schema_change': 'fail',
    'pre_hook': ["{{ delete_moved_users() }}", "{{ delete_dirty_days() }}"],
    'indexes': indexes,
  }) }}
{%- endmacro %}
