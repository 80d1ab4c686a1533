"""The refresh_marts automation sensor: builds what new raw data made out of date."""

import dagster as dg


def refresh_marts_sensor(dbt_models: dg.AssetsDefinition) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "refresh_marts",
        target=dg.AssetSelection.assets(dbt_models),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Builds the dbt models after new raw data lands (imports, polls).",
    )
