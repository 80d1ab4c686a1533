{#
  Memory for the sorts and hashes of the heavy models (int_streams, the day-grain marts,
  listening_catalog) and their index builds: var build_work_mem, set for the model's own transaction
  only (`set local`), so tests and other sessions keep the server's default. int_streams works one
  user at a time, so this bounds one user's narrow rows, not everyone's: sized for ~1 M streams per
  user, it keeps the sorts in memory instead of temporary files (which cost 12 GB and an hour over
  10 M rows).
#}
{% macro set_build_work_mem() -%}
  set local work_mem = '{{ var("build_work_mem") }}';
  -- the same for the model's index builds (one sort of every row each, after a full build)
  set local maintenance_work_mem = '{{ var("build_work_mem") }}';
  -- one process per index build: parallel workers split maintenance_work_mem between them, and
  -- each spilled its share of a 10 M-row sort to disk (1.5 GB for int_streams' indexes)
  set local max_parallel_maintenance_workers = 0
{%- endmacro %}

{# Data tests get the same memory (tests run in a transaction that is rolled back): on a full build
   they aggregate every row (unique, unique_combination, the reconciliations), which at 10 M rows
   spilled gigabytes to temporary files with the server's 4 MB. #}
{% macro postgres__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) -%}
  {{ set_build_work_mem() }};
  {{ default__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) }}
{%- endmacro %}

{#
  post-hook of the big incremental models: fresh planner statistics when the build wrote many rows
  (a full build, a first import), for the models that read this one later in the same build. A
  build after a poll writes a few hundred rows: analyzing the whole table then cost more than the
  build's own SQL (1.2 s for int_streams at 1 M plays), and autovacuum's analyze follows anyway.
#}
{% macro analyze_after_many_rows(batch_column, rows=100000) -%}
  {%- if not is_incremental() -%}
    analyze {{ this }}
  {%- else -%}
    do $analyze$ begin
      if (select count(*) from (
            select 1 from {{ this }} where {{ batch_column }} = '{{ run_started_at }}'::timestamptz limit {{ rows }}
          ) written) >= {{ rows }} then
        execute 'analyze {{ this }}';
      end if;
    end $analyze$
  {%- endif -%}
{%- endmacro %}
