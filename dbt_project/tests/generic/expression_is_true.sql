{#
  A boolean SQL expression over the model's columns holds for every row; the failing rows are those
  where it is false or NULL (use `coalesce` or `is distinct from` for nullable columns). Usable on a
  model or on a column (the column is only where the test is listed; the expression names it).
#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not coalesce(({{ expression }}), false)

{% endtest %}
