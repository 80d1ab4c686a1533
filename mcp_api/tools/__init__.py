"""The tools: one module per namespace (history.py, ops.py, spotify.py) and the one ordered list of
them (registry.py), served by every door (mcp_api/doors)."""

from mcp_api.tools.common import Tool, call
from mcp_api.tools.registry import TOOLS

__all__ = ["TOOLS", "Tool", "call"]
