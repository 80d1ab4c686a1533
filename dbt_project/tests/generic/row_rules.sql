{#
  Every row the test reads keeps the model's row rules: none of the `not_null` columns is NULL, and
  each of `checks` (rule name: boolean SQL expression over the row) is true — false or NULL fails it,
  so a nullable column's rule says what NULL means (`x is null or x in (…)`). One scan and one dbt
  node per model, instead of a not_null, accepted_values, between or expression test per column:
  a build after every poll runs every test, and dbt's own cost per node (≈ 30 ms of Python) was
  most of such a build. A failure returns one row per broken rule, with how many rows break it.
#}
{% test row_rules(model, not_null=[], checks={}) %}
{%- set rules = [] -%}
{%- for column in not_null -%}
  {%- do rules.append(('not_null ' ~ column, adapter.quote(column) ~ ' is not null')) -%}
{%- endfor -%}
{%- for name, expression in checks.items() -%}
  {%- do rules.append((name, expression)) -%}
{%- endfor %}

select broken.rule, broken.failing_rows
from (
    select
    {%- for name, expression in rules %}
        count(*) filter (where not coalesce(({{ expression }}), false)) as rule_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
) counts
cross join lateral (values
    {%- for name, expression in rules %}
    ('{{ name }}', counts.rule_{{ loop.index }}){{ "," if not loop.last }}
    {%- endfor %}
) broken (rule, failing_rows)
where broken.failing_rows > 0

{% endtest %}
