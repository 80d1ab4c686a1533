-- Issue 12: int_streams keeps the names a rewritten row had before (renamed, previous_*_name), so that
-- listening_catalog recounts only the items a build touched. The model is incremental with
-- on_schema_change 'fail': the columns are added here, as the model makes them, so existing tables
-- keep building incrementally (rows written before this version were not renamed by a later build).
alter table if exists intermediate.int_streams
    add column if not exists renamed boolean not null default false,
    add column if not exists previous_track_name text,
    add column if not exists previous_artist_name text,
    add column if not exists previous_album_name text;
