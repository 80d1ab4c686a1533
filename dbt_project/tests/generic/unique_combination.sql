{#
  The combination of `columns` is unique in the model. NULLs compare equal here (GROUP BY puts all
  NULLs of a column in one group), so a grain column that may be NULL (say, a day's plays of tracks
  without an artist name in top_artists) may still hold only one such row per grain.
#}
{% test unique_combination(model, columns) %}

select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
