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
