"""The API that serves the marts to assistants (MCP tools and a ChatGPT Action)."""
