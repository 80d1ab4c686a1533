{#
  listening_catalog's incremental scopes. A build recomputes:

  * `all`   — every listener (a full refresh, or the catalog's first build);
  * `items` — only the items the rows of int_streams' latest batch name, now or before the batch
              rewrote them (int_streams.previous_*_name): every play that was added, dropped,
              re-flagged or moved to other names counts towards one of those items, so each of
              them is recounted from all of its plays and every other item is unchanged. Needs the
              catalog to have seen every int_streams batch but the latest (the log in
              macros/incremental_days.sql, which must reach back to the catalog's watermark), and
              that batch not to be a full refresh;
  * `users` — otherwise: every item of the listeners with new rows.

  The pre-hook deletes the rows the scope recomputes, the model appends them again: both read
  the same scope and the same item list (`catalog_changed_items`).
#}

{% macro catalog_scope() -%}
  {%- if not is_incremental() -%}
    {{- return('all') -}}
  {%- endif -%}
  {%- set batches, whole, logged = stream_batches_since_watermark() -%}
  {{- return('items' if logged and batches <= 1 and not whole else 'users') -}}
{%- endmacro %}

{# The users a build recomputes (all of them in `all`). #}
{% macro catalog_changed_users() -%}
  select distinct user_id from {{ ref('int_streams') }} where batch_at > '{{ mart_watermark() }}'::timestamptz
{%- endmacro %}

{# (user_id, item_type, item_name, artist_key) of every item the latest batch touched; artist_key is
   artist_name with '' for none, so the pre-hook's delete and the model's filters match alike. #}
{% macro catalog_changed_items() -%}
  select distinct s.user_id, v.item_type, v.item_name, coalesce(v.artist_name, '') as artist_key
  from {{ ref('int_streams') }} s
  cross join lateral (values
      ('track', s.track_name, s.artist_name),
      ('artist', s.artist_name, null),
      ('album', s.album_name, s.artist_name),
      ('show', coalesce(s.show_name, s.episode_name), null),
      ('track', s.previous_track_name, s.previous_artist_name),
      ('artist', s.previous_artist_name, null),
      ('album', s.previous_album_name, s.previous_artist_name)
  ) v (item_type, item_name, artist_name)
  where s.batch_at > '{{ mart_watermark() }}'::timestamptz and v.item_name is not null
{%- endmacro %}

{# pre-hook: delete what this build recomputes. #}
{% macro delete_recounted_catalog_rows() -%}
  {%- set scope = catalog_scope() -%}
  {%- if scope == 'items' -%}
    delete from {{ this }} c
    using ({{ catalog_changed_items() }}) i
    where c.user_id = i.user_id and c.item_type = i.item_type and c.item_name = i.item_name
      and coalesce(c.artist_name, '') = i.artist_key
  {%- elif scope == 'users' -%}
    delete from {{ this }} where user_id in ({{ catalog_changed_users() }})
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{# In scope `items`, a branch of the model keeps the rows of the touched items of its type only. #}
{% macro catalog_item_filter(scope, item_type, name_sql, artist_sql=none) -%}
  {%- if scope == 'items' %}
      and ({{ name_sql }}, {{ "coalesce(" ~ artist_sql ~ ", '')" if artist_sql else "''" }}) in (
          select item_name, artist_key from changed_items c
          where c.user_id = u.user_id and c.item_type = '{{ item_type }}'
      )
  {%- endif -%}
{%- endmacro %}
