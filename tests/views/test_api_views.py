"""The MCP Apps views at the MCP level: tools/list links the five tools to their views
(_meta.ui.resourceUri), resources/list lists the ui:// resources, resources/read returns each
self-contained HTML document with the extension's MIME type and CSP metadata that declares no
outside domain; the committed built files are what the build script makes from the sources."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from api_support import World, live_server
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import INVALID_PARAMS
from test_api_mcp import run

from mcp_api import views
from mcp_api.tools import TOOLS
from mcp_api.views import build

WITH_VIEWS = {
    "history.listening_heatmap": "ui://spotify-history/heatmap.html",
    "history.top_artists": "ui://spotify-history/top-artists.html",
    "history.top_tracks": "ui://spotify-history/top-tracks.html",
    "history.coverage": "ui://spotify-history/coverage.html",
    "history.taste_summary": "ui://spotify-history/taste-summary.html",
}
NO_DOMAINS = {"connectDomains": [], "resourceDomains": [], "frameDomains": [], "baseUriDomains": []}


@pytest.fixture(scope="module")
def base(data: World) -> Iterator[str]:
    with live_server() as url:
        yield url


def test_tools_list_links_the_views(base: str, data: World) -> None:
    async def work(session: ClientSession) -> Any:
        return (await session.list_tools()).tools

    tools = {t.name: t for t in run(base, data["efrrowini"].key, work)}
    linked = {name: t.meta["ui"]["resourceUri"] for name, t in tools.items() if t.meta and "ui" in t.meta}
    assert linked == WITH_VIEWS
    for name, uri in WITH_VIEWS.items():
        assert tools[name].meta == {"ui": {"resourceUri": uri}, "ui/resourceUri": uri}
        assert tools[name].output_schema is not None  # text and structuredContent as before


def test_resources_list_and_read(base: str, data: World) -> None:
    async def work(session: ClientSession) -> Any:
        listed = (await session.list_resources()).resources
        return listed, {r.uri: await session.read_resource(r.uri) for r in listed}

    listed, read = run(base, data["efrrowini"].key, work)
    assert sorted(r.uri for r in listed) == sorted(WITH_VIEWS.values())
    for resource in listed:
        assert resource.mime_type == "text/html;profile=mcp-app"
        assert resource.meta == {"ui": {"csp": NO_DOMAINS, "prefersBorder": True}}
        (content,) = read[resource.uri].contents
        assert content.uri == resource.uri
        assert content.mime_type == "text/html;profile=mcp-app"
        assert content.meta == {"ui": {"csp": NO_DOMAINS, "prefersBorder": True}}
        html = content.text
        assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
        assert len(html.encode("utf-8")) == resource.size <= 150_000
        assert_self_contained(html)


def test_unknown_resource_is_an_error(base: str, data: World) -> None:
    async def work(session: ClientSession) -> Any:
        try:
            await session.read_resource("ui://spotify-history/nothing.html")
        except MCPError as exc:
            return exc
        return None

    error = run(base, data["efrrowini"].key, work)
    assert isinstance(error, MCPError) and error.code == INVALID_PARAMS
    assert "unknown resource 'ui://spotify-history/nothing.html'" in error.message


def assert_self_contained(html: str) -> None:
    """Inline CSS and JS only; nothing that would load from anywhere; its own CSP says so too."""
    assert not re.search(r"(?i)<(?:link|img|iframe|object|embed|audio|video|source)\b", html)
    assert not re.search(r"(?i)\b(?:src|href|action)\s*=", html)
    assert not re.search(r"(?i)https?:|wss?:|@import|url\s*\(", html)
    assert re.search(r"(?i)<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';", html)
    assert "connect-src 'none'" in html
    assert "postMessage" in html and "ui/initialize" in html


def test_built_views_are_up_to_date() -> None:
    """The committed built/*.html are exactly what `scripts/build-views` makes from src/."""
    assert build.main(["--check"]) == 0
    for view in views.VIEWS.values():
        assert view.html() == build.render(view)


def test_the_build_refuses_outside_references() -> None:
    with pytest.raises(build.BuildError, match="refers outside"):
        build.check(views.HEATMAP, "<html><style>@import 'x.css';</style></html>")
    with pytest.raises(build.BuildError, match="bytes"):
        build.check(views.HEATMAP, "x" * (views.MAX_BYTES + 1))


def test_every_tool_with_a_view_is_one_of_the_five() -> None:
    assert {name for name, t in TOOLS.items() if t.view} == set(WITH_VIEWS)
    assert {t.view.uri for t in TOOLS.values() if t.view} == set(views.VIEWS)
