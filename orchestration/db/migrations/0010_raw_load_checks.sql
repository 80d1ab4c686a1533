-- The runs that load raw rows check the rows they wrote (orchestration/imports/raw_checks.py): the
-- rows of one import (import_id) or one poll (sync_id) or one top-list snapshot (snapshot_id, already
-- indexed by its unique key). Loads append, so these ids grow with the table's physical order: a BRIN
-- index finds one load's blocks for almost no cost at insert time.
create index if not exists extended_streams_import_brin on raw.extended_streams using brin (import_id);
create index if not exists account_music_streams_import_brin on raw.account_music_streams using brin (import_id);
create index if not exists account_podcast_streams_import_brin on raw.account_podcast_streams using brin (import_id);
create index if not exists account_audiobook_streams_import_brin on raw.account_audiobook_streams using brin (import_id);
create index if not exists api_recently_played_sync_brin on raw.api_recently_played using brin (sync_id);
