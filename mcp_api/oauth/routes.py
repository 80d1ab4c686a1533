"""The OAuth endpoints, assembled from the SDK's handlers around this server's provider.

    GET  /.well-known/oauth-protected-resource[/mcp]   RFC 9728: /mcp is protected by this server
    GET  /.well-known/oauth-authorization-server       RFC 8414: endpoints, PKCE S256, CIMD support
    POST /register                                     RFC 7591 Dynamic Client Registration
    GET  /authorize  →  GET/POST /consent               authorization code + PKCE, the consent page
    POST /token, POST /revoke

Every URL is built from PUBLIC_BASE_URL (the issuer), so it holds behind a reverse proxy. The SDK's
`create_auth_routes` is not used as is: its client authenticator compares client secrets in clear,
while this server keeps only their hashes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import unquote

from mcp.server.auth.handlers.authorize import AuthorizationHandler
from mcp.server.auth.handlers.metadata import MetadataHandler, ProtectedResourceMetadataHandler
from mcp.server.auth.handlers.register import RegistrationHandler
from mcp.server.auth.handlers.revoke import RevocationHandler
from mcp.server.auth.handlers.token import TokenHandler
from mcp.server.auth.middleware.client_auth import AuthenticationError, ClientAuthenticator
from mcp.server.auth.routes import build_metadata, cors_middleware
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from mcp.shared.auth import OAuthClientInformationFull, OAuthMetadata, ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from mcp_api.oauth import consent, secrets
from mcp_api.oauth.challenge import PROTECTED_RESOURCE_PATH
from mcp_api.oauth.clients import SCOPE, MetadataDocuments
from mcp_api.oauth.host import Host
from mcp_api.oauth.provider import Provider

AUTH_METHODS = ["none", "client_secret_post", "client_secret_basic"]


class HashedSecretAuthenticator(ClientAuthenticator):
    """Client authentication at /token and /revoke: none (public clients, PKCE), client_secret_post
    or client_secret_basic, checked against the stored sha256 of the secret."""

    provider: Provider

    async def authenticate_request(self, request: Request) -> OAuthClientInformationFull:
        form = await request.form()
        client_id = form.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise AuthenticationError("Missing client_id")
        client, secret_hash = await self.provider.client_and_secret(client_id)
        if client is None:
            raise AuthenticationError("Invalid client_id")
        if client.token_endpoint_auth_method == "none" and secret_hash is None:
            return client
        presented = (
            _basic_secret(request, client_id) if client.token_endpoint_auth_method == "client_secret_basic" else None
        )
        if presented is None:
            value = form.get("client_secret")
            presented = value if isinstance(value, str) else None
        if secret_hash is None or not presented:
            raise AuthenticationError("Client secret is required")
        if not hmac.compare_digest(secrets.hash_secret(presented), secret_hash):
            raise AuthenticationError("Invalid client_secret")
        return client


def _basic_secret(request: Request, client_id: str) -> str | None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthenticationError("Invalid Basic authentication header") from exc
    if unquote(user) != client_id:
        raise AuthenticationError("Client ID mismatch in Basic auth")
    return unquote(secret)


def routes(host: Host) -> list[BaseRoute]:
    settings = host.settings
    base = settings.public_base_url
    consents = consent.Consents(host)
    provider = Provider(host, MetadataDocuments(loopback_http=settings.oauth_loopback_client_metadata), consents)
    authenticator = HashedSecretAuthenticator(provider)

    registration = ClientRegistrationOptions(enabled=True, valid_scopes=[SCOPE], default_scopes=[SCOPE])
    # Validated from strings: the models keep a path-less issuer without a trailing slash, and
    # issuers compare as exact strings (RFC 8414 §3.3, RFC 9207).
    metadata = OAuthMetadata.model_validate(
        {
            **build_metadata(AnyHttpUrl(base), None, registration, RevocationOptions(enabled=True)).model_dump(
                mode="json", exclude_none=True
            ),
            "issuer": base,
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "client_id_metadata_document_supported": True,
            "authorization_response_iss_parameter_supported": True,
        }
    )
    resource = ProtectedResourceMetadata.model_validate(
        {
            "resource": settings.mcp_resource,
            "authorization_servers": [base],
            "scopes_supported": [SCOPE],
            "resource_name": "Spotify listening history",
        }
    )
    resource_handler = cors_middleware(ProtectedResourceMetadataHandler(resource).handle, ["GET", "OPTIONS"])
    any_origin = ["POST", "OPTIONS"]
    return [
        Route(PROTECTED_RESOURCE_PATH, resource_handler, methods=["GET", "OPTIONS"]),
        Route(f"{PROTECTED_RESOURCE_PATH}/mcp", resource_handler, methods=["GET", "OPTIONS"]),
        Route(
            "/.well-known/oauth-authorization-server",
            cors_middleware(MetadataHandler(metadata).handle, ["GET", "OPTIONS"]),
            methods=["GET", "OPTIONS"],
        ),
        Route("/authorize", AuthorizationHandler(provider).handle, methods=["GET", "POST"]),
        Route("/token", cors_middleware(TokenHandler(provider, authenticator).handle, any_origin), methods=any_origin),
        Route(
            "/register",
            cors_middleware(RegistrationHandler(provider, registration).handle, any_origin),
            methods=any_origin,
        ),
        Route(
            "/revoke",
            cors_middleware(RevocationHandler(provider, authenticator).handle, any_origin),
            methods=any_origin,
        ),
        *consent.routes(host, consents),
    ]
