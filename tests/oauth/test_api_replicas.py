"""Several API processes behind one URL: what the OAuth connect flow needs between its requests is in
Postgres, so a flow started on one `serve-api` process completes on another (two real processes on
loopback, the first with `--workers 2`); and the compose override that runs two API replicas."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import yaml
from api_support import World, free_port
from export_files import CLI, REPO
from oauth_support import REDIRECT_URI, link_code


@contextmanager
def serve_api(public: str, port: int, *extra: str) -> Iterator[str]:
    """`spotify-history serve-api` on 127.0.0.1:port, told its public address is `public`."""
    env = {k: v for k, v in os.environ.items() if k != "API_DATABASE_URL"}
    env["PUBLIC_BASE_URL"] = public
    server = subprocess.Popen(
        [str(CLI), "serve-api", "--host", "127.0.0.1", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: --workers starts children
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a hang fails the test; how fast it starts is not tested
        while True:
            assert server.poll() is None, server.communicate()[1][-3000:]
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve-api did not come up"
            time.sleep(0.3)
        yield base
    finally:
        os.killpg(server.pid, 15)
        server.communicate(timeout=60)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def on(base: str, url: str) -> str:
    """The same path and query on another process (what a load balancer does with the public URL)."""
    parts = urlsplit(url)
    return f"{base}{parts.path}?{parts.query}" if parts.query else f"{base}{parts.path}"


def form_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type=hidden name=(\w+) value="([^"]*)">', page))


def test_an_oauth_connect_flow_started_on_one_process_completes_on_another(data: World) -> None:
    listener = data["efrrowini"]
    port_a, port_b = free_port(), free_port()
    public = f"http://127.0.0.1:{port_a}"  # one public URL; process B answers requests for it too
    with ExitStack() as stack:
        a = stack.enter_context(serve_api(public, port_a, "--workers", "2"))
        b = stack.enter_context(serve_api(public, port_b))
        browser = stack.enter_context(httpx.Client(timeout=30))  # one cookie jar: cookies ignore the port
        origin = {"Origin": public}

        registered = httpx.post(
            f"{a}/register",
            json={"client_name": "Replica test", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"},
            timeout=30,
        )
        assert registered.status_code == 201, registered.text
        client_id = registered.json()["client_id"]
        verifier, challenge = pkce()
        query = {
            "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "state": "st-r",
            "resource": f"{public}/mcp", "code_challenge": challenge, "code_challenge_method": "S256",
        }  # fmt: skip

        # /authorize on A leaves the pending request; B shows its consent page.
        authorized = browser.get(f"{a}/authorize?{urlencode(query)}")
        assert authorized.status_code == 302, authorized.text
        consent_url = authorized.headers["location"]
        assert consent_url.startswith(f"{public}/consent?request=")
        page = browser.get(on(b, consent_url))
        assert page.status_code == 200, page.text
        fields = form_fields(page.text)
        assert browser.cookies.get("consent") == fields["csrf"]

        # A wrong code answered by A counts for the request wherever it is served next ...
        wrong = browser.post(f"{a}/consent", data={**fields, "code": "WRONG-CODE-0000", "decision": "allow"},
                             headers=origin)  # fmt: skip
        assert wrong.status_code == 400 and "not valid" in wrong.text
        # ... and B takes the right one: the listener allowed.
        allowed = browser.post(f"{b}/consent", data={**fields, "code": link_code(listener.name), "decision": "allow"},
                               headers=origin)  # fmt: skip
        assert allowed.status_code == 303, allowed.text
        answer = {k: v[0] for k, v in parse_qs(urlsplit(allowed.headers["location"]).query).items()}
        assert answer["state"] == "st-r" and answer["iss"] == public
        # Answered once, for every process.
        again = browser.post(f"{a}/consent", data={**fields, "code": link_code(listener.name), "decision": "allow"},
                             headers=origin)  # fmt: skip
        assert again.status_code == 400 and "expired" in again.text

        # The code is exchanged on A, the token used on B and on A.
        tokens = httpx.post(
            f"{a}/token",
            data={"client_id": client_id, "grant_type": "authorization_code", "code": answer["code"],
                  "code_verifier": verifier, "redirect_uri": REDIRECT_URI},
            timeout=30,
        )  # fmt: skip
        assert tokens.status_code == 200, tokens.text
        access = tokens.json()["access_token"]
        for base in (b, a):
            listed = mcp_tools_list(base, access)
            assert listed.status_code == 200, listed.text
            assert len(listed.json()["result"]["tools"]) > 0


def mcp_tools_list(base: str, access_token: str) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {access_token}",
        "Accept": "application/json, text/event-stream",
        "Mcp-Protocol-Version": "2025-06-18",
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    return httpx.post(f"{base}/mcp", json=body, headers=headers, timeout=30)


# -- the compose override: two API replicas behind nginx ---------------------------------------------


class ComposeLoader(yaml.SafeLoader):
    """Compose's YAML: `!reset` clears what the base file set."""


ComposeLoader.add_constructor("!reset", lambda loader, node: "!reset")


def replicas_file() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((REPO / "docker-compose.replicas.yml").read_text(), Loader=ComposeLoader)
    return loaded


def test_the_replicas_override_runs_two_api_processes_behind_one_port() -> None:
    override = replicas_file()
    base = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    api, proxy = override["services"]["api"], override["services"]["api-proxy"]
    assert api["deploy"]["replicas"] == 2
    assert api["ports"] == "!reset"  # the replicas publish nothing: only the proxy reaches them
    # The proxy listens where the single API did.
    assert proxy["ports"] == base["services"]["api"]["ports"]
    assert proxy["depends_on"] == {"api": {"condition": "service_healthy"}}
    config = override["configs"]["api-proxy"]["content"]
    assert "server api:8000;" in config and "proxy_pass http://api_replicas;" in config
    assert "proxy_buffering off;" in config  # /mcp answers may be event streams
    # Compose interpolates `$NAME`: nginx's variables must be written `$$name`.
    assert re.findall(r"\$\w", config.replace("$$", "")) == []
    assert "$$proxy_add_x_forwarded_for" in config
    assert "docker-compose.replicas.yml" in (REPO / "docs" / "deployment.md").read_text()
