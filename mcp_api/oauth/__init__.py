"""OAuth 2.1 for /mcp, as the MCP authorization specification describes it.

The API is both the protected resource (RFC 9728 metadata, 401 challenges) and the authorization
server (RFC 8414 metadata, Client ID Metadata Documents, Dynamic Client Registration, /authorize
with PKCE S256, /token, /revoke) — the SDK's `mcp.server.auth` handlers serve the endpoints; this
package adds what they leave to the server: storage, client documents, the consent page.
"""
