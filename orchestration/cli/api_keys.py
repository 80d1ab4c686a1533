"""`spotify-history api-key …`: per-user keys for the API (ChatGPT Actions, MCP clients)."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlsplit

import click
import psycopg

from orchestration.cli.common import database, fail

OAUTH_ID = "oauth-"
"""How `list` and `revoke` name a connected assistant (an OAuth grant): oauth-<grant id>."""


@click.group("api-key")
def api_key() -> None:
    """Keys for the API, link codes and connected assistants. A key or an assistant reads exactly one
    user's history; only hashes are stored."""


@api_key.command("create")
@click.option("--user", "user", required=True, help="The user whose history the key reads.")
@click.option("--name", "label", default="", help="A label to recognise the key by (e.g. chatgpt, laptop).")
def create(user: str, label: str) -> None:
    """Create a key and print it (once: it cannot be shown again)."""
    from mcp_api import keys
    from orchestration import users as repo

    if len(label) > 100:
        fail("--name: at most 100 characters")
    key = keys.generate()
    with database() as conn:
        try:
            owner = repo.get(conn, user)
        except repo.UserError as exc:
            fail(str(exc))
        row = conn.execute(
            "insert into app.api_keys (user_id, name, prefix, hash) values (%s, %s, %s, %s) returning key_id",
            (owner.user_id, label, keys.prefix_of(key), keys.hash_key(key)),
        ).fetchone()
        conn.commit()
    assert row is not None
    click.echo(key)
    click.echo(
        f"key #{row[0]} ({keys.prefix_of(key)}…) for {owner.name}: store it now, it is not shown again. "
        "Send it as `Authorization: Bearer <key>`.",
        err=True,
    )


