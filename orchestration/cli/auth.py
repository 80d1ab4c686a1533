"""`spotify-history auth …` (link Spotify accounts, manage the token key) and `poll`."""

from __future__ import annotations

import json
import webbrowser
from typing import Any

import click

from orchestration.cli.common import database, fail


@click.group()
def auth() -> None:
    """Spotify accounts: log in (OAuth with PKCE), log out, token key rotation, status."""


def _app() -> Any:
    from orchestration.config import get_settings
    from orchestration.spotify.errors import NotConfiguredError
    from orchestration.spotify.oauth import SpotifyApp

    try:
        return SpotifyApp.from_settings(get_settings())
    except NotConfiguredError as exc:
        fail(str(exc))


@auth.command()
@click.option("--user", "user", required=True, help="The user to link.")
@click.option("--no-browser", is_flag=True, help="Print the URL and paste the redirect URL back (headless server).")
@click.option("--port", type=click.IntRange(1, 65535), help="Redirect port (default SPOTIFY_REDIRECT_PORT).")
@click.option("--timeout", default=300, show_default=True, type=click.IntRange(10, 3600), help="Seconds to wait.")
def login(user: str, no_browser: bool, port: int | None, timeout: int) -> None:
    """Link a Spotify account to USER; from then on Dagster polls it by itself.

    Opens Spotify's consent page and catches the redirect on http://127.0.0.1:PORT/callback (register
    exactly that redirect URI in your Spotify app). On a server without a browser, or with
    --no-browser, open the printed URL anywhere, then paste the URL the browser was sent to (the page
    itself will not load there; the address bar holds what is needed).
    """
    from orchestration import users as repo
    from orchestration.config import get_settings
    from orchestration.spotify import accounts
    from orchestration.spotify.errors import SpotifyError
    from orchestration.spotify.oauth import Authorization, CallbackServer
    from orchestration.spotify.tokens import TokenKeyError

    app = _app()
    settings = get_settings()
    port = port or app.redirect_port
    with database() as conn:
        try:
            repo.get(conn, user)
        except repo.UserError as exc:
            fail(str(exc))
    try:
        with accounts.new_http(settings) as http:
            authorization: Authorization | None = None
            redirected_to: str | None = None
            if not no_browser:
                with CallbackServer(port) as server:
                    authorization = Authorization(app, server.port)
                    click.echo(
                        f"Opening Spotify's consent page (if no browser opens, visit):\n\n  {authorization.url}\n"
                    )
                    if webbrowser.open(authorization.url):
                        click.echo(f"Waiting for Spotify to redirect to {authorization.redirect_uri} …")
                        redirected_to = server.wait(timeout)
                    else:
                        click.echo("No browser on this machine: open the URL above in one elsewhere.")
            if authorization is None:
                authorization = Authorization(app, port)
                click.echo(f"Open this URL in a browser and allow access:\n\n  {authorization.url}\n")
            if redirected_to is None:
                # Only this process holds the PKCE verifier, so the code in the URL is useless elsewhere.
                redirected_to = click.prompt(
                    "Then paste the whole URL the browser was sent to (http://127.0.0.1:…/callback?code=…)"
                )
            code = authorization.code_from_redirect(redirected_to)
            result = accounts.complete_login(user, app, authorization, code, settings=settings, http=http)
    except (SpotifyError, TokenKeyError) as exc:
        fail(str(exc))
    _announce(user, f"{user} linked Spotify")
    who = result.display_name or result.spotify_user_id
    click.echo(
        f"linked {user} to Spotify account {who} ({result.spotify_user_id}). Dagster's spotify_sensor now fetches "
        f"the last {settings.initial_sync_max_days} days the API still offers, then polls every "
        f"{settings.poll_interval_seconds // 60 or 1} min; the spotify_top_sensor snapshots Spotify's top lists "
        "now and then daily."
    )


@auth.command()
@click.option("--user", "user", required=True)
def logout(user: str) -> None:
    """Forget USER's Spotify tokens (polling stops; the listening data stays)."""
    from orchestration import users as repo
    from orchestration.spotify import accounts

    with database():
        try:
            forgotten = accounts.logout(user)
        except repo.UserError as exc:
            fail(str(exc))
    _announce(user, f"{user} logged out of Spotify")
    click.echo(f"forgot the Spotify tokens of {user}" if forgotten else f"{user} had no Spotify tokens")


