-- Plays from Spotify's recently-played API (polls and backfills), in the stream contract.
-- played_at is (approximately) the END of the play. The API gives no ms_played: every row is a
-- play (Spotify only lists plays over 30 s, never private sessions or podcasts), and its time
-- listened is estimated from the track duration in int_streams (ms_is_estimated) unless an
-- export row of the same stream supplies it (duplicate rule 3, api_match_seconds).
select
    'api_recently_played'  as source_table,
    'api'                  as stream_source,
    raw_id,
    user_id,
    sync_id                as load_id,
    loaded_at,
    played_at              as ended_at,
    null::bigint           as ms_played,
    duration_ms,
    'music'                as content_type,
    track_uri,
    track_name,
    first_artist_name      as artist_name,
    album_name,
    -- Not in the stream contract yet: kept for a later, finer merge of one recording's releases.
    isrc,
    context_uri,
    false                  as is_incognito
from {{ source('spotify_raw', 'api_recently_played') }}
