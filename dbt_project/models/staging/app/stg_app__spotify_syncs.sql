-- Spotify poll and backfill runs (app.spotify_syncs): what each fetched, stored and why it stopped.
select
    sync_id,
    user_id,
    kind,
    status,
    window_start,
    window_end,
    requests,
    fetched,
    inserted,
    gap_detected,
    stop_reason,
    newest_played_at,
    oldest_played_at,
    rate_limited_until,
    error,
    started_at,
    finished_at
from {{ source('app', 'spotify_syncs') }}
