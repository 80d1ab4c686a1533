"""`spotify-history mcp --user NAME`: the MCP tools over stdio, for local assistants."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import click

from orchestration.cli.common import database, fail


@click.command("mcp")
@click.option("--user", "user", required=True, help="The listener whose history the tools read.")
@click.option("--log-level", default="warning", show_default=True, type=click.Choice(["debug", "info", "warning"]))
def mcp(user: str, log_level: str) -> None:
    """Serve the MCP tools over stdio (for Claude Desktop, Claude Code, Cursor, VS Code).

    Reads the marts as the read-only role, for USER only. stdout carries only the protocol; logs
    go to stderr. A client starts it as a command, e.g. `spotify-history mcp --user alice`.
    """
    from mcp_api.doors import stdio
    from orchestration import users as repo
    from orchestration.db.roles import RoleError, api_database_url, check_api_role

    stdio.configure_logging(log_level)
    with _stdout_to_stderr():  # starting the embedded server must not write into the protocol
        with database() as conn:
            try:
                user_id = repo.get(conn, user).user_id
            except repo.UserError as exc:
                fail(str(exc))
        try:
            url = api_database_url()
            check_api_role(url)
        except RoleError as exc:
            fail(str(exc))
    stdio.run(url, user_id)


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Point fd 1 at stderr for a while (child processes included), then restore it."""
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
