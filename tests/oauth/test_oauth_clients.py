"""OAuth building blocks without a database: Client ID Metadata Documents (limits, validation,
caching), redirect URI rules, link codes."""

from __future__ import annotations

import asyncio
import json

import pytest
from mcp.shared.auth import InvalidRedirectUriError
from oauth_support import REDIRECT_URI, document_server
from pydantic import AnyUrl

from mcp_api.oauth import secrets
from mcp_api.oauth.clients import (
    DOCUMENT_MAX_BYTES,
    FAILURE_CACHE_SECONDS,
    ClientDocumentError,
    MetadataDocuments,
    parse_document,
    redirect_uri_problem,
)

URL = "https://assistant.example/oauth/client.json"


def document(**changes: object) -> bytes:
    body = {"client_id": URL, "client_name": "Assistant", "redirect_uris": ["https://assistant.example/cb"]}
    return json.dumps({**body, **changes}).encode()


def test_document_urls() -> None:
    strict = MetadataDocuments(loopback_http=False)
    assert strict.is_document_url(URL)
    for not_a_document in (
        "https://assistant.example/",
        "https://assistant.example",
        "0b8c-uuid",
        "http://a.example/c",
    ):
        assert not strict.is_document_url(not_a_document), not_a_document
    assert not strict.is_document_url("http://127.0.0.1:9/client.json")  # only with the test/dev setting
    assert MetadataDocuments(loopback_http=True).is_document_url("http://127.0.0.1:9/client.json")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"client_id": "https://other.example/client.json"}, "another client_id"),
        ({"client_secret": "s"}, "client secret"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "'none'"),
        ({"redirect_uris": []}, "no redirect_uris"),
        ({"redirect_uris": ["http://assistant.example/cb"]}, "must be https"),
    ],
)
def test_documents_are_validated(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(ClientDocumentError, match=reason):
        parse_document(URL, document(**changes))
    with pytest.raises(ClientDocumentError, match="not JSON"):
        parse_document(URL, b"<html>")


def test_a_valid_document_is_a_public_client() -> None:
    client = parse_document(URL, document())
    assert client.client_id == URL and client.token_endpoint_auth_method == "none"
    assert client.display_name == "Assistant" and client.scope == "history:read"


def test_documents_are_cached_and_failures_briefly() -> None:
    now = [0.0]
    answers = [(document(), "max-age=120"), (b"{}", None)]
    calls: list[str] = []

    async def fetch(url: str) -> tuple[bytes, str | None]:
        calls.append(url)
        return answers[min(len(calls), len(answers)) - 1]

    documents = MetadataDocuments(loopback_http=False, fetch=fetch, clock=lambda: now[0])

    async def get() -> object:
        return await documents.get(URL)

    assert asyncio.run(get()) is asyncio.run(get())  # one fetch, then the cache
    assert len(calls) == 1
    now[0] = 121.0  # max-age passed: fetched again, and now broken
    with pytest.raises(ClientDocumentError):
        asyncio.run(get())
    with pytest.raises(ClientDocumentError):
        asyncio.run(get())
    assert len(calls) == 2
    now[0] += FAILURE_CACHE_SECONDS + 1
    with pytest.raises(ClientDocumentError):
        asyncio.run(get())
    assert len(calls) == 3


def test_fetch_limits_size() -> None:
    big = {"client_id": "x", "redirect_uris": [REDIRECT_URI], "padding": "x" * DOCUMENT_MAX_BYTES}
    with document_server(big) as served:
        documents = MetadataDocuments(loopback_http=True)
        with pytest.raises(ClientDocumentError, match="over"):
            asyncio.run(documents.get(served.url))
    with document_server() as served:
        client = asyncio.run(MetadataDocuments(loopback_http=True).get(served.url))
        assert client.redirect_uris == [AnyUrl(REDIRECT_URI)]
        with pytest.raises(ClientDocumentError, match="HTTP 404"):
            asyncio.run(MetadataDocuments(loopback_http=True).get(served.url.replace("client.json", "other.json")))


def test_https_documents_on_private_addresses_are_refused() -> None:
    with pytest.raises(ClientDocumentError, match="not a public address"):
        asyncio.run(MetadataDocuments(loopback_http=False).get("https://localhost/client.json"))


def test_redirect_uris() -> None:
    for allowed in ("https://chatgpt.com/connector_platform_oauth_redirect", "http://127.0.0.1:33418/callback",
                    "http://localhost/cb", "http://[::1]:8080/cb"):  # fmt: skip
        assert redirect_uri_problem(allowed) is None, allowed
    for refused in ("http://example.com/cb", "cursor://anysphere/cb", "https://example.com/cb#x", "https:///cb"):
        assert redirect_uri_problem(refused) is not None, refused
    client = parse_document(URL, document(redirect_uris=["http://127.0.0.1/callback", "https://a.example/cb"]))
    # Loopback: any port (RFC 8252 §7.3); otherwise exactly as registered.
    assert client.validate_redirect_uri(AnyUrl("http://127.0.0.1:50123/callback"))
    for wrong in ("http://127.0.0.1:50123/other", "http://localhost:50123/callback", "https://a.example/cb2"):
        with pytest.raises(InvalidRedirectUriError):
            client.validate_redirect_uri(AnyUrl(wrong))


def test_link_codes() -> None:
    code = secrets.link_code()
    assert len(code.replace("-", "")) >= 8
    assert secrets.normalize_link_code(code.lower().replace("-", " ")) == code.replace("-", "")
    assert secrets.link_code_hash(code) == secrets.hash_secret(code.replace("-", ""))
    for typo in ("", "ABCD", code + "X", code.replace(code[0], "0")):
        assert secrets.normalize_link_code(typo) is None, typo
    assert len({secrets.link_code() for _ in range(100)}) == 100
