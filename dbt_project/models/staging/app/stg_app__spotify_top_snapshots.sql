-- Snapshot runs of Spotify's top lists (app.spotify_top_snapshots): outcome, requests, items stored.
select
    snapshot_id,
    user_id,
    status,
    requests,
    items,
    error,
    started_at,
    finished_at
from {{ source('app', 'spotify_top_snapshots') }}
