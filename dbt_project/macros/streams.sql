{#
  The stream contract: the columns every stream staging model contributes to the unified stream
  (int_streams_unioned). A staging model provides the columns it has; the union fills the rest with
  typed nulls. Adding a source (e.g. Spotify API plays) = one staging model + one entry in
  stream_models().
#}
{% macro stream_contract() -%}
  {{ return([
    ('source_table', 'text'), ('stream_source', 'text'), ('raw_id', 'bigint'), ('user_id', 'integer'),
    ('load_id', 'bigint'), ('loaded_at', 'timestamptz'), ('ended_at', 'timestamptz'),
    ('ms_played', 'bigint'), ('duration_ms', 'bigint'), ('content_type', 'text'),
    ('track_uri', 'text'), ('track_name', 'text'), ('artist_name', 'text'), ('album_name', 'text'),
    ('show_name', 'text'), ('episode_name', 'text'), ('episode_uri', 'text'),
    ('audiobook_title', 'text'), ('audiobook_uri', 'text'), ('chapter_title', 'text'),
    ('chapter_uri', 'text'), ('author_name', 'text'),
    ('platform', 'text'), ('conn_country', 'text'), ('reason_start', 'text'), ('reason_end', 'text'),
    ('shuffle', 'boolean'), ('skipped', 'boolean'), ('offline', 'boolean'), ('offline_at', 'timestamptz'),
    ('is_incognito', 'boolean'), ('is_video', 'boolean'), ('context_uri', 'text')
  ]) }}
{%- endmacro %}

{% macro stream_models() -%}
  {{ return([
    'stg_spotify__extended_streams',
    'stg_spotify__account_music_streams',
    'stg_spotify__account_podcast_streams',
    'stg_spotify__account_audiobook_streams',
    'stg_spotify__api_recently_played',
  ]) }}
{%- endmacro %}

{% macro union_streams() -%}
  {%- for model in stream_models() %}
    {%- set relation = ref(model) %}
    {%- set present = [] %}
    {%- if execute %}
      {%- for column in adapter.get_columns_in_relation(relation) %}
        {%- do present.append(column.name | lower) %}
      {%- endfor %}
    {%- endif %}
    select
      {%- for name, type in stream_contract() %}
      {% if name in present %}{{ name }}::{{ type }}{% else %}null::{{ type }}{% endif %} as {{ name }}{{ "," if not loop.last }}
      {%- endfor %}
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
  {%- endfor %}
{%- endmacro %}

{# Local wall-clock time of a timestamptz in an IANA zone (a timestamp without time zone). #}
{% macro local_time(ts, zone) -%}
  ({{ ts }} at time zone {{ zone }})
{%- endmacro %}

{# UTC calendar day of a timestamptz, independent of the session's TimeZone. #}
{% macro utc_day(ts) -%}
  (({{ ts }}) at time zone 'UTC')::date
{%- endmacro %}
