"""THE tool registry: the one ordered list of tools, served by three doors — the JSON dispatcher
(/mcp/call), the GPT Action endpoints (/v1/...) and MCP (/mcp). Each tool is defined in its
namespace's module (history.py — and insights.py for the insight tools of domain.md §3b —, ops.py,
spotify.py) with `@tool`: its function, argument and result models, SQL and view. Adding one:
define it there, add its line here (the order is the order every door lists them in), and give it a
view in mcp_api/views if it has one.
"""

from __future__ import annotations

from typing import Any

from mcp_api.tools import history, insights, ops, spotify
from mcp_api.tools.common import Tool

TOOLS: dict[str, Tool[Any, Any]] = {
    t.name: t
    for t in (
        history.taste_summary,
        history.top_artists,
        history.top_tracks,
        history.listening_heatmap,
        history.repeat_rate,
        history.coverage,
        insights.top_albums,
        insights.discoveries,
        insights.sessions,
        insights.skips,
        ops.sync_status,
        ops.latest_imports,
        spotify.get_top,
        history.search,
        ops.latest_job_runs,
    )
}