@api_key.command("list")
@click.option("--user", "user", help="Only this user's keys and clients.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def list_keys(user: str | None, as_json: bool) -> None:
    """List keys (prefix, user, label, created, revoked) — never the keys themselves — and the
    assistants connected by OAuth (client, user, last use)."""
    with database() as conn:
        rows = conn.execute(
            """
            select k.key_id, k.prefix, u.name, k.name, k.created_at, k.revoked_at
            from app.api_keys k join app.users u using (user_id)
            where %(user)s::text is null or u.name = %(user)s
            order by k.key_id
            """,
            {"user": user},
        ).fetchall()
        clients = conn.execute(
            """
            select g.grant_id, g.client_name, g.client_id, u.name, g.redirect_uri, g.created_at, g.last_used_at,
                   g.revoked_at
            from app.oauth_grants g join app.users u using (user_id)
            where %(user)s::text is null or u.name = %(user)s
            order by g.grant_id
            """,
            {"user": user},
        ).fetchall()
    if as_json:
        for key_id, prefix, owner, label, created, revoked in rows:
            record = {"kind": "key", "key_id": key_id, "prefix": prefix, "user": owner, "name": label}
            record |= {"created_at": created.isoformat(), "revoked_at": _iso(revoked)}
            click.echo(json.dumps(record))
        for grant_id, name, client_id, owner, redirect, created, used, revoked in clients:
            record = {"kind": "oauth_client", "id": f"{OAUTH_ID}{grant_id}", "client_name": name}
            record |= {"client_id": client_id, "user": owner, "redirect_host": urlsplit(redirect).netloc}
            record |= {"created_at": created.isoformat(), "last_used_at": _iso(used), "revoked_at": _iso(revoked)}
            click.echo(json.dumps(record))
        return
    if not rows and not clients:
        click.echo("no API keys yet: spotify-history api-key create --user NAME")
        return
    if rows:
        click.echo(f"{'ID':>4}  {'PREFIX':<13} {'USER':<16} {'NAME':<16} {'CREATED':<17} REVOKED")
    for key_id, prefix, owner, label, created, revoked in rows:
        revoked_text = f"{revoked:%Y-%m-%d %H:%M}" if revoked else "-"
        click.echo(f"{key_id:>4}  {prefix:<13} {owner:<16} {label or '-':<16} {created:%Y-%m-%d %H:%M}  {revoked_text}")
    if clients:
        click.echo("" if rows else "no API keys")
        click.echo("connected assistants (OAuth):")
        click.echo(f"{'ID':>9}  {'CLIENT':<24} {'USER':<16} {'REDIRECT HOST':<24} {'LAST USED':<17} REVOKED")
    for grant_id, name, _, owner, redirect, _, used, revoked in clients:
        used_text = f"{used:%Y-%m-%d %H:%M}" if used else "never"
        revoked_text = f"{revoked:%Y-%m-%d %H:%M}" if revoked else "-"
        host = urlsplit(redirect).netloc[:24]
        ident = f"{OAUTH_ID}{grant_id}"
        click.echo(f"{ident:>9}  {name[:24]:<24} {owner:<16} {host:<24} {used_text:<17} {revoked_text}")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@api_key.command("revoke")
@click.argument("key")
def revoke(key: str) -> None:
    """Revoke a key by id or prefix (`shk_1a2b3c4d`), or a connected assistant by its id (`oauth-3`)
    or client id, as `list` shows them: it stops working at once (an assistant's tokens with it)."""
    from mcp_api import keys

    with database() as conn:
        if key.startswith(OAUTH_ID) or not (
            keys.looks_like_key(key) or key.startswith(keys.KEY_PREFIX) or key.isdigit()
        ):
            _revoke_clients(conn, key)
            return
        by_id = key.isascii() and key.isdigit() and len(key) <= 18  # a bigint
        row = conn.execute(
            "select key_id, prefix, revoked_at from app.api_keys where " + ("key_id = %s" if by_id else "prefix = %s"),
            (int(key) if by_id else keys.prefix_of(key),),
        ).fetchone()
        if row is None:
            fail(f"no API key {key!r} (spotify-history api-key list shows them)")
        if row[2] is not None:
            click.echo(f"key #{row[0]} ({row[1]}) was already revoked")
            return
        conn.execute("update app.api_keys set revoked_at = now() where key_id = %s", (row[0],))
        conn.commit()
    click.echo(f"revoked key #{row[0]} ({row[1]})")


def _revoke_clients(conn: psycopg.Connection, ident: str) -> None:
    """Revoke OAuth grants (`oauth-N`, or every grant of a client id) and delete their tokens."""
    number = ident.removeprefix(OAUTH_ID)
    by_id = ident.startswith(OAUTH_ID) and number.isascii() and number.isdigit() and len(number) <= 18
    grants = conn.execute(
        "select grant_id, client_name, revoked_at from app.oauth_grants where "
        + ("grant_id = %s" if by_id else "client_id = %s"),
        (int(number) if by_id else ident,),
    ).fetchall()
    if not grants:
        fail(f"no API key or connected assistant {ident!r} (spotify-history api-key list shows them)")
    ids = [g[0] for g in grants]
    conn.execute(
        "update app.oauth_grants set revoked_at = now() where grant_id = any(%s) and revoked_at is null", (ids,)
    )
    conn.execute("delete from app.oauth_tokens where grant_id = any(%s)", (ids,))
    conn.execute("delete from app.oauth_codes where grant_id = any(%s)", (ids,))
    conn.commit()
    for grant_id, name, revoked in grants:
        state = "was already revoked" if revoked is not None else "revoked: its tokens stop working now"
        click.echo(f"{OAUTH_ID}{grant_id} ({name}) {state}")


@api_key.command("link")
@click.option("--user", "user", required=True, help="The user an assistant will read.")
def link(user: str) -> None:
    """Print a one-time link code for an assistant's consent page (single use, 10 minutes).

    Connecting ChatGPT or Claude by OAuth opens this server's consent page, which asks for this code
    (or one of your API keys) to know whose history to share. The code is the last line printed.
    """
    from mcp_api.oauth import secrets
    from orchestration import users as repo

    code = secrets.link_code()
    with database() as conn:
        try:
            owner = repo.get(conn, user)
        except repo.UserError as exc:
            fail(str(exc))
        conn.execute("delete from app.link_codes where expires_at < now() - interval '1 day'")
        conn.execute(
            "insert into app.link_codes (code_hash, user_id, expires_at) values (%s, %s, now() + %s)",
            (secrets.link_code_hash(code), owner.user_id, secrets.LINK_CODE_LIFETIME),
        )
        conn.commit()
    minutes = int(secrets.LINK_CODE_LIFETIME.total_seconds() // 60)
    click.echo(
        f"Link code for {owner.name}: enter it on the consent page your assistant opens "
        f"(works once, for {minutes} minutes):",
        err=True,
    )
    click.echo(code)
