"""Who may ask for tokens: clients, their redirect URIs, and Client ID Metadata Documents.

Redirect URIs must be https, or http on a loopback address (RFC 8252 §7.3: a native client may
then pick any port at run time, so loopback URIs match whatever the port).

A Client ID Metadata Document client names itself by an https URL; the document at that URL is the
client's registration. It is fetched with limits (size, time, no redirects, public addresses only)
and cached, successes for as long as the server says (within bounds), failures briefly.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from mcp.shared.auth import InvalidRedirectUriError, OAuthClientInformationFull
from pydantic import AnyUrl, ValidationError

log = logging.getLogger("mcp_api.oauth")

SCOPE = "history:read"
"""The one scope: read the listener's history through every tool."""

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DOCUMENT_MAX_BYTES = 10 * 1024
DOCUMENT_TIMEOUT_SECONDS = 5.0
CACHE_DEFAULT_SECONDS = 3600.0
CACHE_MIN_SECONDS = 60.0
CACHE_MAX_SECONDS = 24 * 3600.0
FAILURE_CACHE_SECONDS = 30.0
CACHE_ENTRIES = 1000
_MAX_AGE = re.compile(r"max-age=(\d+)")


class Client(OAuthClientInformationFull):
    """A client as the authorization handlers see it, with loopback redirect URIs matched port-free."""

    def validate_redirect_uri(self, redirect_uri: AnyUrl | None) -> AnyUrl:
        if redirect_uri is not None and any(
            _same_redirect(str(r), str(redirect_uri)) for r in self.redirect_uris or []
        ):
            return redirect_uri
        if redirect_uri is not None:
            raise InvalidRedirectUriError(f"redirect_uri {str(redirect_uri)[:200]!r} is not registered for this client")
        return super().validate_redirect_uri(redirect_uri)

    @property
    def display_name(self) -> str:
        return (self.client_name or "").strip()[:100] or self.client_id[:100]


def is_loopback(host: str | None) -> bool:
    return (host or "").strip("[]").lower() in LOOPBACK_HOSTS


def redirect_uri_problem(uri: str) -> str | None:
    """Why a redirect URI may not be registered; None when it may."""
    parts = urlsplit(uri)
    if parts.fragment:
        return f"redirect URI {uri[:200]!r} has a fragment"
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return None
    return f"redirect URI {uri[:200]!r} must be https, or http on a loopback address (127.0.0.1, [::1], localhost)"


def _same_redirect(registered: str, given: str) -> bool:
    if registered == given:
        return True
    a, b = urlsplit(registered), urlsplit(given)
    return (
        a.scheme == b.scheme == "http"
        and is_loopback(a.hostname)
        and a.hostname == b.hostname
        and (a.path or "/") == (b.path or "/")
        and a.query == b.query
    )


class ClientDocumentError(Exception):
    """A client_id URL whose document cannot be used; the message says why."""


Fetch = Callable[[str], Awaitable[tuple[bytes, str | None]]]
"""(body, Cache-Control) of a document URL."""


class MetadataDocuments:
    """Client ID Metadata Documents: which client_ids are URLs, and the (cached) client each names."""

    def __init__(self, *, loopback_http: bool, fetch: Fetch | None = None, clock: Callable[[], float] = time.monotonic):
        self.loopback_http = loopback_http
        self.fetch = fetch or self._fetch
        self.clock = clock
        self._cache: dict[str, tuple[float, Client | str]] = {}  # url -> (until, client or error)

    def is_document_url(self, client_id: str) -> bool:
        parts = urlsplit(client_id)
        if parts.path in ("", "/") or parts.fragment or parts.username or parts.password:
            return False
        if parts.scheme == "https" and parts.hostname:
            return True
        return self.loopback_http and parts.scheme == "http" and is_loopback(parts.hostname)

    async def get(self, client_id: str) -> Client:
        """The client a document URL names; ClientDocumentError (cached briefly) when it cannot be used."""
        now = self.clock()
        cached = self._cache.get(client_id)
        if cached is not None and cached[0] > now:
            if isinstance(cached[1], str):
                raise ClientDocumentError(cached[1])
            return cached[1]
        try:
            body, cache_control = await self.fetch(client_id)
            client = parse_document(client_id, body)
        except ClientDocumentError as exc:
            self._remember(client_id, now + FAILURE_CACHE_SECONDS, str(exc))
            raise
        self._remember(client_id, now + _lifetime(cache_control), client)
        return client

    def _remember(self, url: str, until: float, entry: Client | str) -> None:
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache.pop(next(iter(self._cache)))
        self._cache[url] = (until, entry)

    async def _fetch(self, url: str) -> tuple[bytes, str | None]:
        parts = urlsplit(url)
        if parts.scheme == "https":
            await _require_public_address(parts.hostname or "", parts.port or 443)
        try:
            async with (
                httpx.AsyncClient(timeout=DOCUMENT_TIMEOUT_SECONDS, follow_redirects=False) as http,
                http.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise ClientDocumentError(f"client metadata document {url!r} answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > DOCUMENT_MAX_BYTES:
                        raise ClientDocumentError(
                            f"client metadata document {url!r} is over {DOCUMENT_MAX_BYTES} bytes"
                        )
                return bytes(body), response.headers.get("cache-control")
        except httpx.HTTPError as exc:
            raise ClientDocumentError(
                f"client metadata document {url!r} could not be fetched ({type(exc).__name__})"
            ) from exc


def parse_document(client_id: str, body: bytes) -> Client:
    try:
        document: Any = json.loads(body)
    except ValueError as exc:
        raise ClientDocumentError(f"client metadata document {client_id!r} is not JSON") from exc
    if not isinstance(document, dict):
        raise ClientDocumentError(f"client metadata document {client_id!r} is not a JSON object")
    if document.get("client_id") != client_id:
        raise ClientDocumentError(f"client metadata document {client_id!r} names another client_id")
    if "client_secret" in document or "client_secret_expires_at" in document:
        raise ClientDocumentError(f"client metadata document {client_id!r} may not contain a client secret")
    if document.get("token_endpoint_auth_method", "none") != "none":
        raise ClientDocumentError(
            f"client metadata document {client_id!r}: only token_endpoint_auth_method 'none' is supported"
        )
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        raise ClientDocumentError(f"client metadata document {client_id!r} has no redirect_uris")
    for uri in uris:
        if problem := redirect_uri_problem(uri):
            raise ClientDocumentError(f"client metadata document {client_id!r}: {problem}")
    try:
        return Client.model_validate(
            {**document, "token_endpoint_auth_method": "none", "scope": SCOPE, "client_id_issued_at": None}
        )
    except ValidationError as exc:
        raise ClientDocumentError(
            f"client metadata document {client_id!r} is invalid: {exc.errors()[0]['msg']}"
        ) from exc


def _lifetime(cache_control: str | None) -> float:
    match = _MAX_AGE.search(cache_control or "")
    if cache_control and "no-store" in cache_control:
        return CACHE_MIN_SECONDS
    seconds = float(match.group(1)) if match else CACHE_DEFAULT_SECONDS
    return min(CACHE_MAX_SECONDS, max(CACHE_MIN_SECONDS, seconds))


async def _require_public_address(host: str, port: int) -> None:
    """Refuse document hosts that resolve to private, loopback or link-local addresses (SSRF)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ClientDocumentError(f"client metadata host {host!r} does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise ClientDocumentError(f"client metadata host {host!r} is not a public address")
