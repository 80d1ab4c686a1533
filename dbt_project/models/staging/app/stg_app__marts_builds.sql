-- dbt builds of the marts (app.marts_builds), recorded by the Dagster dbt asset when each starts and ends.
select
    build_id,
    full_refresh,
    status,
    models,
    tests,
    failures,
    error,
    started_at,
    finished_at
from {{ source('app', 'marts_builds') }}
