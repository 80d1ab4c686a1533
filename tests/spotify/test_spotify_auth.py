"""Linking Spotify: the OAuth flow against the fake (state, PKCE), encrypted tokens, key rotation,
refresh-token rotation, invalid_grant → needs_reauth, logout. Only Spotify is faked."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from spotify_support import environment, link, user_id, user_status

from orchestration.config import get_settings
from orchestration.demo.fake_spotify import FakeSpotify
from orchestration.spotify import tokens as token_keys
from orchestration.spotify.accounts import StoredTokenSource, client_for, complete_login, logout
from orchestration.spotify.errors import InvalidGrantError, NotConfiguredError, NotLinkedError, OAuthError
from orchestration.spotify.oauth import SCOPES, Authorization, SpotifyApp, pkce_challenge
from orchestration.spotify.tokens import TokenCipher, TokenKeyError, TokenStore
from orchestration.spotify.transport import Budget


def stored_token_bytes(conn: psycopg.Connection, name: str) -> tuple[bytes, bytes | None]:
    conn.commit()
    row = conn.execute(
        "select refresh_token_enc, access_token_enc from app.spotify_tokens where user_id = %s",
        (user_id(conn, name),),
    ).fetchone()
    assert row is not None
    return bytes(row[0]), bytes(row[1]) if row[1] is not None else None


def database_text(conn: psycopg.Connection) -> str:
    """Every row of the app and raw tables as text (where a token must never appear in clear)."""
    conn.commit()
    tables = conn.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('app', 'raw') and table_type = 'BASE TABLE'"
    ).fetchall()
    return "\n".join(
        str(conn.execute(f"select coalesce(string_agg(t::text, E'\\n'), '') from \"{s}\".\"{n}\" t").fetchone()[0])
        for s, n in tables
    )


def test_login_against_the_fake_links_the_user(conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify) -> None:
    result = link(user, fake_spotify, account="sp-alice-1")

    assert (result.spotify_user_id, result.display_name) == ("sp-alice-1", f"Listener {user}")
    assert set(result.scope.split()) == set(SCOPES)
    conn.commit()
    row = conn.execute(
        "select spotify_user_id, spotify_display_name, status from app.users where name = %s", (user,)
    ).fetchone()
    assert row == ("sp-alice-1", f"Listener {user}", "active")
    # The consent page was asked with PKCE (S256), our state, the scopes and a 127.0.0.1 redirect.
    (authorize,) = fake_spotify.requests_to("authorize")
    assert authorize.params["code_challenge_method"] == "S256"
    assert set(authorize.params["scope"].split()) == set(SCOPES)
    assert authorize.params["redirect_uri"].startswith("http://127.0.0.1:")
    assert authorize.params["redirect_uri"].endswith("/callback")
    # Tokens are stored, encrypted: not one issued token is in any table in clear.
    refresh_enc, access_enc = stored_token_bytes(conn, user)
    cipher = TokenCipher.from_settings(get_settings())
    assert cipher.decrypt(refresh_enc).get_secret_value() in fake_spotify.issued_tokens
    assert access_enc is not None and cipher.decrypt(access_enc).get_secret_value() in fake_spotify.issued_tokens
    text = database_text(conn)
    assert not [t for t in fake_spotify.issued_tokens if t in text]


def test_state_and_pkce_are_checked(user: str, fake_spotify: FakeSpotify) -> None:
    settings = get_settings()
    app = SpotifyApp.from_settings(settings)
    fake_spotify.add_account("sp-state", "State")
    fake_spotify.sign_in("sp-state")
    auth = Authorization(app, 45678)
    query = parse_qs(urlsplit(auth.url).query)
    assert query["code_challenge"] == [pkce_challenge(auth.pkce.verifier)]
    assert query["state"] == [auth.state]
    # The fake redirects with our state; a redirect carrying another state is refused.
    location = httpx.get(auth.url, follow_redirects=False).headers["location"]
    assert parse_qs(urlsplit(location).query)["state"] == [auth.state]
    forged = location.replace(auth.state, "forged-state")
    with pytest.raises(OAuthError, match="state mismatch"):
        auth.code_from_redirect(forged)
    code = auth.code_from_redirect(location)
    # A wrong PKCE verifier is refused by the token endpoint (the fake checks S256 like Spotify).
    other = Authorization(app, 45678)
    other.state = auth.state
    with httpx.Client() as http, pytest.raises(InvalidGrantError, match="code_verifier"):
        other.exchange(http, code, Budget.from_settings(settings))
    # The code was spent by that attempt: a second use is refused as well.
    with httpx.Client() as http, pytest.raises(InvalidGrantError):
        complete_login(user, app, auth, code, settings=settings, http=http)
    assert base64.urlsafe_b64encode(hashlib.sha256(b"x").digest()).rstrip(b"=").decode() == pkce_challenge("x")


def test_denied_login_and_localhost_redirect(user: str, fake_spotify: FakeSpotify) -> None:
    app = SpotifyApp.from_settings(get_settings())
    fake_spotify.add_account("sp-deny", "Deny")
    fake_spotify.deny_next_authorization()
    auth = Authorization(app, 45679)
    location = httpx.get(auth.url).headers["location"]
    with pytest.raises(OAuthError, match="access_denied"):
        auth.code_from_redirect(location)
    # Spotify (and the fake) refuse `localhost`, which is why the redirect host is 127.0.0.1.
    refused = httpx.get(auth.url.replace("127.0.0.1", "localhost"))
    assert refused.status_code == 400 and "Insecure redirect URI" in refused.text


def test_no_client_id_explains_what_to_configure() -> None:
    with environment(SPOTIFY_CLIENT_ID=None) as settings, pytest.raises(NotConfiguredError) as info:
        SpotifyApp.from_settings(settings)
    message = str(info.value)
    assert "SPOTIFY_CLIENT_ID" in message and "http://127.0.0.1:" in message and "developer.spotify.com" in message


def test_refresh_persists_a_rotated_refresh_token(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify
) -> None:
    link(user, fake_spotify)
    settings = get_settings()
    before_refresh, _ = stored_token_bytes(conn, user)
    cipher = TokenCipher.from_settings(settings)
    old_refresh = cipher.decrypt(before_refresh).get_secret_value()

    fake_spotify.expire_access_tokens()
    with httpx.Client() as http:
        client = client_for(user_id(conn, user), settings=settings, http=http)
        assert client.me().id == f"sp-{user}"  # 401 → one refresh → retried

    after_refresh, _ = stored_token_bytes(conn, user)
    new_refresh = cipher.decrypt(after_refresh).get_secret_value()
    assert new_refresh != old_refresh and new_refresh in fake_spotify.issued_tokens
    # The fake rotated: only the persisted new token still works, and it does.
    fake_spotify.expire_access_tokens()
    with httpx.Client() as http:
        assert client_for(user_id(conn, user), settings=settings, http=http).me().id == f"sp-{user}"
    assert len(fake_spotify.requests_to("token")) == 3  # login, then two refreshes


def test_invalid_grant_marks_the_user_needs_reauth(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify
) -> None:
    link(user, fake_spotify)
    fake_spotify.revoke_refresh_tokens()
    fake_spotify.expire_access_tokens()
    with httpx.Client() as http:
        client = client_for(user_id(conn, user), settings=get_settings(), http=http)
        with pytest.raises(InvalidGrantError):
            client.me()
        assert user_status(conn, user) == "needs_reauth"
        # From now on the user is not polled with these tokens at all.
        with pytest.raises(NotLinkedError, match="log in again"):
            client.me()
    # Logging in again repairs it.
    link(user, fake_spotify)
    assert user_status(conn, user) == "active"


def test_concurrent_refreshes_spend_the_refresh_token_once(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify
) -> None:
    """Two token sources of one user (say, two runs) both see an expired token: one refresh only."""
    link(user, fake_spotify)
    settings = get_settings()
    app = SpotifyApp.from_settings(settings)
    store = TokenStore(TokenCipher.from_settings(settings))
    uid = user_id(conn, user)
    conn.execute(
        "update app.spotify_tokens set access_expires_at = now() - interval '1 hour' where user_id = %s", (uid,)
    )
    conn.commit()
    with httpx.Client() as http:
        first = StoredTokenSource(uid, app, store, http, Budget.from_settings(settings))
        second = StoredTokenSource(uid, app, store, http, Budget.from_settings(settings))
        assert first.access_token() == second.access_token()
    assert len(fake_spotify.requests_to("token")) == 2  # the login and one refresh


def test_logout_forgets_the_tokens(conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify) -> None:
    link(user, fake_spotify)
    assert logout(user) is True
    conn.commit()
    assert conn.execute(
        "select count(*) from app.spotify_tokens where user_id = %s", (user_id(conn, user),)
    ).fetchone() == (0,)
    assert logout(user) is False
    with httpx.Client() as http, pytest.raises(NotLinkedError):
        client_for(user_id(conn, user), settings=get_settings(), http=http).me()


# -- keys -------------------------------------------------------------------------------------------


def test_encryption_round_trip_and_key_rotation(conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with environment(TOKEN_ENCRYPTION_KEY=old) as settings:
        link(user, fake_spotify, settings)
        encrypted, _ = stored_token_bytes(conn, user)
        assert Fernet(old.encode()).decrypt(encrypted).decode() in fake_spotify.issued_tokens

    # The new key first, the old one after it: everything still decrypts; rotate re-encrypts.
    with environment(TOKEN_ENCRYPTION_KEY=f"{new},{old}") as settings:
        store = TokenStore(TokenCipher.from_settings(settings))
        with psycopg.connect(conn.info.dsn, autocommit=True) as c, c.transaction():
            # (only this user's: other tests' tokens are under the session's key file)
            assert store.rotate_all(c, user_id(conn, user)) == 1
        rotated, _ = stored_token_bytes(conn, user)
        assert Fernet(new.encode()).decrypt(rotated) == Fernet(old.encode()).decrypt(encrypted)

    # Now the new key alone is enough, and the old key alone no longer opens the tokens.
    with environment(TOKEN_ENCRYPTION_KEY=new) as settings, httpx.Client() as http:
        assert client_for(user_id(conn, user), settings=settings, http=http).me().id == f"sp-{user}"
    with environment(TOKEN_ENCRYPTION_KEY=old) as settings, pytest.raises(TokenKeyError, match="cannot be decrypted"):
        TokenStore(TokenCipher.from_settings(settings)).load(conn, user_id(conn, user))
    logout(user)  # leave no token under a key other tests do not have


def test_key_file_is_created_private_and_reused(tmp_path: object) -> None:
    from pathlib import Path

    home = Path(str(tmp_path))
    with environment(SPOTIFY_HISTORY_HOME=str(home), TOKEN_ENCRYPTION_KEY=None) as settings:
        first = token_keys.load_keys(settings)
        path = settings.token_key_file
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert token_keys.load_keys(settings) == first
    with environment(TOKEN_ENCRYPTION_KEY="not-a-key") as settings, pytest.raises(TokenKeyError, match="not a Fernet"):
        token_keys.load_keys(settings)
    assert os.environ.get("SPOTIFY_HISTORY_HOME") != str(home)


def test_expiry_is_stored(conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify) -> None:
    started = datetime.now(UTC)
    link(user, fake_spotify)
    ended = datetime.now(UTC)
    conn.commit()
    (expires,) = conn.execute(
        "select access_expires_at from app.spotify_tokens where user_id = %s", (user_id(conn, user),)
    ).fetchone()
    # The token's hour counted from when it was granted, however long the login took.
    assert started + timedelta(seconds=3600) <= expires <= ended + timedelta(seconds=3600)
