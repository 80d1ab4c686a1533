"""MCP Apps views (extension `io.modelcontextprotocol/ui`): a picture of a tool's answer that hosts
such as ChatGPT and Claude draw next to it.

Each view is one self-contained HTML document (inline CSS and JavaScript, no network) built by
`build.py` from the parts in `src/` into `built/`, which is committed, so installs need no node.
A tool names its view (`Tool.view`); MCP lists it under the tool's `_meta.ui.resourceUri` and
serves the document by `resources/read` (resources.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources as package_files
from typing import Any

EXTENSION_ID = "io.modelcontextprotocol/ui"
MIME_TYPE = "text/html;profile=mcp-app"
URI_PREFIX = "ui://spotify-history/"
MAX_BYTES = 150_000
"""A view must stay small: hosts fetch it for every tool that names it."""

CSP: dict[str, list[str]] = {"connectDomains": [], "resourceDomains": [], "frameDomains": [], "baseUriDomains": []}
"""No outside origin at all: the views draw only what the tool result carries."""


@dataclass(frozen=True)
class View:
    name: str
    """File stem in built/ and src/, and the last part of the URI."""
    title: str
    description: str
    parts: tuple[str, ...]
    """The view's own files in src/ (after the shared core.css and core.js), in order."""

    @property
    def uri(self) -> str:
        return f"{URI_PREFIX}{self.name}.html"

    def html(self) -> str:
        return _built(self.name)

    def tool_meta(self) -> dict[str, Any]:
        # The flat "ui/resourceUri" key is the extension's deprecated spelling; the reference SDK
        # (registerAppTool) still sends both so that older hosts find the view too.
        return {"ui": {"resourceUri": self.uri}, "ui/resourceUri": self.uri}

    def resource_meta(self) -> dict[str, Any]:
        return {"ui": {"csp": CSP, "prefersBorder": True}}


@functools.cache
def _built(name: str) -> str:
    return (package_files.files(__package__) / "built" / f"{name}.html").read_text(encoding="utf-8")


HEATMAP = View(
    "heatmap",
    "Listening heatmap",
    "Plays per local weekday and hour as a 7 × 24 grid, the peak marked.",
    ("heatmap.css", "heatmap.js"),
)
TOP_ARTISTS = View(
    "top-artists",
    "Top artists",
    "The most played artists as ranked bars: plays, minutes and share of all plays.",
    ("bars.css", "bars.js", "top-artists.js"),
)
TOP_TRACKS = View(
    "top-tracks",
    "Top tracks",
    "The most played tracks as ranked bars: plays, minutes and share of all plays.",
    ("bars.css", "bars.js", "top-tracks.js"),
)
COVERAGE = View(
    "coverage",
    "History coverage",
    "A timeline of the window: each source's span (export, API), the gaps drawn and listed.",
    ("coverage.css", "coverage.js"),
)
TASTE = View(
    "taste-summary",
    "Taste summary",
    "A card: plays and minutes, top 5 artists and tracks, peak hour and weekday, repeat rate, content mix.",
    ("taste.css", "taste.js"),
)

VIEWS: dict[str, View] = {v.uri: v for v in (HEATMAP, TOP_ARTISTS, TOP_TRACKS, COVERAGE, TASTE)}
