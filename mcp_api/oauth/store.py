"""OAuth state in Postgres (tables of migration 0009): registered clients, grants, codes, tokens.

Every secret is looked up by its hash. Writes run in short read-write transactions of the API role;
the conditional updates (`… where used_at is null`, `… where rotated_at is null`) make single use
hold under concurrent requests: of two requests presenting one code, exactly one gets tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mcp.shared.auth import OAuthToken

from mcp_api.auth import USER_COLUMNS, USER_KEYS
from mcp_api.database import Database
from mcp_api.oauth import secrets
from mcp_api.oauth.clients import Client


@dataclass(frozen=True)
class Grant:
    """One listener's consent to one client for one resource; every code and token belongs to one."""

    grant_id: int
    user_id: int
    client_id: str
    redirect_uri: str
    resource: str
    scopes: list[str]


async def save_client(db: Database, client: Client, secret_hash: str | None) -> None:
    metadata = client.model_dump(mode="json", exclude={"client_secret"}, exclude_none=True)
    async with db.writing() as cur:
        await cur.execute(
            "insert into app.oauth_clients (client_id, metadata, secret_hash) values (%s, %s, %s)",
            (client.client_id, json.dumps(metadata), secret_hash),
        )


async def load_client(db: Database, client_id: str) -> tuple[Client, str | None] | None:
    rows = await db.rows(
        "select metadata, secret_hash from app.oauth_clients where client_id = %(client_id)s", {"client_id": client_id}
    )
    if not rows:
        return None
    return Client.model_validate(rows[0]["metadata"]), rows[0]["secret_hash"]


async def create_grant(
    db: Database, *, user_id: int, client: Client, redirect_uri: str, explicit: bool, resource: str,
    scopes: list[str], code_challenge: str,
) -> str:  # fmt: skip
    """Record the listener's consent; the authorization code that redeems it."""
    code = secrets.opaque()
    async with db.writing() as cur:
        await cur.execute(
            """
            insert into app.oauth_grants (user_id, client_id, client_name, redirect_uri, resource, scopes)
            values (%s, %s, %s, %s, %s, %s) returning grant_id
            """,
            (user_id, client.client_id, client.display_name, redirect_uri, resource, " ".join(scopes)),
        )
        row = await cur.fetchone()
        assert row is not None
        await cur.execute(
            """
            insert into app.oauth_codes (code_hash, grant_id, code_challenge, redirect_explicit, expires_at)
            values (%s, %s, %s, %s, now() + %s)
            """,
            (secrets.hash_secret(code), row["grant_id"], code_challenge, explicit, secrets.CODE_LIFETIME),
        )
        # Codes are minutes long: forget the expired ones while here.
        await cur.execute("delete from app.oauth_codes where expires_at < now() - interval '1 day'")
    return code


GRANT_COLUMNS = "g.grant_id, g.user_id, g.client_id, g.redirect_uri, g.resource, g.scopes, g.revoked_at"


def _grant(row: dict[str, Any]) -> Grant:
    return Grant(row["grant_id"], row["user_id"], row["client_id"], row["redirect_uri"], row["resource"],
                 row["scopes"].split())  # fmt: skip


@dataclass(frozen=True)
class CodeRow:
    grant: Grant
    code_hash: str
    code_challenge: str
    redirect_explicit: bool
    expires_at: datetime


async def load_code(db: Database, code: str) -> CodeRow | None:
    """An unused code of a live grant. A code presented again revokes its grant (and its tokens)."""
    rows = await db.rows(
        f"""
        select c.code_hash, c.code_challenge, c.redirect_explicit, c.expires_at, c.used_at, {GRANT_COLUMNS}
        from app.oauth_codes c join app.oauth_grants g using (grant_id) where c.code_hash = %(hash)s
        """,
        {"hash": secrets.hash_secret(code)},
    )
    if not rows or rows[0]["revoked_at"] is not None:
        return None
    row = rows[0]
    if row["used_at"] is not None:
        await revoke_grant(db, row["grant_id"])
        return None
    return CodeRow(_grant(row), row["code_hash"], row["code_challenge"], row["redirect_explicit"], row["expires_at"])