@auth.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored token under the primary key.

    With TOKEN_ENCRYPTION_KEY: put the new key first and the old one after it
    (TOKEN_ENCRYPTION_KEY=new,old), run this, then drop the old key. Without it, a new key is
    generated into the key file in $SPOTIFY_HISTORY_HOME/secrets/ and the old one removed.
    """
    from cryptography.fernet import Fernet

    from orchestration.config import get_settings
    from orchestration.spotify.tokens import TokenCipher, TokenKeyError, TokenStore, load_keys, replace_key_file

    settings = get_settings()
    with database() as conn:
        try:
            keys = load_keys(settings)
            key_file = settings.token_encryption_key is None
            if key_file:
                keys = [Fernet.generate_key(), *keys]
                # Both keys in the file first: whatever happens next, every token stays readable.
                replace_key_file(settings.token_key_file, keys)
            with conn.transaction():
                count = TokenStore(TokenCipher(keys)).rotate_all(conn)
            conn.commit()
            if key_file:
                replace_key_file(settings.token_key_file, keys[:1])
        except TokenKeyError as exc:
            fail(str(exc))
    if key_file:
        click.echo(f"re-encrypted the tokens of {count} user(s) under a new key in {settings.token_key_file}")
    else:
        click.echo(
            f"re-encrypted the tokens of {count} user(s) under the first key of TOKEN_ENCRYPTION_KEY; "
            "the other keys can now be removed from it"
        )


@auth.command("generate-key")
def generate_key() -> None:
    """Print a new Fernet key (for TOKEN_ENCRYPTION_KEY)."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())


@auth.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per user.")
def status(as_json: bool) -> None:
    """Linked accounts, token status and the last poll of every user."""
    from orchestration.spotify.links import link_status

    with database() as conn:
        links = link_status(conn)
    if as_json:
        for link in links:
            click.echo(json.dumps(link, default=str))
        return
    if not links:
        click.echo("no users yet: spotify-history users add NAME")
        return
    click.echo(f"{'USER':<16} {'TOKEN':<13} {'SPOTIFY':<22} {'LAST POLL':<26} LAST PLAY (UTC)")
    for link in links:
        polled, played = link["last_poll_at"], link["last_played_at"]
        poll = f"{polled:%Y-%m-%d %H:%M} {link['last_poll_status']}" if polled else "-"
        last_play = f"{played:%Y-%m-%d %H:%M:%S}" if played else "-"
        account = (link["display_name"] or link["spotify_user_id"] or "-")[:22]
        click.echo(f"{link['user']:<16} {link['token']:<13} {account:<22} {poll:<26} {last_play}")


@click.command()
@click.option("--user", "user", required=True)
@click.option(
    "--mode",
    type=click.Choice(["poll", "initial_sync"]),
    default="poll",
    show_default=True,
    help="poll: what is new since the last poll; initial_sync: walk back INITIAL_SYNC_MAX_DAYS.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def poll(user: str, mode: str, as_json: bool) -> None:
    """Fetch USER's recent plays from Spotify now, as a Dagster run (the sensor also does this)."""
    from orchestration import users as repo
    from orchestration.cli.in_process import RunError, run_spotify_sync

    with database() as conn:
        try:
            repo.get(conn, user)
        except repo.UserError as exc:
            fail(str(exc))
    try:
        result = run_spotify_sync(user, mode)
    except RunError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(result, default=str))
        return
    gap = "; GAP: plays were missed before these" if result["gap_detected"] else ""
    click.echo(
        f"{mode} {result['status']}: {result['fetched']} fetched, {result['inserted']} new, "
        f"stop reason {result['stop_reason']}{gap}  [run {result['run_id'][:8]}]"
    )


def _announce(user: str, description: str) -> None:
    """app.users and app.spotify_tokens changed: tell Dagster (marts refresh; the sensor reacts anyway)."""
    import dagster as dg

    from orchestration.defs.shared.keys import APP_TOKENS
    from orchestration.defs.spotify.partitions import spotify_users
    from orchestration.instance import get_instance, report_users_changed

    report_users_changed(description)
    instance = get_instance()
    instance.report_runless_asset_event(dg.AssetMaterialization(APP_TOKENS, description=description))
    if not instance.has_dynamic_partition(spotify_users.name, user):
        instance.add_dynamic_partitions(spotify_users.name, [user])
