"""`KEY=` means unset (issue 22, item 1): .env.example ships every optional setting as an empty placeholder,
and docker compose hands the empty values to the containers. Each setting then takes its default — an empty
TOKEN_ENCRYPTION_KEY the key file, an empty SPOTIFY_CLIENT_SECRET a PKCE public client, which the fake
Spotify checks the way Spotify does (Basic with an empty secret is refused)."""

from __future__ import annotations

import base64
from typing import Any, get_args

import httpx
import psycopg
import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings
from spotify_support import environment, fake_env, link, opener

from mcp_api.settings import ApiSettings
from orchestration.config import Settings
from orchestration.demo.fake_spotify import FakeSpotify
from orchestration.spotify import tokens as token_keys
from orchestration.spotify.accounts import login_with_opener
from orchestration.spotify.oauth import SpotifyApp

CLASSES: list[type[BaseSettings]] = [Settings, ApiSettings]
FIELDS = [(cls, name) for cls in CLASSES for name in cls.model_fields]


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


@pytest.mark.parametrize(("cls", "name"), FIELDS, ids=[f"{c.__name__}.{n}" for c, n in FIELDS])
def test_an_empty_value_is_the_default(cls: type[BaseSettings], name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for other in cls.model_fields:  # the defaults, whatever the test environment sets
        monkeypatch.delenv(other.upper(), raising=False)
    default = getattr(cls(), name)
    monkeypatch.setenv(name.upper(), "")
    value = getattr(cls(), name)
    if _is_secret(cls.model_fields[name].annotation):
        assert value is None, f"{name.upper()}= must mean no secret"
    assert value == default


def test_every_secret_is_covered() -> None:
    secrets = {name for cls, name in FIELDS if _is_secret(cls.model_fields[name].annotation)}
    assert {"token_encryption_key", "spotify_client_secret", "admin_api_key", "database_url"} <= secrets


def test_an_empty_token_key_means_the_key_file(tmp_path: object) -> None:
    with environment(SPOTIFY_HISTORY_HOME=str(tmp_path), TOKEN_ENCRYPTION_KEY="") as settings:
        assert settings.token_encryption_key is None
        keys = token_keys.load_keys(settings)
        assert settings.token_key_file.is_file() and keys


def test_the_fake_refuses_basic_with_an_empty_secret(fake_spotify: FakeSpotify) -> None:
    basic = base64.b64encode(f"{fake_spotify.client_id}:".encode()).decode()
    response = httpx.post(
        f"{fake_spotify.url}/api/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": "http://127.0.0.1/callback"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=10,
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_client"


def test_an_empty_client_secret_logs_in_as_a_public_pkce_client(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify
) -> None:
    with environment(**fake_env(fake_spotify, SPOTIFY_CLIENT_SECRET="")) as settings:
        assert settings.spotify_client_secret is None
        result = link(user, fake_spotify, settings=settings)
    assert result.spotify_user_id == f"sp-{user}"
    (token,) = fake_spotify.requests_to("token")
    assert token.params["client_id"] == fake_spotify.client_id  # named in the body: no Basic header


def test_an_empty_secret_given_in_code_is_no_secret_either(user: str, fake_spotify: FakeSpotify) -> None:
    with environment(**fake_env(fake_spotify)) as settings:
        app = SpotifyApp.from_settings(settings)
        app = SpotifyApp(app.client_id, SecretStr(""), app.accounts_base_url, app.api_base_url, app.redirect_port)
        fake_spotify.add_account(f"sp-{user}", user)
        fake_spotify.sign_in(f"sp-{user}")
        with httpx.Client(timeout=10) as http:
            assert login_with_opener(user, app, opener, settings=settings, http=http, port=0).spotify_user_id
