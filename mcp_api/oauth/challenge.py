"""How /mcp tells a client without a valid token where to get one (RFC 9728 §5.1), and which paths
the OAuth flow itself uses (they take no Bearer token)."""

from __future__ import annotations

from mcp_api.oauth.clients import SCOPE

PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource"

PUBLIC_PATHS = frozenset(
    {
        PROTECTED_RESOURCE_PATH,
        f"{PROTECTED_RESOURCE_PATH}/mcp",
        "/.well-known/oauth-authorization-server",
        "/authorize",
        "/consent",
        "/token",
        "/register",
        "/revoke",
    }
)


def resource_metadata_url(public_base_url: str) -> str:
    return f"{public_base_url}{PROTECTED_RESOURCE_PATH}/mcp"


def challenge(public_base_url: str, error: str | None = None) -> str:
    """The WWW-Authenticate value of a 401 from /mcp."""
    parts = [f'resource_metadata="{resource_metadata_url(public_base_url)}"', f'scope="{SCOPE}"']
    if error:
        parts.insert(0, f'error="{error}"')
    return "Bearer " + ", ".join(parts)
