"""Spotify tokens at rest: Fernet ciphertexts in app.spotify_tokens, never plain text.

Keys come from TOKEN_ENCRYPTION_KEY (comma-separated Fernet keys; the first encrypts, all decrypt:
a MultiFernet), or, when that is unset, from a key file created once with mode 0600 in
$SPOTIFY_HISTORY_HOME/secrets/ (one key per line, first is primary). `spotify-history auth
rotate-key` re-encrypts every stored token under the primary key. Keys are never printed or logged.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from orchestration.config import Settings
from orchestration.spotify.models import TokenResponse

log = logging.getLogger(__name__)


class TokenKeyError(Exception):
    """The encryption keys are missing, malformed, or do not open the stored tokens."""


# -- keys -----------------------------------------------------------------------------------------


def parse_keys(text: str) -> list[bytes]:
    keys = [part.strip().encode("ascii") for part in text.replace("\n", ",").split(",") if part.strip()]
    for i, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise TokenKeyError(
                f"encryption key {i} is not a Fernet key (32 url-safe base64-encoded bytes; "
                "`spotify-history auth generate-key` makes one)"
            ) from None
    return keys


def load_keys(settings: Settings) -> list[bytes]:
    """The configured keys, primary first; creates the key file on first use when no key is set."""
    if settings.token_encryption_key is not None:
        keys = parse_keys(settings.token_encryption_key.get_secret_value())
        if not keys:
            raise TokenKeyError("TOKEN_ENCRYPTION_KEY is set but empty")
        return keys
    path = settings.token_key_file
    if not path.exists():
        _create_key_file(path, [Fernet.generate_key()])
        log.warning(
            "created the token encryption key %s (mode 0600): back it up with the database, or set "
            "TOKEN_ENCRYPTION_KEY to manage the key yourself",
            path,
        )
    keys = parse_keys(_key_file_text(path))
    if not keys:
        raise TokenKeyError(f"the key file {path} holds no key")
    return keys


def _key_file_text(path: Path) -> str:
    lines = path.read_text(encoding="ascii").splitlines()
    return ",".join(line for line in lines if line.strip() and not line.lstrip().startswith("#"))


def _create_key_file(path: Path, keys: list[bytes]) -> None:
    """Write atomically, 0600, never replacing a file another process created meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = _write_private_temp(path, keys)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process won the race: use its key
    finally:
        tmp.unlink()


def replace_key_file(path: Path, keys: list[bytes]) -> None:
    """Atomically replace the key file's content (used by key rotation)."""
    tmp = _write_private_temp(path, keys)
    os.replace(tmp, path)


def _write_private_temp(path: Path, keys: list[bytes]) -> Path:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mkstemp creates it with mode 0600
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write("# Fernet keys for Spotify tokens, primary first. Keep this file secret.\n")
        f.writelines(key.decode("ascii") + "\n" for key in keys)
    return Path(name)


