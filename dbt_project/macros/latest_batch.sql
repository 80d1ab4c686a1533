{#
  Tests check what the last build wrote. int_streams stamps the rows it (re)writes with batch_at,
  the day-grain marts with source_batch_at; a full refresh stamps every row alike, so it tests
  everything, and an incremental build after a poll tests its few new days instead of scanning
  years of history again (at 1 M plays, full-table tests took ~20 s per build). Uniqueness across
  batches is enforced by the tables' unique indexes, not by tests.
#}

{% macro batch_column(relation) -%}
  {%- set columns = {
      'int_streams': 'batch_at',
      'top_artists': 'source_batch_at', 'top_tracks': 'source_batch_at',
      'listening_heatmap': 'source_batch_at', 'coverage': 'source_batch_at',
      'content_mix': 'source_batch_at', 'top_shows': 'source_batch_at',
      'top_audiobooks': 'source_batch_at',
      'listening_catalog': 'built_at',
  } -%}
  {{- return(columns.get(relation.identifier) if relation.identifier is defined else none) -}}
{%- endmacro %}

{# The rows of `relation` written by its latest build, as a subquery (relation unchanged if unstamped). #}
{% macro latest_batch(relation, alias='latest_batch') -%}
  {%- set column = batch_column(relation) -%}
  {%- if column -%}
    (select * from {{ relation }} where {{ column }} >= (select max({{ column }}) from {{ relation }})) {{ alias }}
  {%- else -%}
    {{ relation }}
  {%- endif -%}
{%- endmacro %}

{# Generic tests (not_null, accepted_values, …) read their model through this: latest batch only. #}
{% macro get_where_subquery(relation) -%}
  {%- set where = config.get('where', '') -%}
  {%- set column = batch_column(relation) -%}
  {%- if column and where -%}
    {%- do return('(select * from ' ~ relation ~ ' where (' ~ where ~ ') and ' ~ column ~ ' >= (select max('
                  ~ column ~ ') from ' ~ relation ~ ')) dbt_subquery') -%}
  {%- elif column -%}
    {%- do return(latest_batch(relation, 'dbt_subquery')) -%}
  {%- elif where -%}
    {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
  {%- else -%}
    {%- do return(relation) -%}
  {%- endif -%}
{%- endmacro %}
