"""The spotify_sync job (one user's poll, backfill day or initial sync) and its run config; the top-lists
snapshot job."""

from typing import Any

import dagster as dg

from orchestration.defs.spotify.assets import api_recently_played, spotify_top_items
from orchestration.defs.spotify.partitions import api_partitions, spotify_users

JOB_NAME = "spotify_sync"
USER_TAG = "spotify_history/user"
MODE_TAG = "spotify_history/spotify_mode"
OP_NAME = "spotify_raw__api_recently_played"  # derived from the asset key
TOP_JOB_NAME = "spotify_top_snapshot"

spotify_sync_job = dg.define_asset_job(
    JOB_NAME,
    # The asset's own checks only: a dbt test on the raw table would start a dbt process in every poll.
    selection=dg.AssetSelection.assets(api_recently_played).without_checks()
    | dg.AssetSelection.checks(*api_recently_played.check_keys),
    partitions_def=api_partitions,
    description="Poll Spotify, backfill a day, or run the initial sync, for one user.",
)


def sync_run_config(mode: str) -> dict[str, Any]:
    return {"ops": {OP_NAME: {"config": {"mode": mode}}}}


spotify_top_job = dg.define_asset_job(
    TOP_JOB_NAME,
    # The asset's own check only: a dbt test on the raw table would start a dbt process in every snapshot.
    selection=dg.AssetSelection.assets(spotify_top_items).without_checks()
    | dg.AssetSelection.checks(*spotify_top_items.check_keys),
    partitions_def=spotify_users,
    description="Snapshot Spotify's top artists and tracks (three time ranges) for one user.",
)
