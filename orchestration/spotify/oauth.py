"""Spotify authorization: the authorization-code flow with PKCE and a `state` check.

The redirect goes to a loopback address, http://127.0.0.1:PORT/callback (Spotify refuses
`localhost`). Either a small callback server catches it (the browser runs on this machine), or the
person pastes the URL their browser was sent to (`--no-browser`, headless servers).
Token-endpoint calls (code exchange, refresh) live here too; they never log or raise a token.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from pydantic import SecretStr, ValidationError

from orchestration.config import Settings
from orchestration.spotify.errors import InvalidGrantError, NotConfiguredError, OAuthError
from orchestration.spotify.models import TokenResponse
from orchestration.spotify.transport import Budget, send

SCOPES = ("user-read-recently-played", "user-top-read")
REDIRECT_HOST = "127.0.0.1"
CALLBACK_PATH = "/callback"

CONFIGURE_HINT = (
    "SPOTIFY_CLIENT_ID is not set. Create an app at https://developer.spotify.com/dashboard, add the "
    "redirect URI http://127.0.0.1:{port}/callback to it (Spotify refuses 'localhost'; the port is "
    "SPOTIFY_REDIRECT_PORT), then set SPOTIFY_CLIENT_ID (SPOTIFY_CLIENT_SECRET is optional: the login "
    "uses PKCE)."
)


@dataclass(frozen=True)
class SpotifyApp:
    """The registered Spotify app and where Spotify (or the fake) is."""

    client_id: str
    client_secret: SecretStr | None
    accounts_base_url: str
    api_base_url: str
    redirect_port: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SpotifyApp:
        if not settings.spotify_client_id:
            raise NotConfiguredError(CONFIGURE_HINT.format(port=settings.spotify_redirect_port))
        return cls(
            client_id=settings.spotify_client_id,
            client_secret=settings.spotify_client_secret,
            accounts_base_url=settings.spotify_accounts_base_url.rstrip("/"),
            api_base_url=settings.spotify_api_base_url.rstrip("/"),
            redirect_port=settings.spotify_redirect_port,
        )

    @property
    def token_url(self) -> str:
        return f"{self.accounts_base_url}/api/token"


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


def new_pkce() -> Pkce:
    verifier = secrets.token_urlsafe(64)[:128]  # 43-128 characters of [A-Za-z0-9-._~]
    return Pkce(verifier, pkce_challenge(verifier))


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def redirect_uri(port: int) -> str:
    return f"http://{REDIRECT_HOST}:{port}{CALLBACK_PATH}"


class Authorization:
    """One login attempt: its state, PKCE pair and the consent-page URL."""

    def __init__(self, app: SpotifyApp, port: int) -> None:
        if not 0 < port < 65536:
            raise OAuthError(f"invalid redirect port {port}")
        self.app = app
        self.redirect_uri = redirect_uri(port)
        self.state = secrets.token_urlsafe(24)
        self.pkce = new_pkce()

    @property
    def url(self) -> str:
        query = urlencode(
            {
                "client_id": self.app.client_id,
                "response_type": "code",
                "redirect_uri": self.redirect_uri,
                "code_challenge_method": "S256",
                "code_challenge": self.pkce.challenge,
                "state": self.state,
                "scope": " ".join(SCOPES),
            }
        )
        return f"{self.app.accounts_base_url}/authorize?{query}"

    def code_from_redirect(self, redirected_to: str) -> str:
        """The authorization code in the URL Spotify sent the browser to, after checking its state."""
        text = redirected_to.strip()
        parts = urlsplit(text)
        if parts.path and parts.path != CALLBACK_PATH and "?" in text:
            raise OAuthError(f"that is not the redirect URL (expected a {CALLBACK_PATH}?code=… address)")
        params = parse_qs(parts.query if "?" in text else text.lstrip("?"))
        state = params.get("state", [""])[0]
        if not secrets.compare_digest(state, self.state):
            raise OAuthError("state mismatch: that redirect does not belong to this login attempt; start again")
        if "error" in params:
            raise OAuthError(f"Spotify did not authorize the app: {params['error'][0]}")
        code = params.get("code", [""])[0]
        if not code:
            raise OAuthError("the redirect URL carries no authorization code")
        return code

    def exchange(self, http: httpx.Client, code: str, budget: Budget) -> TokenResponse:
        """Trade the code (and the PKCE verifier) for tokens."""
        return token_request(
            http,
            self.app,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": self.pkce.verifier,
            },
            budget,
        )


def refresh(http: httpx.Client, app: SpotifyApp, refresh_token: str, budget: Budget) -> TokenResponse:
    """A new access token (and maybe a new refresh token). InvalidGrantError: authorize again."""
    return token_request(http, app, {"grant_type": "refresh_token", "refresh_token": refresh_token}, budget)


def token_request(http: httpx.Client, app: SpotifyApp, form: dict[str, str], budget: Budget) -> TokenResponse:
    grant = form["grant_type"]
    auth = httpx.Auth()  # the base class adds nothing
    # A confidential client authenticates with HTTP Basic; an empty secret is no secret (PKCE only).
    if app.client_secret is not None and app.client_secret.get_secret_value():
        auth = httpx.BasicAuth(app.client_id, app.client_secret.get_secret_value())
    else:
        form = {**form, "client_id": app.client_id}  # a public (PKCE) client names itself in the body
    response = send(lambda: http.post(app.token_url, data=form, auth=auth), budget, f"token request ({grant})")
    if response.status_code != 200:
        error, description = _token_error(response)
        if error == "invalid_grant":
            raise InvalidGrantError(f"Spotify refused the {grant.replace('_', ' ')}: invalid_grant ({description})")
        raise OAuthError(f"token request ({grant}) failed: HTTP {response.status_code} {error} {description}".strip())
    try:
        return TokenResponse.model_validate_json(response.content)
    except ValidationError:
        # Never chain the validation error: its context is the response, which holds tokens.
        raise OAuthError(f"token request ({grant}): Spotify's answer has an unexpected shape") from None


def _token_error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error", "")), str(body.get("error_description", ""))


# -- the loopback callback server -----------------------------------------------------------------


class CallbackServer:
    """Listens on 127.0.0.1:PORT for the one redirect of a login (port 0: any free port)."""

    def __init__(self, port: int) -> None:
        received: list[str] = []
        done = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != CALLBACK_PATH:
                    self.send_error(404)
                    return
                if not done.is_set():
                    received.append(self.path)
                    done.set()
                ok = "error=" not in self.path
                page = (
                    "Spotify is linked. You can close this tab and return to the terminal."
                    if ok
                    else "Spotify did not authorize the app; see the terminal."
                )
                body = f"<!doctype html><title>spotify-history</title><p>{html.escape(page)}</p>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the request line carries the authorization code: never print it

        try:
            self._server = ThreadingHTTPServer((REDIRECT_HOST, port), Handler)
        except OSError as exc:
            raise OAuthError(
                f"cannot listen on {REDIRECT_HOST}:{port} for the redirect ({exc.strerror}); "
                "free that port or choose another with SPOTIFY_REDIRECT_PORT / --port "
                "(and register that redirect URI in your Spotify app)"
            ) from None
        self._received = received
        self._done = done
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-callback", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def wait(self, timeout: float) -> str:
        """The path and query of the redirect (e.g. /callback?code=…&state=…)."""
        if not self._done.wait(timeout):
            raise OAuthError(f"no answer from Spotify within {timeout:.0f} s; run the login again")
        return self._received[0]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CallbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
