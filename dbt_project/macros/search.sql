{#
  The search key of history.search: one fold, defined once as a SQL function in the marts schema, so
  the catalog (listening_catalog.search_key) and the API's query (which reads only marts) fold alike.
  Case- and accent-insensitive: Latin letters with diacritics become their base letter (translate,
  plus ß→ss, æ→ae, œ→oe, þ→th), then lower case; punctuation and spaces become one space. The embedded
  Postgres ships neither `unaccent` nor `pg_trgm`, so neither is used (same answers on every server).
  Created on every run (on-run-start); changing it needs `spotify-history refresh --full-refresh`.
#}
{% macro search_fold_sql(text) -%}
  btrim(regexp_replace(
    lower(replace(replace(replace(replace(replace(replace(replace(replace(translate({{ text }},
      'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳØøŁłĐđĦħıŦŧÐð',
      'aaaaaaceeeeiiiinooooouuuuyaaaaaaceeeeiiiinooooouuuuyyaaaaaaccccccccddeeeeeeeeeegggggggghhiiiiiiiiijjkkllllllnnnnnnoooooorrrrrrssssssssttttuuuuuuuuuuuuwwyyyzzzzzzoouuaaiioouuuuuuuuuuaaaaggkkoooojggnnaaaaaaeeeeiiiioooorrrruuuusstthhaaeeooooooooyyoollddhhittdd'),
      'ß', 'ss'), 'Æ', 'ae'), 'æ', 'ae'), 'Œ', 'oe'), 'œ', 'oe'), 'Þ', 'th'), 'þ', 'th'), 'ẞ', 'ss')),
    '[[:space:][:punct:]’‘“”„–—…·•¡¿]+', ' ', 'g'))
{%- endmacro %}

{% macro search_fold_function() -%}
  create schema if not exists {{ adapter.quote(generate_schema_name('marts', none)) }};
  create or replace function {{ adapter.quote(generate_schema_name('marts', none)) }}.search_fold(text)
  returns text language sql immutable strict parallel safe
  as $fold$ select {{ search_fold_sql('$1') }} $fold$
{%- endmacro %}

{#
  The terms a catalog row is found by: every prefix (1 to 15 characters) of every word of its search
  text, plus '#<user_id>', so that one GIN index answers "this user's items with a word starting with
  each query word" (a word of the fold never contains '#'). A function, indexed as an expression
  (listening_catalog), not a stored column: the rows stay narrow, which is what a search that reads
  thousands of them pays for. The API builds the same array from the query (words cut to 15
  characters) and checks longer words against the text itself.
#}
{% macro search_terms_function() -%}
  create or replace function {{ adapter.quote(generate_schema_name('marts', none)) }}.search_terms(integer, text)
  returns text[] language sql immutable strict parallel safe
  as $terms$
    select array['#' || $1::text] || array(
      select distinct left(w, n)
      from unnest(string_to_array($2, ' ')) as w
      cross join generate_series(1, least(length(w), 15)) as n
      where w <> ''
    )
  $terms$
{%- endmacro %}

{# Calls of the functions (the catalog is keyed by the very functions the API's query uses). #}
{% macro search_fold(text) -%}
  {{ adapter.quote(generate_schema_name('marts', none)) }}.search_fold({{ text }})
{%- endmacro %}

{% macro search_terms(user_id, text) -%}
  {{ adapter.quote(generate_schema_name('marts', none)) }}.search_terms({{ user_id }}, {{ text }})
{%- endmacro %}

{# An index made by a post-hook when the table lacks it: config indexes are made only when a table
   is created, so tables built before an index was added get it this way too. `columns` is the
   index's column list as pg_get_indexdef prints it (how its presence is checked). #}
{% macro ensure_index(columns) -%}
  do $ensure$ begin
    if not exists (
        select 1 from pg_index i
        where i.indrelid = to_regclass(quote_ident('{{ this.schema }}') || '.' || quote_ident('{{ this.identifier }}'))
          and pg_get_indexdef(i.indexrelid) like '%({{ columns | replace("'", "''") }})'
    ) then
        create index on {{ this }} ({{ columns }});
    end if;
  end $ensure$
{%- endmacro %}

{# The name index of history.search's first tiers (names equal to or starting with the query). #}
{% macro ensure_search_name_index() -%}
  {{ ensure_index('user_id, search_key COLLATE "C"') }}
{%- endmacro %}
