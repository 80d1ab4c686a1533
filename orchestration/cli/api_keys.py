"""`spotify-history api-key …`: per-user keys for the API (ChatGPT Actions, MCP clients)."""

from __future__ import annotations

import json

import click

from orchestration.cli.common import database, fail


@click.group("api-key")
def api_key() -> None:
    """Keys for the API. A key reads exactly one user's history; only its hash is stored."""


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
@click.option("--user", "user", help="Only this user's keys.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def list_keys(user: str | None, as_json: bool) -> None:
    """List keys (prefix, user, label, created, revoked) — never the keys themselves."""
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
    if as_json:
        for key_id, prefix, owner, label, created, revoked in rows:
            record = {"key_id": key_id, "prefix": prefix, "user": owner, "name": label}
            record |= {"created_at": created.isoformat(), "revoked_at": revoked.isoformat() if revoked else None}
            click.echo(json.dumps(record))
        return
    if not rows:
        click.echo("no API keys yet: spotify-history api-key create --user NAME")
        return
    click.echo(f"{'ID':>4}  {'PREFIX':<13} {'USER':<16} {'NAME':<16} {'CREATED':<17} REVOKED")
    for key_id, prefix, owner, label, created, revoked in rows:
        revoked_text = f"{revoked:%Y-%m-%d %H:%M}" if revoked else "-"
        click.echo(f"{key_id:>4}  {prefix:<13} {owner:<16} {label or '-':<16} {created:%Y-%m-%d %H:%M}  {revoked_text}")


@api_key.command("revoke")
@click.argument("key")
def revoke(key: str) -> None:
    """Revoke a key by id or prefix (`shk_1a2b3c4d`, as `list` shows); it stops working at once."""
    from mcp_api import keys

    by_id = key.isascii() and key.isdigit() and len(key) <= 18  # a bigint
    with database() as conn:
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
