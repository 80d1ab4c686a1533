"""`spotify-history serve-api`: the API (MCP, ChatGPT Actions, JSON dispatcher) as the read-only role."""

from __future__ import annotations

import os

import click

from orchestration.cli.common import database, fail

# Credentials the API process does not need: it reads only as the API role (API_DATABASE_URL).
OWNER_VARIABLES = ("DATABASE_URL", "DAGSTER_DATABASE_URL", "SPOTIFY_HISTORY_DAGSTER_PG_URL", "PGPASSWORD")


@click.command("serve-api")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning"]))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="API processes on this port (uvicorn workers); what a connect flow needs between requests is in Postgres.",
)
def serve_api(host: str, port: int, log_level: str, workers: int) -> None:
    """Serve the API: /mcp (MCP), /v1/… + /openapi.json (ChatGPT Actions), /mcp/call, /healthz.

    Connects as the read-only role spotify_history_api (API_DATABASE_URL, derived from the database
    when unset). Keys: spotify-history api-key create --user NAME. With --workers N (or several
    serve-api behind one URL) every process serves every request: OAuth's pending consents are in
    Postgres, answer caches follow the marts' build stamp; the per-key rate limit counts per process.
    """
    import uvicorn

    from mcp_api.logs import log_config
    from orchestration.config import get_settings
    from orchestration.db.roles import RoleError, api_database_url, check_api_role, marts_built

    with database():  # migrations (and with them the API role) are up to date
        pass
    try:
        url = api_database_url()
        check_api_role(url)
    except RoleError as exc:
        fail(str(exc))
    if not marts_built(url):
        click.secho("note: the marts are not built yet; tools answer 503 until `spotify-history refresh`", err=True)
    os.environ["API_DATABASE_URL"] = url
    for name in OWNER_VARIABLES:
        os.environ.pop(name, None)
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    if not os.environ.get("PUBLIC_BASE_URL"):  # unset or empty (`PUBLIC_BASE_URL=` in .env): where we listen
        os.environ["PUBLIC_BASE_URL"] = f"http://{local}:{port}"
    public = os.environ["PUBLIC_BASE_URL"]
    click.echo(f"API on http://{host}:{port}  (MCP: {public}/mcp, OpenAPI: {public}/openapi.json)", err=True)
    uvicorn.run(
        "mcp_api.doors.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,  # > 1: uvicorn's supervisor starts them from the import string (factory)
        access_log=False,  # mcp_api logs one JSON line per request, without keys
        log_config=log_config(log_level),
        proxy_headers=True,
        forwarded_allow_ips=get_settings().forwarded_allow_ips,
        server_header=False,
    )
