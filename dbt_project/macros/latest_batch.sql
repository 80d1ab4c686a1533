{#
  Tests check what the build writes, not years of history again (at 1 M plays, full-table tests took
  ~20 s per build). A model says in its config which rows its tests read (`meta`):

  * `batch_column: <column>` — the rows its latest build (re)wrote: int_streams stamps them with
    batch_at, the day-grain marts with source_batch_at, listening_catalog with built_at. A full
    refresh stamps every row alike, so it tests everything.
  * `test_new_raw_rows: true` — the stream staging views and int_streams_unioned: the raw rows this
    build brings in, i.e. per user and source table those above the highest raw_id int_streams holds
    (what int_streams' incremental run reads as new). Their tests run before int_streams in a
    `dbt build`, so they see exactly the rows about to be processed. Every row is tested on a full
    refresh and before int_streams first exists. (Users are never deleted; a raw row of a user_id
    missing from app.users, which the relationships tests look for, is found by a full refresh.)

  Uniqueness across batches is enforced by the tables' unique indexes (and the raw tables' primary
  keys), not by tests.
#}

{# The config `meta` of the model behind `relation` (empty for sources, seeds, unknown relations). #}
{% macro tested_model_meta(relation) -%}
  {%- if execute and relation.identifier is defined -%}
    {#- A model's relation is named after the model here (no aliases): one lookup, not a scan of the
        graph for each of the ~300 tests of a build. -#}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ relation.identifier) -%}
    {%- if node and node.schema == relation.schema -%}
      {{- return(node.config.meta or {}) -}}
    {%- endif -%}
  {%- endif -%}
  {{- return({}) -}}
{%- endmacro %}

{% macro batch_column(relation) -%}
  {{- return(tested_model_meta(relation).get('batch_column')) -}}
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

{# A model (name) or source (source_name.table) of this project as a relation, found through the
   graph rather than ref() or source(): a test on a staging view does not depend on int_streams. #}
{% macro graph_relation(resource_type, name) -%}
  {%- if resource_type == 'source' -%}
    {%- set node = graph.sources.get('source.' ~ project_name ~ '.' ~ name) -%}
    {{- return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.identifier)) -}}
  {%- else -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ name) -%}
    {{- return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias)) -}}
  {%- endif -%}
{%- endmacro %}

{# int_streams as a relation, if it exists (none before its first build). #}
{% macro built_int_streams() -%}
  {%- set relation = graph_relation('model', 'int_streams') -%}
  {{- return(adapter.get_relation(relation.database, relation.schema, relation.identifier)) -}}
{%- endmacro %}

{# The rows of a stream relation (columns user_id, source_table, raw_id) that int_streams has not
   processed yet, as a subquery; every row on a full refresh or before int_streams exists. Index
   range reads per user and source table (the raw tables' (user_id, raw_id) indexes, int_streams'
   (user_id, source_table, raw_id) index), never a scan of every row. #}
{% macro new_raw_rows(relation, alias, where=none) -%}
  {%- set streams = built_int_streams() if execute else none -%}
  {%- set condition = ('(' ~ where ~ ')') if where else 'true' -%}
  {%- if streams is none or flags.FULL_REFRESH -%}
    (select * from {{ relation }} where {{ condition }}) {{ alias }}
  {%- else -%}
    (
      select m.*
      from {{ graph_relation('source', 'app.users') }} u
      cross join (values
        {%- for model in stream_models() %}
        ('{{ model.replace("stg_spotify__", "") }}'){{ "," if not loop.last }}
        {%- endfor %}
      ) t (source_table)
      cross join lateral (
          select coalesce(max(raw_id), 0) as max_raw_id from {{ streams }} s
          where s.user_id = u.user_id and s.source_table = t.source_table
      ) w
      cross join lateral (
          select * from {{ relation }} r
          where r.user_id = u.user_id and r.source_table = t.source_table and r.raw_id > w.max_raw_id
          offset 0  -- keeps the planner from flattening the lateral into a join over every row
      ) m
      where {{ condition }}
    ) {{ alias }}
  {%- endif -%}
{%- endmacro %}

{# Generic tests (row_rules, unique_combination, …) read their model through this: the rows the model's
   `meta` names (see above), with the test's own `where` config applied. #}
{% macro get_where_subquery(relation) -%}
  {%- set where = config.get('where', '') -%}
  {%- set meta = tested_model_meta(relation) -%}
  {%- set column = meta.get('batch_column') -%}
  {%- if meta.get('test_new_raw_rows') -%}
    {%- do return(new_raw_rows(relation, 'dbt_subquery', where)) -%}
  {%- elif column and where -%}
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

{# The rows of a day-grain relation (int_streams or a day-grain mart) on the days of `days` (a CTE of
   user_id, local_date), as a subquery. After an incremental build those are a few days, but the
   planner cannot know it (it guesses a third of the table for the latest batch) and hash-joins a scan
   of every row: so each day is read by the (user_id, local_date) index. A full refresh tests every
   day, where one scan is cheaper. #}
{% macro rows_on_days(relation, alias, days='days') -%}
  {%- if flags.FULL_REFRESH -%}
    (select m.* from {{ relation }} m join {{ days }} d using (user_id, local_date)) {{ alias }}
  {%- else -%}
    (
      select m.*
      from {{ days }} d
      cross join lateral (
          select * from {{ relation }} r
          where r.user_id = d.user_id and r.local_date = d.local_date
          offset 0  -- keeps the planner from flattening the lateral into a join over every row
      ) m
    ) {{ alias }}
  {%- endif -%}
{%- endmacro %}
