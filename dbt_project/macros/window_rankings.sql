{#
  The rankings of a window (history.top_artists, history.top_tracks, history.repeat_rate and the
  lists of history.taste_summary), defined once as SQL functions in the marts schema: the API calls
  them for any window, and the recent_rankings mart stores their answers for the default windows
  (the last 90 and 365 days), so the first answer after a build is an index lookup instead of an
  aggregation of tens of thousands of day rows.

  Each returns the window's ranked rows (rank 1 first, at most p_limit) with the window's totals on
  every row. Ties are broken by codepoint order (`collate "C"`), so a ranking does not depend on the
  server's locale. plpgsql, not sql: its body is checked when called, not when created, so
  on-run-start can create it before the marts exist (the first build).
  Created on every run (on-run-start).
#}
{% macro window_rankings_functions() -%}
  {%- set marts = adapter.quote(generate_schema_name('marts', none)) -%}
  create schema if not exists {{ marts }};

  create or replace function {{ marts }}.window_top_artists(p_user_id integer, p_start date, p_end date, p_limit integer)
  returns table (rank bigint, artist_name text, plays bigint, ms bigint, total_plays bigint, total_ms bigint,
                 artists bigint)
  language plpgsql stable
  as $body$
  #variable_conflict use_column
  begin
    return query
    with w as (
        select a.artist_name, sum(a.plays)::bigint as plays, sum(a.ms_played)::bigint as ms
        from {{ marts }}.top_artists a
        where a.user_id = p_user_id and a.local_date between p_start and p_end
        group by a.artist_name
    )
    select row_number() over ranked, w.artist_name, w.plays, w.ms,
           (sum(w.plays) over ())::bigint, (sum(w.ms) over ())::bigint, count(*) over ()
    from w
    window ranked as (order by w.plays desc, w.ms desc, w.artist_name collate "C" nulls last)
    order by 1
    limit p_limit;
  end
  $body$;

  {#- A track is a track_key (a song by default: dbt var track_identity); the mart has a row per day
      and release, so the window is summed per release first, then per track: the most played release
      (known URIs before unknown; then minutes, then URI) names the track's URI and album, and
      `releases` counts its distinct URIs in the window. #}
  create or replace function {{ marts }}.window_top_tracks(p_user_id integer, p_start date, p_end date, p_limit integer)
  returns table (rank bigint, track_key text, track_name text, artist_name text, track_uri text, album_name text,
                 releases bigint, plays bigint, ms bigint, total_plays bigint, tracks bigint)
  language plpgsql stable
  as $body$
  #variable_conflict use_column
  begin
    return query
    with per_release as (
        select t.track_key, t.track_uri, max(t.track_name) as track_name, max(t.artist_name) as artist_name,
               max(t.album_name) as album_name, sum(t.plays)::bigint as plays, sum(t.ms_played)::bigint as ms
        from {{ marts }}.top_tracks t
        where t.user_id = p_user_id and t.local_date between p_start and p_end
        group by t.track_key, t.track_uri
    ),
    w as (
        select r.track_key, max(r.track_name) as track_name, max(r.artist_name) as artist_name,
               (array_agg(r.track_uri order by r.track_uri is null, r.plays desc, r.ms desc, r.track_uri collate "C"))[1]
                   as track_uri,
               (array_agg(r.album_name order by r.album_name is null, r.plays desc, r.ms desc,
                          r.track_uri collate "C"))[1] as album_name,
               count(r.track_uri) as releases, sum(r.plays)::bigint as plays, sum(r.ms)::bigint as ms
        from per_release r
        group by r.track_key
    )
    select row_number() over ranked, w.track_key, w.track_name, w.artist_name, w.track_uri, w.album_name,
           w.releases, w.plays, w.ms, (sum(w.plays) over ())::bigint, count(*) over ()
    from w
    window ranked as (order by w.plays desc, w.ms desc, w.track_name collate "C" nulls last,
                      w.artist_name collate "C" nulls last, w.track_key collate "C")
    order by 1
    limit p_limit;
  end
  $body$;

  {#- Repeat rate = 1 - unique tracks / plays; the totals ride along on every row (window functions
      run before LIMIT), so one call gives both the rate and the most repeated tracks. #}
  create or replace function {{ marts }}.window_repeat_rate(p_user_id integer, p_start date, p_end date, p_limit integer)
  returns table (rank bigint, track_key text, track_name text, artist_name text, plays bigint, total_plays bigint,
                 unique_tracks bigint, repeated_tracks bigint)
  language plpgsql stable
  as $body$
  #variable_conflict use_column
  begin
    return query
    with w as (
        select r.track_key, max(r.track_name) as track_name, max(r.artist_name) as artist_name,
               sum(r.plays)::bigint as plays
        from {{ marts }}.repeat_rate r
        where r.user_id = p_user_id and r.local_date between p_start and p_end
        group by r.track_key
    )
    select row_number() over ranked, w.track_key, w.track_name, w.artist_name, w.plays,
           (sum(w.plays) over ())::bigint, count(*) over (), count(*) filter (where w.plays > 1) over ()
    from w
    window ranked as (order by w.plays desc, w.track_name collate "C" nulls last, w.artist_name collate "C" nulls last,
                      w.track_key collate "C")
    order by 1
    limit p_limit;
  end
  $body$;

  {#- Albums (marts.album_plays: a row per day, album and song). Rank 0 is the window's totals row
      (album NULL): total plays, the plays without an album and the number of albums ride on it, so
      a window without any album still answers how many plays it holds. #}
  create or replace function {{ marts }}.window_top_albums(p_user_id integer, p_start date, p_end date, p_limit integer)
  returns table (rank bigint, artist_name text, album_name text, plays bigint, ms bigint, songs bigint,
                 total_plays bigint, plays_without_album bigint, albums bigint)
  language plpgsql stable
  as $body$
  #variable_conflict use_column
  begin
    return query
    with d as (
        select a.artist_name, a.album_name, a.track_key, sum(a.plays)::bigint as plays, sum(a.ms_played)::bigint as ms
        from {{ marts }}.album_plays a
        where a.user_id = p_user_id and a.local_date between p_start and p_end
        group by a.artist_name, a.album_name, a.track_key
    ),
    w as (
        select d.artist_name, d.album_name, sum(d.plays)::bigint as plays, sum(d.ms)::bigint as ms,
               count(*) as songs
        from d where d.album_name is not null
        group by d.artist_name, d.album_name
    ),
    t as (
        select coalesce(sum(d.plays), 0)::bigint as total_plays,
               coalesce(sum(d.plays) filter (where d.album_name is null), 0)::bigint as plays_without_album,
               (select count(*) from w) as albums
        from d
    ),
    ranked as (
        select row_number() over (order by w.plays desc, w.ms desc, w.album_name collate "C",
                                           w.artist_name collate "C" nulls last) as rank,
               w.artist_name, w.album_name, w.plays, w.ms, w.songs
        from w
    )
    select 0::bigint, null::text, null::text, 0::bigint, 0::bigint, 0::bigint, t.total_plays, t.plays_without_album, t.albums
    from t
    union all
    select r.rank, r.artist_name, r.album_name, r.plays, r.ms, r.songs, t.total_plays, t.plays_without_album, t.albums
    from ranked r cross join t
    where r.rank <= p_limit
    order by 1;
  end
  $body$;

  {#- The most skipped songs (marts.stream_skips): songs with at least p_min_streams streams whose skip
      is known, highest skip rate first, then streams, then name. recent_rankings stores them for the
      default min_streams. #}
  create or replace function {{ marts }}.window_most_skipped(p_user_id integer, p_start date, p_end date, p_limit integer,
                                                             p_min_streams integer default 5)
  returns table (rank bigint, track_key text, track_name text, artist_name text, streams bigint, skips bigint)
  language plpgsql stable
  as $body$
  #variable_conflict use_column
  begin
    return query
    with w as (
        select k.track_key, max(k.track_name) as track_name, max(k.artist_name) as artist_name,
               sum(k.streams)::bigint as streams, sum(k.skips)::bigint as skips
        from {{ marts }}.stream_skips k
        where k.user_id = p_user_id and k.local_date between p_start and p_end
        group by k.track_key
        having sum(k.streams) >= p_min_streams
    )
    select row_number() over ranked, w.track_key, w.track_name, w.artist_name, w.streams, w.skips
    from w
    window ranked as (order by w.skips::float8 / w.streams desc, w.streams desc, w.track_name collate "C" nulls last,
                      w.artist_name collate "C" nulls last, w.track_key collate "C")
    order by 1
    limit p_limit;
  end
  $body$
{%- endmacro %}

{# The rankings recent_rankings stores per window (name → function), and the longest list a tool
   may ask for (mcp_api.models: limit ≤ 50). #}
{% macro window_rankings() -%}
  {{ return({'artists': 'window_top_artists', 'tracks': 'window_top_tracks', 'repeats': 'window_repeat_rate',
             'albums': 'window_top_albums', 'skips': 'window_most_skipped'}) }}
{%- endmacro %}
