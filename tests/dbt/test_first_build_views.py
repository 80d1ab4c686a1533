"""The first automatic build after `users add` on a never-built database (issue 22, open point): the
automation selects int_streams (its input app.users changed) without int_streams_unioned, the view it
reads. The build creates every view over the raw and app tables it did not select."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from builds import app_conn

from orchestration.cli.in_process import QUIET_CONSOLE, get_instance
from orchestration.definitions import defs
from orchestration.defs.dbt.assets import dbt_models, missing_views, staging_views
from orchestration.defs.dbt.project import dbt_project


def test_the_views_created_first_are_those_over_raw_and_app_tables() -> None:
    views = staging_views(dbt_project().manifest_path)
    assert "intermediate.int_streams_unioned" in views and "staging.stg_app__users" in views
    assert "marts.repeat_rate" not in views  # a view over a mart's table: built in its turn


def test_a_build_without_the_stream_views_creates_them(home: Path) -> None:
    with app_conn() as conn:
        conn.execute("drop view if exists intermediate.int_streams_unioned")
    assert "intermediate.int_streams_unioned" in missing_views()
    # What the automation selects after `users add` on a fresh database: int_streams and what is
    # downstream of it, but neither the stream staging views nor the view over them.
    unioned = dg.AssetKey(["intermediate", "int_streams_unioned"])
    selection = [k for k in dbt_models(dbt_project()).keys if k.path[0] != "staging" and k != unioned]
    assert dg.AssetKey(["intermediate", "int_streams"]) in selection
    result = (
        defs()
        .resolve_job_def("refresh_marts")
        .execute_in_process(
            instance=get_instance(),
            asset_selection=selection,
            run_config=QUIET_CONSOLE,
            raise_on_error=False,
        )
    )
    assert result.success
    assert missing_views() == []