async def redeem_code(db: Database, code: CodeRow) -> OAuthToken | None:
    """Tokens for an unused code; None (and the grant revoked) when another request used it first."""
    async with db.writing() as cur:
        await cur.execute(
            """
            update app.oauth_codes set used_at = now()
            where code_hash = %s and used_at is null and expires_at > now()
            """,
            (code.code_hash,),
        )
        if cur.rowcount == 1:
            return await _issue(cur, code.grant)
    await revoke_grant(db, code.grant.grant_id)
    return None


@dataclass(frozen=True)
class TokenRow:
    grant: Grant
    token_hash: str
    expires_at: datetime
    user: dict[str, Any]
    """The user's columns in marts.sync_status (None values before the marts know the user)."""


async def load_token(db: Database, token: str, kind: str) -> TokenRow | None:
    """A live token of a live grant. A rotated refresh token presented again revokes its grant."""
    rows = await db.rows(
        f"""
        select t.token_hash, t.expires_at, t.rotated_at, t.expires_at > now() as live, {GRANT_COLUMNS}, {USER_COLUMNS}
        from app.oauth_tokens t join app.oauth_grants g using (grant_id)
        left join marts.sync_status s on s.user_id = g.user_id
        where t.token_hash = %(hash)s and t.kind = %(kind)s
        """,
        {"hash": secrets.hash_secret(token), "kind": kind},
    )
    if not rows or rows[0]["revoked_at"] is not None:
        return None
    row = rows[0]
    if row["rotated_at"] is not None:
        await revoke_grant(db, row["grant_id"])
        return None
    if not row["live"]:
        return None
    user = {k: row[k] for k in USER_KEYS}
    return TokenRow(_grant(row), row["token_hash"], row["expires_at"], user)


async def rotate(db: Database, refresh: TokenRow) -> OAuthToken | None:
    """A new token pair for a refresh token, which is spent; None (and the grant revoked) on reuse."""
    async with db.writing() as cur:
        await cur.execute(
            "update app.oauth_tokens set rotated_at = now() where token_hash = %s and rotated_at is null",
            (refresh.token_hash,),
        )
        if cur.rowcount == 1:
            return await _issue(cur, refresh.grant)
    await revoke_grant(db, refresh.grant.grant_id)
    return None


async def _issue(cur: Any, grant: Grant) -> OAuthToken:
    access, refresh = secrets.access_token(), secrets.refresh_token()
    await cur.execute(
        """
        insert into app.oauth_tokens (token_hash, grant_id, kind, expires_at)
        values (%s, %s, 'access', now() + %s), (%s, %s, 'refresh', now() + %s)
        """,
        (secrets.hash_secret(access), grant.grant_id, secrets.ACCESS_LIFETIME,
         secrets.hash_secret(refresh), grant.grant_id, secrets.REFRESH_LIFETIME),
    )  # fmt: skip
    # Expired tokens identify nothing any more: drop them (their grant stays, for `api-key list`).
    await cur.execute("delete from app.oauth_tokens where grant_id = %s and expires_at < now()", (grant.grant_id,))
    return OAuthToken(
        access_token=access,
        token_type="Bearer",
        expires_in=int(secrets.ACCESS_LIFETIME.total_seconds()),
        refresh_token=refresh,
        scope=" ".join(grant.scopes) or None,
    )


async def revoke_grant(db: Database, grant_id: int) -> None:
    async with db.writing() as cur:
        await cur.execute(
            "update app.oauth_grants set revoked_at = now() where grant_id = %s and revoked_at is null", (grant_id,)
        )
        await cur.execute("delete from app.oauth_tokens where grant_id = %s", (grant_id,))


async def touch(db: Database, grant_id: int) -> None:
    """Record use for `api-key list` (at most once a minute per grant: one write, not one per call)."""
    async with db.writing() as cur:
        await cur.execute(
            """
            update app.oauth_grants set last_used_at = now()
            where grant_id = %s and (last_used_at is null or last_used_at < now() - interval '1 minute')
            """,
            (grant_id,),
        )


async def redeem_link_code(db: Database, typed: str) -> int | None:
    """The user a link code names, spending it; None for unknown, used or expired codes."""
    normalized = secrets.normalize_link_code(typed)
    if normalized is None:
        return None
    async with db.writing() as cur:
        await cur.execute(
            """
            update app.link_codes set used_at = now()
            where code_hash = %s and used_at is null and expires_at > now() returning user_id
            """,
            (secrets.hash_secret(normalized),),
        )
        row = await cur.fetchone()
    return None if row is None else int(row["user_id"])
