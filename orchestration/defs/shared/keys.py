"""Asset keys more than one domain uses, and the app tables dbt reads (specs: no asset writes them).

Raw-table keys are [RAW_SOURCE, table], the dbt source names, so dbt's sources resolve to the assets
that load them. The app tables are written by imports, syncs and user commands, which report a
materialization of the table they changed, so the marts that read it refresh too.
"""

import dagster as dg

RAW_SOURCE = "spotify_raw"
"""dbt source name of the raw schema; raw-table asset keys are [RAW_SOURCE, table]."""

API_PLAYS = dg.AssetKey([RAW_SOURCE, "api_recently_played"])

APP_USERS = dg.AssetKey(["app", "users"])
APP_IMPORTS = dg.AssetKey(["app", "imports"])
APP_SYNCS = dg.AssetKey(["app", "spotify_syncs"])
APP_TOKENS = dg.AssetKey(["app", "spotify_tokens"])

app_tables = [
    dg.AssetSpec(APP_USERS, description="Users: names, time zones, status (app.users).", group_name="app"),
    dg.AssetSpec(APP_IMPORTS, description="The import registry (app.imports).", group_name="app"),
    dg.AssetSpec(APP_SYNCS, description="One row per poll/backfill run (app.spotify_syncs).", group_name="app"),
    dg.AssetSpec(
        APP_TOKENS,
        description="Encrypted Spotify tokens per user (app.spotify_tokens); dbt reads only presence and expiry.",
        group_name="app",
    ),
]
