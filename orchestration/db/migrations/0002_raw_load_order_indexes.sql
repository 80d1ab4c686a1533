-- dbt's incremental stream model finds new raw rows per user by raw_id (loads of one user are
-- serialized, so a user's raw_ids grow in commit order). These indexes make that an index range read.
create index if not exists extended_streams_user_raw_id on raw.extended_streams (user_id, raw_id);
create index if not exists account_music_streams_user_raw_id on raw.account_music_streams (user_id, raw_id);
create index if not exists account_podcast_streams_user_raw_id on raw.account_podcast_streams (user_id, raw_id);
create index if not exists account_audiobook_streams_user_raw_id on raw.account_audiobook_streams (user_id, raw_id);
