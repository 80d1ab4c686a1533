"""The Spotify connection in Dagster: the API-plays and top-lists assets, their checks, jobs and sensors.

The work is orchestration.spotify.sync.run_sync; these modules map it onto partitions
(user × UTC day), run config, metadata, asset checks and a sensor that needs no manual step:

* partitions: dynamic "spotify_users" (kept in step with linked users by the sensor) × daily;
* a run for (user, today) polls with `after`; a run for (user, past day) backfills that day with
  `before` (so a backfill over a date range is launched from the UI); mode `initial_sync` walks
  back INITIAL_SYNC_MAX_DAYS in one run, which the sensor launches when a user links Spotify;
* the top lists (orchestration.spotify.top) are one snapshot per linked user: asset spotify_top_items,
  job spotify_top_snapshot, spotify_top_sensor (after each login, then daily);
* pool "spotify" bounds the calls toward Spotify (the instance's default pool limit is 1).
"""