class TokenCipher:
    """MultiFernet over the configured keys."""

    def __init__(self, keys: list[bytes]) -> None:
        self.keys = keys
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCipher:
        return cls(load_keys(settings))

    def encrypt(self, secret: SecretStr) -> bytes:
        return self._fernet.encrypt(secret.get_secret_value().encode("utf-8"))

    def decrypt(self, ciphertext: bytes) -> SecretStr:
        try:
            return SecretStr(self._fernet.decrypt(bytes(ciphertext)).decode("utf-8"))
        except InvalidToken:
            raise TokenKeyError(
                "stored Spotify tokens cannot be decrypted with the configured key(s): was "
                "TOKEN_ENCRYPTION_KEY (or the key file) changed? Put the old key back (after the new one) "
                "and run `spotify-history auth rotate-key`, or log in again"
            ) from None

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt under the primary key (whichever listed key encrypted it)."""
        try:
            return self._fernet.rotate(bytes(ciphertext))
        except InvalidToken:
            raise TokenKeyError("a stored token cannot be decrypted with any configured key") from None


# -- the store ------------------------------------------------------------------------------------

EXPIRY_MARGIN = timedelta(seconds=60)  # refresh a little early rather than send a dying token


@dataclass(frozen=True)
class StoredTokens:
    user_id: int
    refresh_token: SecretStr
    access_token: SecretStr | None
    access_expires_at: datetime | None
    scope: str
    authorized_at: datetime
    invalidated_at: datetime | None

    def access_token_valid(self, now: datetime) -> bool:
        return (
            self.access_token is not None
            and self.access_expires_at is not None
            and self.access_expires_at - EXPIRY_MARGIN > now
        )


class TokenStore:
    """Reads and writes app.spotify_tokens; callers own the transaction."""

    def __init__(self, cipher: TokenCipher) -> None:
        self.cipher = cipher

    def save_login(self, conn: psycopg.Connection, user_id: int, tokens: TokenResponse, now: datetime) -> None:
        if tokens.refresh_token is None:
            raise TokenKeyError("Spotify returned no refresh token for the login")
        conn.execute(
            """
            insert into app.spotify_tokens as t
                (user_id, refresh_token_enc, access_token_enc, access_expires_at, scope, authorized_at,
                 refreshed_at, invalidated_at, updated_at)
            values (%(user_id)s, %(refresh)s, %(access)s, %(expires)s, %(scope)s, %(now)s, null, null, %(now)s)
            on conflict (user_id) do update set
                refresh_token_enc = excluded.refresh_token_enc, access_token_enc = excluded.access_token_enc,
                access_expires_at = excluded.access_expires_at, scope = excluded.scope,
                authorized_at = excluded.authorized_at, refreshed_at = null, invalidated_at = null,
                updated_at = excluded.updated_at
            """,
            {
                "user_id": user_id,
                "refresh": self.cipher.encrypt(tokens.refresh_token),
                "access": self.cipher.encrypt(tokens.access_token),
                "expires": now + timedelta(seconds=tokens.expires_in),
                "scope": tokens.scope,
                "now": now,
            },
        )

    def save_refresh(self, conn: psycopg.Connection, user_id: int, tokens: TokenResponse, now: datetime) -> None:
        """Store a refreshed access token, and the new refresh token when Spotify rotated it."""
        conn.execute(
            """
            update app.spotify_tokens set
                access_token_enc = %(access)s, access_expires_at = %(expires)s,
                refresh_token_enc = coalesce(%(refresh)s, refresh_token_enc),
                scope = coalesce(nullif(%(scope)s, ''), scope), refreshed_at = %(now)s, updated_at = %(now)s
            where user_id = %(user_id)s
            """,
            {
                "user_id": user_id,
                "access": self.cipher.encrypt(tokens.access_token),
                "expires": now + timedelta(seconds=tokens.expires_in),
                "refresh": self.cipher.encrypt(tokens.refresh_token) if tokens.refresh_token else None,
                "scope": tokens.scope,
                "now": now,
            },
        )

    def load(self, conn: psycopg.Connection, user_id: int, *, for_update: bool = False) -> StoredTokens | None:
        row = conn.execute(
            "select refresh_token_enc, access_token_enc, access_expires_at, scope, authorized_at, invalidated_at "
            "from app.spotify_tokens where user_id = %s" + (" for update" if for_update else ""),
            (user_id,),
        ).fetchone()
        if row is None:
            return None
        refresh_enc, access_enc, expires, scope, authorized_at, invalidated_at = row
        return StoredTokens(
            user_id=user_id,
            refresh_token=self.cipher.decrypt(refresh_enc),
            access_token=self.cipher.decrypt(access_enc) if access_enc is not None else None,
            access_expires_at=expires,
            scope=scope,
            authorized_at=authorized_at,
            invalidated_at=invalidated_at,
        )

    def mark_invalid(self, conn: psycopg.Connection, user_id: int, now: datetime) -> None:
        """Spotify refused the refresh token: forget the access token, keep the row as a record."""
        conn.execute(
            "update app.spotify_tokens set access_token_enc = null, access_expires_at = null, "
            "invalidated_at = %s, updated_at = %s where user_id = %s",
            (now, now, user_id),
        )

    @staticmethod
    def delete(conn: psycopg.Connection, user_id: int) -> bool:
        return conn.execute("delete from app.spotify_tokens where user_id = %s", (user_id,)).rowcount > 0

    def rotate_all(self, conn: psycopg.Connection, user_id: int | None = None) -> int:
        """Re-encrypt every stored token (or one user's) under the primary key; returns how many users'."""
        rows = conn.execute(
            "select user_id, refresh_token_enc, access_token_enc from app.spotify_tokens "
            "where %(user_id)s::integer is null or user_id = %(user_id)s for update",
            {"user_id": user_id},
        ).fetchall()
        for user_id, refresh_enc, access_enc in rows:
            conn.execute(
                "update app.spotify_tokens set refresh_token_enc = %s, access_token_enc = %s where user_id = %s",
                (
                    self.cipher.rotate(refresh_enc),
                    self.cipher.rotate(access_enc) if access_enc is not None else None,
                    user_id,
                ),
            )
        return len(rows)
