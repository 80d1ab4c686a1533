-- Issue 8: the ISRC Spotify's Web API gives with each polled track (track.external_ids.isrc), kept
-- for later, finer merging of one recording's releases (today songs are merged by primary artist
-- and title in dbt, var track_identity). NULL for rows stored before this column, local files and
-- tracks Spotify gives no ISRC for.
alter table raw.api_recently_played add column if not exists isrc text;
