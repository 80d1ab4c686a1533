"""Shared by the OAuth tests: a headless listener at the consent page, link codes from the CLI, token
storage for the SDK's OAuth client, and a local server for Client ID Metadata Documents."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from api_support import free_port
from mcp.client.auth import TokenStorage
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthToken

REDIRECT_URI = "http://127.0.0.1:8765/callback"
"""Never listened on: the headless listener reads the code from the redirect's Location header."""


def link_code(user: str) -> str:
    """A link code as a person gets it: the last line `spotify-history api-key link` prints."""
    from click.testing import CliRunner

    from orchestration.cli import main

    result = CliRunner().invoke(main, ["api-key", "link", "--user", user])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


@dataclass
class ConsentPage:
    """The consent page as a browser holds it: its form fields and the cookie set with it."""

    url: str
    status: int
    html: str
    fields: dict[str, str]
    browser: httpx.Client

    def submit(self, code: str, decision: str = "allow", **overrides: str) -> httpx.Response:
        data = {**self.fields, "code": code, "decision": decision, **overrides}
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.url))
        return self.browser.post(urljoin(self.url, "/consent"), data=data, headers={"Origin": origin})


def open_consent(authorize_url: str, browser: httpx.Client | None = None) -> ConsentPage:
    """Follow /authorize to the consent page (a fresh cookie jar unless a browser is given)."""
    browser = browser or httpx.Client(timeout=30)
    response = browser.get(authorize_url)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert urlsplit(location).path == "/consent", location
    page = browser.get(location)
    fields = dict(re.findall(r'<input type=hidden name=(\w+) value="([^"]*)">', page.text))
    return ConsentPage(location, page.status_code, page.text, fields, browser)


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


@dataclass
class HeadlessListener:
    """The SDK client's redirect and callback handlers: the listener opens the page and allows."""

    code: str
    """A link code or an API key."""
    result: AuthorizationCodeResult | None = None
    pages: list[ConsentPage] = field(default_factory=list)

    async def redirect(self, authorization_url: str) -> None:
        import asyncio

        page = await asyncio.to_thread(open_consent, authorization_url)
        self.pages.append(page)
        answer = await asyncio.to_thread(page.submit, self.code)
        params = redirect_params(answer)
        self.result = AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class DocumentServer:
    url: str
    hits: list[str]


@contextmanager
def document_server(document: dict[str, Any] | None = None, path: str = "/client.json") -> Iterator[DocumentServer]:
    """A Client ID Metadata Document on plain http at 127.0.0.1 (the server accepts such client ids
    only with OAUTH_LOOPBACK_CLIENT_METADATA). The document names its own URL as client_id."""
    port = free_port()
    url = f"http://127.0.0.1:{port}{path}"
    body = document or {
        "client_id": url,
        "client_name": "Test Assistant (metadata document)",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            payload = json.dumps(body).encode()
            self.send_response(200 if self.path == path else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield DocumentServer(url, hits)
    finally:
        server.shutdown()
        server.server_close()
