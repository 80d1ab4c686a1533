{#
  None of `columns` is NULL in any row the test reads: one scan and one dbt node per model instead of
  one not_null test per column (a build after every poll runs every test, and dbt's cost per node is
  most of such a build). A failure has one row per column that holds NULLs, with how many.
#}
{% test not_null_columns(model, columns) %}

select nulls.column_name, nulls.null_rows
from (
    select
    {%- for column in columns %}
        count(*) filter (where {{ adapter.quote(column) }} is null) as {{ adapter.quote(column) }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
) counts
cross join lateral (values
    {%- for column in columns %}
    ('{{ column }}', counts.{{ adapter.quote(column) }}){{ "," if not loop.last }}
    {%- endfor %}
) nulls (column_name, null_rows)
where nulls.null_rows > 0

{% endtest %}
