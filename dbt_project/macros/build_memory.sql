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
  set local maintenance_work_mem = '{{ var("build_work_mem") }}'
{%- endmacro %}

{# Data tests get the same memory (tests run in a transaction that is rolled back): on a full build
   they aggregate every row (unique, unique_combination, the reconciliations), which at 10 M rows
   spilled gigabytes to temporary files with the server's 4 MB. #}
{% macro postgres__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) -%}
  {{ set_build_work_mem() }};
  {{ default__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) }}
{%- endmacro %}
