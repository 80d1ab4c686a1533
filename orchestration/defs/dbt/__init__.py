"""dbt in Dagster: the project and its manifest (project), the models as assets (assets), the
refresh_marts job (jobs) and the automation sensor that refreshes the marts after new raw data (sensors)."""
