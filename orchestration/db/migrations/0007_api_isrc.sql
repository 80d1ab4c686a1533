-- Issue 8: the ISRC Spotify's Web API gives with each polled track (track.external_ids.isrc), kept
-- for later, finer merging of one recording's releases (today songs are merged by primary artist
-- and title in dbt, var track_identity). NULL for rows stored before this column, local files and
-- tracks Spotify gives no ISRC for.
alter table raw.api_recently_played add column if not exists isrc text;

-- marts.top_tracks changed grain (one row per user, day, song and release) and is incremental with
-- on_schema_change 'fail': an existing table would fail every build until a full refresh. Dropped
-- here (with the repeat_rate view over it), the next dbt build creates both anew from int_streams.
drop table if exists marts.top_tracks cascade;
