"""The doors: how callers reach the tools. The FastAPI application (app.py) with the JSON dispatcher and
the GPT Action endpoints (routes.py), MCP over Streamable HTTP (mcp_server.py) and over stdio
(stdio.py), behind middleware.py; runtime.py is what they share (settings, database, how a call runs)."""
