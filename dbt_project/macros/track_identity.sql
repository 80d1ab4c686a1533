{#
  What "the same track" means in the track marts (var track_identity, docs: the track_identity
  block of models/_docs.md):
  * `song` (default): the same primary artist name and the same track title, exactly as Spotify
    writes them, across URIs, albums and sources. The key is the JSON array [artist, title]: the
    same text for the same names, and unambiguous whatever characters the names hold. A play
    without both names keeps its item_key.
  * `uri`: int_streams.item_key (the URI when known, else the names).
#}
{% macro track_key(artist_name='artist_name', track_name='track_name', item_key='item_key') -%}
  {%- set identity = var('track_identity') -%}
  {%- if identity == 'song' -%}
    case when {{ artist_name }} is not null and {{ track_name }} is not null
         then jsonb_build_array({{ artist_name }}, {{ track_name }})::text
         else {{ item_key }} end
  {%- elif identity == 'uri' -%}
    {{ item_key }}
  {%- else -%}
    {{ exceptions.raise_compiler_error("var track_identity must be 'song' or 'uri', not '" ~ identity ~ "'") }}
  {%- endif -%}
{%- endmacro %}
