"""The refresh_marts automation sensor: builds what new raw data made out of date."""

import dagster as dg

REFRESH_MARTS_INTERVAL_SECONDS = 15


def refresh_marts_sensor(dbt_models: dg.AssetsDefinition) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "refresh_marts",
        target=dg.AssetSelection.assets(dbt_models),
        default_status=dg.DefaultSensorStatus.RUNNING,
        # A poll's plays are to be visible through the API ≤ 60 s after the poll run ends (issue 12):
        # this wait, the run's launch and the incremental build all fit in that (benchmarks/README.md,
        # freshness_benchmark.py).
        minimum_interval_seconds=REFRESH_MARTS_INTERVAL_SECONDS,
        description="Builds the dbt models after new raw data lands (imports, polls).",
    )
