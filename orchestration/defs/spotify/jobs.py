"""The spotify_sync job (one user's poll, backfill day or initial sync) and its run config."""

from typing import Any

import dagster as dg

from orchestration.defs.spotify.assets import api_recently_played
from orchestration.defs.spotify.partitions import api_partitions

JOB_NAME = "spotify_sync"
USER_TAG = "spotify_history/user"
MODE_TAG = "spotify_history/spotify_mode"
OP_NAME = "spotify_raw__api_recently_played"  # derived from the asset key

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
