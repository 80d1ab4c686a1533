{#
  album_totals' incremental scopes (the same three as listening_catalog's, macros/listening_catalog.sql):
  `all` on a full build, `items` when the build has one new int_streams batch (the albums its rows
  name now or named before it rewrote them: every play that was added, dropped, re-flagged or
  renamed counts towards one of them), `users` otherwise (every album of the listeners with new
  rows). An album key is (artist_name, album_name), both NULL for the plays without an album.
#}
{% macro touched_albums() -%}
  select distinct s.user_id, v.artist_name, v.album_name
  from {{ ref('int_streams') }} s
  cross join lateral (values
      (false, case when s.album_name is not null then s.artist_name end, s.album_name),
      (true, case when s.previous_album_name is not null then s.previous_artist_name end, s.previous_album_name)
  ) v (before, artist_name, album_name)
  -- the names before the batch only where it renamed the row (previous_* are NULL otherwise)
  where s.batch_at > '{{ mart_watermark() }}'::timestamptz and s.content_type = 'music'
    and (not v.before or s.renamed)
{%- endmacro %}

{# pre-hook: delete the rows this build recounts. #}
{% macro delete_recounted_albums() -%}
  {%- set scope = catalog_scope() -%}
  {%- if scope == 'items' -%}
    delete from {{ this }} t
    using ({{ touched_albums() }}) a
    where t.user_id = a.user_id
      and t.artist_name is not distinct from a.artist_name and t.album_name is not distinct from a.album_name
  {%- elif scope == 'users' -%}
    delete from {{ this }} where user_id in ({{ catalog_changed_users() }})
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{# pre-hook of the marts recomputed per listener: delete the rows of listeners with new rows. #}
{% macro delete_changed_users_rows() -%}
  {%- if is_incremental() -%}
    delete from {{ this }} where user_id in ({{ catalog_changed_users() }})
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{# skip_totals' songs to recount (the same scopes): the track_key of every music row of the batch,
   now and — where the batch renamed it — before. #}
{% macro touched_songs() -%}
  select distinct s.user_id, v.track_key
  from {{ ref('int_streams') }} s
  cross join lateral (values
      (false, {{ track_key() }}),
      (true, {{ track_key('s.previous_artist_name', 's.previous_track_name') }})
  ) v (before, track_key)
  where s.batch_at > '{{ mart_watermark() }}'::timestamptz and s.content_type = 'music'
    and (not v.before or s.renamed)
{%- endmacro %}

{% macro delete_recounted_songs() -%}
  {%- set scope = catalog_scope() -%}
  {%- if scope == 'items' -%}
    delete from {{ this }} t
    using ({{ touched_songs() }}) a
    where t.user_id = a.user_id and t.track_key = a.track_key
  {%- elif scope == 'users' -%}
    delete from {{ this }} where user_id in ({{ catalog_changed_users() }})
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}
