{#
  listening_sessions' incremental rule. A session ends where the gap from a play's end to the next
  play's start exceeds session_gap_minutes, so a session that ended more than one gap before the
  earliest start among a build's new int_streams rows cannot change: the next play after it starts
  later still, whatever the batch added, dropped or re-flagged. The pre-hook deletes every other
  session of the listeners with new rows; the model recomputes their plays after the last kept
  session. A build after a poll recomputes the last session or two; an import of old plays
  recomputes from where they start.
#}
{% macro session_gap() -%}
  interval '{{ var("session_gap_minutes") | int }} minutes'
{%- endmacro %}

{# The start of a play: its end minus the time listened (API-only plays: the estimated duration). #}
{% macro play_start(ended_at='ended_at', ms='ms_listened') -%}
  ({{ ended_at }} - {{ ms }} * interval '1 millisecond')
{%- endmacro %}

{# pre-hook: delete the sessions a build recomputes. #}
{% macro delete_reopened_sessions() -%}
  {%- if is_incremental() -%}
    delete from {{ this }} t
    using (
        select user_id, min({{ play_start() }}) as earliest_change
        from {{ ref('int_streams') }}
        where batch_at > '{{ mart_watermark() }}'::timestamptz and content_type = 'music'
        group by user_id
    ) c
    where t.user_id = c.user_id and t.session_end >= c.earliest_change - {{ session_gap() }}
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}
