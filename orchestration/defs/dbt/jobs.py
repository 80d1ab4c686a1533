"""The refresh_marts job: dbt build of every model (what `spotify-history refresh` runs)."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def refresh_marts_job(dbt_models: dg.AssetsDefinition) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        "refresh_marts",
        selection=dg.AssetSelection.assets(dbt_models),
        description="dbt build: staging → intermediate → marts, with tests.",
    )
