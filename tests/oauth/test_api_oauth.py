"""OAuth 2.1 for /mcp, driven as a client that knows only the /mcp URL: the SDK's OAuth client
discovers the server (RFC 9728, RFC 8414), registers (Dynamic Client Registration, or a Client ID
Metadata Document served from a local server), sends the listener to the consent page (answered
headlessly with a link code from the CLI), exchanges the code and calls tools over a real uvicorn.
Then the refusals, one by one, with plain HTTP requests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import httpx2
import psycopg
import pytest
from api_support import World, live_server, make_app
from click.testing import CliRunner
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from oauth_support import (
    REDIRECT_URI,
    HeadlessListener,
    MemoryStorage,
    document_server,
    link_code,
    open_consent,
    redirect_params,
)
from starlette.testclient import TestClient

from mcp_api.tools import TOOLS
from orchestration.cli import main


@pytest.fixture(scope="module")
def base(data: World) -> Iterator[str]:
    with live_server(oauth_loopback_client_metadata=True) as url:
        yield url


def client_metadata(name: str = "Test Assistant") -> OAuthClientMetadata:
    return OAuthClientMetadata(
        client_name=name,
        redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )


async def _connect(base: str, provider: OAuthClientProvider, work: Any) -> Any:
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await work(session)


def connect(base: str, provider: OAuthClientProvider, work: Any) -> Any:
    return asyncio.run(_connect(base, provider, work))


def dispatcher(base: str, key: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/mcp/call", json={"tool": tool, "args": args}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    return response.json()["result"]  # type: ignore[no-any-return]


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def listed_clients(user: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in cli("api-key", "list", "--user", user, "--json").splitlines()]
    return [line for line in lines if line["kind"] == "oauth_client"]


# -- discovery ---------------------------------------------------------------------------------------


def test_discovery_documents_and_challenge(base: str) -> None:
    unauthorized = httpx.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert unauthorized.status_code == 401
    challenge = unauthorized.headers["www-authenticate"]
    prm_url = f"{base}/.well-known/oauth-protected-resource/mcp"
    assert challenge.startswith("Bearer ") and f'resource_metadata="{prm_url}"' in challenge

    for url in (prm_url, f"{base}/.well-known/oauth-protected-resource"):
        prm = httpx.get(url).json()
        assert prm["resource"] == f"{base}/mcp"
        assert prm["authorization_servers"] == [base]
    metadata = httpx.get(f"{base}/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == base
    assert metadata["authorization_endpoint"] == f"{base}/authorize"
    assert metadata["token_endpoint"] == f"{base}/token"
    assert metadata["registration_endpoint"] == f"{base}/register"
    assert metadata["revocation_endpoint"] == f"{base}/revoke"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["client_id_metadata_document_supported"] is True
    assert set(metadata["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    # A discovery probe for a document this server does not publish is a 404, not a 401.
    assert httpx.get(f"{base}/.well-known/openid-configuration").status_code == 404


def test_public_base_url_names_every_endpoint(data: World) -> None:
    proxied = "https://history.example.org"
    with TestClient(make_app(public_base_url=proxied), base_url=proxied) as client:
        metadata = client.get("/.well-known/oauth-authorization-server").json()
        prm = client.get("/.well-known/oauth-protected-resource").json()
        challenge = client.post("/mcp", json={}).headers["www-authenticate"]
        consent_cookie_page = client.get("/consent?request=unknown")
    assert metadata["issuer"] == proxied
    assert all(metadata[k].startswith(f"{proxied}/") for k in ("authorization_endpoint", "token_endpoint"))
    assert prm == {**prm, "resource": f"{proxied}/mcp", "authorization_servers": [proxied]}
    assert f'resource_metadata="{proxied}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert consent_cookie_page.status_code == 400 and "strict-transport-security" in consent_cookie_page.headers


# -- the whole flow with the SDK's client ---------------------------------------------------------


def test_dynamic_registration_flow_calls_tools(base: str, data: World) -> None:
    listener = data["efrrowini"]
    headless = HeadlessListener(link_code(listener.name))
    storage = MemoryStorage()
    provider = OAuthClientProvider(f"{base}/mcp", client_metadata(), storage, headless.redirect, headless.callback)

    async def work(session: ClientSession) -> Any:
        tools = (await session.list_tools()).tools
        summary = await session.call_tool("history.taste_summary", {"days": 120})
        return tools, summary

    tools, summary = connect(base, provider, work)
    assert [t.name for t in tools] == list(TOOLS)
    assert not summary.is_error
    assert summary.structured_content == dispatcher(base, listener.key, "history.taste_summary", {"days": 120})

    # Registered by DCR (a server-issued id), shown on the consent page by name and redirect host.
    assert storage.client_info is not None and not storage.client_info.client_id.startswith("http")
    page = headless.pages[0]
    assert page.status == 200 and "Test Assistant" in page.html and "127.0.0.1:8765" in page.html
    assert storage.tokens is not None and storage.tokens.expires_in == 3600
    assert storage.tokens.access_token.startswith("sho_") and storage.tokens.refresh_token

    clients = listed_clients(listener.name)
    mine = [c for c in clients if c["client_id"] == storage.client_info.client_id]
    assert len(mine) == 1 and mine[0]["client_name"] == "Test Assistant" and mine[0]["last_used_at"] is not None
    assert mine[0]["redirect_host"] == "127.0.0.1:8765"


def test_client_id_metadata_document_flow(base: str, data: World, conn: psycopg.Connection) -> None:
    listener = data["vnegi10"]
    with document_server() as document:
        for round_ in range(2):
            headless = HeadlessListener(link_code(listener.name))
            storage = MemoryStorage()
            provider = OAuthClientProvider(
                f"{base}/mcp", client_metadata("ignored"), storage, headless.redirect, headless.callback,
                client_metadata_url="https://client.example/placeholder.json",
            )  # fmt: skip
            # The SDK insists on https for a client_id URL; the test document is on loopback http.
            provider.context.client_metadata_url = document.url

            async def work(session: ClientSession) -> Any:
                return await session.call_tool("ops.sync_status", {})

            result = connect(base, provider, work)
            assert not result.is_error
            assert result.structured_content == dispatcher(base, listener.key, "ops.sync_status", {})
            assert storage.client_info is not None and storage.client_info.client_id == document.url
            assert "Test Assistant (metadata document)" in headless.pages[0].html, round_
        # Fetched once, then served from the cache; never registered.
        assert document.hits == ["/client.json"]
    registered = conn.execute("select count(*) from app.oauth_clients where client_id = %s", (document.url,))
    assert registered.fetchone() == (0,)
    assert any(c["client_id"] == document.url for c in listed_clients(listener.name))


def test_loopback_http_client_ids_are_refused_by_default(data: World) -> None:
    with document_server() as document, live_server() as url:
        query = {"response_type": "code", "client_id": document.url, "redirect_uri": REDIRECT_URI}
        query |= {"code_challenge": "x" * 43, "state": "s"}
        response = httpx.get(f"{url}/authorize?{urlencode(query)}")
        assert response.status_code == 400 and "not found" in response.json()["error_description"]
        assert document.hits == []


# -- refusals, with plain HTTP ---------------------------------------------------------------------


def register(base: str, **extra: Any) -> httpx.Response:
    body = {"client_name": "Plain client", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"}
    return httpx.post(f"{base}/register", json={**body, **extra})


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize_url(base: str, client_id: str, challenge: str | None, **extra: str) -> str:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "state": "st-1"}
    query |= {"resource": f"{base}/mcp"} | ({"code_challenge": challenge} if challenge else {})
    return f"{base}/authorize?{urlencode({**query, **extra})}"


def authorize(base: str, client_id: str, user: str) -> tuple[str, str]:
    """(code, verifier) for a listener who allows with a fresh link code."""
    verifier, challenge = pkce()
    page = open_consent(authorize_url(base, client_id, challenge))
    params = redirect_params(page.submit(link_code(user)))
    assert params["state"] == "st-1" and params["iss"] == base
    return params["code"], verifier


def token(base: str, client_id: str, **form: str) -> httpx.Response:
    return httpx.post(f"{base}/token", data={"client_id": client_id, **form})


def exchange(base: str, client_id: str, code: str, verifier: str) -> httpx.Response:
    return token(
        base, client_id, grant_type="authorization_code", code=code, code_verifier=verifier, redirect_uri=REDIRECT_URI
    )


def mcp_status(base: str, access_token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json, text/event-stream"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    return httpx.post(f"{base}/mcp", json=body, headers={**headers, "Mcp-Protocol-Version": "2025-06-18"})


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge and "resource_metadata=" in challenge


@pytest.fixture(scope="module")
def public_client(base: str) -> str:
    response = register(base)
    assert response.status_code == 201, response.text
    return str(response.json()["client_id"])


def test_registration_needs_https_or_loopback_redirects(base: str) -> None:
    for uri in ("http://example.com/callback", "myapp://callback", "https://example.com/cb#fragment"):
        refused = register(base, redirect_uris=[uri])
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_redirect_uri", uri
    for uri in ("https://chatgpt.com/connector_platform_oauth_redirect", "http://[::1]:3000/cb"):
        assert register(base, redirect_uris=[uri]).status_code == 201, uri


def test_authorize_refuses_missing_pkce_plain_unknown_redirect_and_other_resource(
    base: str, public_client: str
) -> None:
    _, challenge = pkce()
    missing = httpx.get(authorize_url(base, public_client, None))
    assert redirect_params(missing)["error"] == "invalid_request"
    plain = httpx.get(authorize_url(base, public_client, challenge, code_challenge_method="plain"))
    assert redirect_params(plain)["error"] == "invalid_request"
    # An unregistered redirect URI is never redirected to: the error is shown here.
    elsewhere = httpx.get(authorize_url(base, public_client, challenge, redirect_uri="http://127.0.0.1:9/other"))
    assert elsewhere.status_code == 400 and "not registered" in elsewhere.json()["error_description"]
    other = httpx.get(authorize_url(base, public_client, challenge, resource="https://elsewhere.example/mcp"))
    assert redirect_params(other)["error"] == "invalid_target"
    # The loopback port may differ from the registered one (RFC 8252 §7.3).
    moved = httpx.get(authorize_url(base, public_client, challenge, redirect_uri="http://127.0.0.1:50123/callback"))
    assert moved.status_code == 302 and moved.headers["location"].startswith(f"{base}/consent?")


def test_code_is_single_use_and_bound_to_its_verifier(base: str, data: World, public_client: str) -> None:
    user = data["efrrowini"].name
    code, verifier = authorize(base, public_client, user)
    wrong = exchange(base, public_client, code, verifier + "x")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    first = exchange(base, public_client, code, verifier)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert mcp_status(base, tokens["access_token"]).status_code == 200

    again = exchange(base, public_client, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # A code presented twice revokes what it gave.
    assert_refused(mcp_status(base, tokens["access_token"]))
    assert (
        token(base, public_client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).status_code == 400
    )


def test_refresh_rotates_and_reuse_revokes_the_family(base: str, data: World, public_client: str) -> None:
    code, verifier = authorize(base, public_client, data["efrrowini"].name)
    first = exchange(base, public_client, code, verifier).json()
    refreshed = token(base, public_client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    assert mcp_status(base, second["access_token"]).status_code == 200

    reused = token(base, public_client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert_refused(mcp_status(base, second["access_token"]))
    later = token(base, public_client, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert later.status_code == 400


def test_expired_and_revoked_tokens_are_refused(
    base: str, data: World, public_client: str, conn: psycopg.Connection
) -> None:
    user = data["efrrowini"].name
    code, verifier = authorize(base, public_client, user)
    tokens = exchange(base, public_client, code, verifier).json()
    conn.execute(
        "update app.oauth_tokens set expires_at = now() - interval '1 second' where token_hash = %s",
        (hashlib.sha256(tokens["access_token"].encode()).hexdigest(),),
    )
    conn.commit()
    assert_refused(mcp_status(base, tokens["access_token"]))
    # The refresh token still works, and /revoke ends the whole connection.
    fresh = token(base, public_client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).json()
    assert mcp_status(base, fresh["access_token"]).status_code == 200
    revoked = httpx.post(
        f"{base}/revoke", data={"client_id": public_client, "client_secret": "", "token": fresh["refresh_token"]}
    )
    assert revoked.status_code == 200
    assert_refused(mcp_status(base, fresh["access_token"]))

    # api-key revoke oauth-N revokes a connected client's tokens.
    code, verifier = authorize(base, public_client, user)
    tokens = exchange(base, public_client, code, verifier).json()
    assert mcp_status(base, tokens["access_token"]).status_code == 200
    grant = max(
        (c for c in listed_clients(user) if c["client_id"] == public_client and c["revoked_at"] is None),
        key=lambda c: int(c["id"].removeprefix("oauth-")),
    )
    assert "revoked" in cli("api-key", "revoke", grant["id"])
    assert_refused(mcp_status(base, tokens["access_token"]))
    assert (
        token(base, public_client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).status_code == 400
    )


def test_tokens_are_stored_only_as_hashes(base: str, data: World, public_client: str, conn: psycopg.Connection) -> None:
    code, verifier = authorize(base, public_client, data["efrrowini"].name)
    tokens = exchange(base, public_client, code, verifier).json()
    dump = json.dumps(
        [
            conn.execute(f"select to_jsonb(t) from app.{table} t").fetchall()
            for table in ("oauth_tokens", "oauth_codes", "oauth_grants", "oauth_clients", "link_codes")
        ],
        default=str,
    )
    for secret in (tokens["access_token"], tokens["refresh_token"], code):
        assert secret not in dump and secret[4:] not in dump
    assert hashlib.sha256(tokens["access_token"].encode()).hexdigest() in dump


def test_oauth_tokens_open_only_mcp_and_api_keys_still_work(base: str, data: World, public_client: str) -> None:
    listener = data["efrrowini"]
    code, verifier = authorize(base, public_client, listener.name)
    access = exchange(base, public_client, code, verifier).json()["access_token"]
    path = TOOLS["history.coverage"].path
    v1 = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {access}"})
    assert v1.status_code == 401 and "valid only for /mcp" in v1.json()["error"]
    assert httpx.get(f"{base}{path}", headers=listener.auth).status_code == 200
    assert mcp_status(base, listener.key).status_code == 200


def test_a_token_reads_only_its_own_listener(base: str, data: World) -> None:
    a, b = data["efrrowini"], data["allisonkra"]
    headless = HeadlessListener(link_code(a.name))
    provider = OAuthClientProvider(
        f"{base}/mcp", client_metadata(), MemoryStorage(), headless.redirect, headless.callback
    )

    async def work(session: ClientSession) -> Any:
        own = await session.call_tool("history.top_artists", {"start": "2020-01-01", "end": "2024-12-31"})
        by_id = await session.call_tool("history.top_artists", {"user_id": b.user_id})
        by_name = await session.call_tool("ops.sync_status", {"user_id": b.name})
        return own, by_id, by_name

    own, by_id, by_name = connect(base, provider, work)
    args = {"start": "2020-01-01", "end": "2024-12-31"}
    assert own.structured_content == dispatcher(base, a.key, "history.top_artists", args)
    assert own.structured_content != dispatcher(base, b.key, "history.top_artists", args)
    for refused in (by_id, by_name):
        assert refused.is_error and "only its own user" in refused.content[0].text  # type: ignore[union-attr]


# -- the consent page --------------------------------------------------------------------------------


def test_consent_page_is_csrf_protected(base: str, data: World, public_client: str) -> None:
    user = data["efrrowini"].name
    _, challenge = pkce()
    page = open_consent(authorize_url(base, public_client, challenge))
    assert page.status == 200
    assert page.browser.cookies.get("consent") == page.fields["csrf"]
    policy = httpx.get(page.url, cookies={}).headers  # security headers, as on every response
    assert policy["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in policy["content-security-policy"]
    assert policy["referrer-policy"] == "same-origin"  # else browsers send `Origin: null` with the form
    assert "<script" not in page.html

    code = link_code(user)
    # A forged form: no cookie (another site's page cannot send it), or the wrong token.
    forged = httpx.post(f"{base}/consent", data={**page.fields, "code": code, "decision": "allow"})
    assert forged.status_code == 403
    wrong = page.submit(code, csrf="x" * 43)
    assert wrong.status_code == 403
    cross_site = page.browser.post(
        f"{base}/consent",
        data={**page.fields, "code": code, "decision": "allow"},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    # The link code was not spent by the refused posts.
    assert "code" in redirect_params(page.submit(code))


def test_consent_deny_wrong_codes_and_single_use(base: str, data: World, public_client: str) -> None:
    listener = data["efrrowini"]
    _, challenge = pkce()
    denied = open_consent(authorize_url(base, public_client, challenge)).submit("", decision="deny")
    assert redirect_params(denied) == {"error": "access_denied", "error_description": "the listener denied access",
                                       "state": "st-1", "iss": base}  # fmt: skip

    code = link_code(listener.name)
    assert len(code.replace("-", "")) >= 8
    used = open_consent(authorize_url(base, public_client, challenge))
    assert "code" in redirect_params(used.submit(code))
    again = open_consent(authorize_url(base, public_client, challenge)).submit(code)
    assert again.status_code == 400 and "not valid" in again.text
    # An API key of the listener proves who they are as well.
    assert "code" in redirect_params(open_consent(authorize_url(base, public_client, challenge)).submit(listener.key))


def test_wrong_codes_are_rate_limited(data: World, conn: psycopg.Connection) -> None:
    # The counters are in Postgres, shared by every API process (and every test's server): start
    # from none (earlier tests gave wrong codes too), and leave none, or 127.0.0.1 would stay blocked
    # for ten minutes for the later tests.
    conn.execute("delete from app.oauth_consent_failures")
    conn.commit()
    try:
        wrong_codes_are_rate_limited(data["efrrowini"].name)
    finally:
        conn.execute("delete from app.oauth_consent_failures")
        conn.commit()


def wrong_codes_are_rate_limited(user: str) -> None:
    with live_server() as url:
        client_id = register(url).json()["client_id"]
        _, challenge = pkce()
        first = open_consent(authorize_url(url, client_id, challenge))
        answers = [first.submit("WRONG-CODE-0000") for _ in range(5)]
        assert [a.status_code for a in answers] == [400] * 5
        assert "not valid" in answers[0].text and "Too many wrong codes" in answers[-1].text
        # The pending request died with its fifth wrong code: the right code no longer helps there.
        assert first.submit(link_code(user)).status_code == 400
        statuses = [open_consent(authorize_url(url, client_id, challenge)).submit("WRONG-CODE-0000").status_code
                    for _ in range(6)]  # fmt: skip
        assert statuses[:4] == [400] * 4 and statuses[-1] == 429
        blocked = open_consent(authorize_url(url, client_id, challenge)).submit(link_code(user))
        assert blocked.status_code == 429 and "Too many wrong codes" in blocked.text
