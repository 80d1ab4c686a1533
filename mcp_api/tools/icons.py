"""Icons (MCP SEP-973) for the server and its tools: one small SVG per namespace, defined once here.

Each is inline, a `data:image/svg+xml;base64,...` URI: a host shows it without fetching anything, so
an icon can neither leak that a listener opened their history nor break when a URL moves. The
pictures are generic (a clock, a pulse, a note): the Spotify logo is Spotify's trademark, not ours
to show. Light strokes on a dark rounded square read on light and dark host themes alike.

The wire shape (`{src, mimeType, sizes}`) is kept as plain dicts, so that this package needs
nothing from the MCP SDK: the MCP door (mcp_api.doors.mcp_server) and the JSON catalog
(GET /mcp/tools) both list them.
"""

from __future__ import annotations

import base64
from typing import TypedDict

_FRAME = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48" viewBox="0 0 48 48">'
    '<rect width="48" height="48" rx="10" fill="#14532d"/>'
    '<g fill="none" stroke="#f0fdf4" stroke-width="3.5" stroke-linecap="round" stroke-linejoin="round">'
    "{body}</g></svg>"
)

_BODIES = {
    # What was played when: a clock face.
    "history": '<circle cx="24" cy="24" r="13"/><path d="M24 16v8l6 4"/>',
    # How fresh the data is: a pulse line.
    "ops": '<path d="M9 25h7l4-10 8 19 4-9h7"/>',
    # Spotify's own lists: a music note.
    "spotify": '<path d="M20 32V14l14-3v17"/><circle cx="16" cy="32" r="4"/><circle cx="30" cy="28" r="4"/>',
    # The server: a record (what the history is of) with its label.
    "server": '<circle cx="24" cy="24" r="14"/><circle cx="24" cy="24" r="4"/><path d="M24 14a10 10 0 0 1 10 10"/>',
}


class Icon(TypedDict):
    """One entry of an MCP `icons` list, as it goes on the wire."""

    src: str
    mimeType: str
    sizes: list[str]


def _icon(body: str) -> Icon:
    svg = _FRAME.format(body=body)
    src = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
    return {"src": src, "mimeType": "image/svg+xml", "sizes": ["any"]}  # an SVG scales to any size


def server_icons() -> list[Icon]:
    """The server's icons (in serverInfo: the initialize result, and the discover result's `_meta`)."""
    return [_icon(_BODIES["server"])]


def tool_icons(tool_name: str) -> list[Icon]:
    """The icons of a tool: its namespace's (`history.top_artists` → history). A namespace without a
    picture of its own gets the server's, so every tool has one."""
    namespace = tool_name.split(".", 1)[0]
    return [_icon(_BODIES.get(namespace, _BODIES["server"]))]  # built per call: callers own the dicts
