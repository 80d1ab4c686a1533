{# The skip rules (domain.md §3b), one definition for stream_skips and stream_reasons. #}

{# The streams skips are counted over: music of any length, not private, after dedup. #}
{% macro skip_stream() -%}
  (not is_duplicate and content_type = 'music' and not is_incognito)
{%- endmacro %}

{# Whether a stream's skip is known: an extended-format row with `skipped` or `reason_end`. #}
{% macro skip_known() -%}
  (stream_source = 'extended' and (skipped is not null or reason_end is not null))
{%- endmacro %}

{% macro is_skipped() -%}
  ({{ skip_known() }} and coalesce(skipped, reason_end = 'fwdbtn'))
{%- endmacro %}
