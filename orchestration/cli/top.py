"""`spotify-history snapshot-top`: a snapshot of Spotify's top lists now, as a Dagster run."""

from __future__ import annotations

import json

import click

from orchestration.cli.common import database, fail


@click.command("snapshot-top")
@click.option("--user", "user", required=True, help="The linked user.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def snapshot_top(user: str, as_json: bool) -> None:
    """Fetch USER's top artists and tracks from Spotify now (the spotify_top_sensor does it daily)."""
    from orchestration import users as repo
    from orchestration.cli.in_process import RunError, run_top_snapshot

    with database() as conn:
        try:
            repo.get(conn, user)
        except repo.UserError as exc:
            fail(str(exc))
    try:
        result = run_top_snapshot(user)
    except RunError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(result, default=str))
        return
    note = f"; {result['error']}" if result["error"] else ""
    click.echo(
        f"top snapshot {result['status']}: {result['items']} item(s), {result['requests']} request(s)"
        f"{note}  [run {result['run_id'][:8]}]"
    )
