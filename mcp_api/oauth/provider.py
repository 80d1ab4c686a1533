"""The authorization server behind the SDK's handlers (`mcp.server.auth`): clients, codes, tokens.

The SDK validates requests (PKCE S256 only, redirect URI, code verifier, expiry, client
authentication); this provider decides what only the server can: which clients exist (registered,
or named by a metadata document), that tokens are for this server's /mcp, who the listener is (the
consent page), and single use of codes and refresh tokens.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    RefreshToken,
    RegistrationError,
    TokenError,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from mcp_api.errors import ApiError
from mcp_api.oauth import secrets, store
from mcp_api.oauth.clients import SCOPE, Client, ClientDocumentError, MetadataDocuments, redirect_uri_problem
from mcp_api.oauth.consent import Consents, PendingRequest
from mcp_api.oauth.host import Host

log = logging.getLogger("mcp_api.oauth")


class Code(AuthorizationCode):
    row: Any


class Refresh(RefreshToken):
    row: Any


class Access(AccessToken):
    row: Any


class Provider:
    """OAuthAuthorizationServerProvider[Code, Refresh, Access] over the API's database."""

    def __init__(self, host: Host, documents: MetadataDocuments, consents: Consents) -> None:
        self.host = host
        self.documents = documents
        self.consents = consents
        self.resource = host.settings.mcp_resource
        self.consent_url = f"{host.settings.public_base_url}/consent"

    # -- clients -----------------------------------------------------------------------------------

    async def get_client(self, client_id: str) -> Client | None:
        return (await self.client_and_secret(client_id))[0]

    async def client_and_secret(self, client_id: str) -> tuple[Client | None, str | None]:
        """The client and the sha256 of its secret (None for public clients)."""
        if self.documents.is_document_url(client_id):
            try:
                return await self.documents.get(client_id), None
            except ClientDocumentError as exc:
                log.warning("client metadata document refused", extra={"reason": str(exc)})
                return None, None
        if len(client_id) > 100:
            return None, None
        try:
            found = await store.load_client(self.host.database(), client_id)
        except ApiError:
            return None, None
        return found if found is not None else (None, None)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        for uri in client_info.redirect_uris or []:
            if problem := redirect_uri_problem(str(uri)):
                raise RegistrationError("invalid_redirect_uri", problem)
        secret = client_info.client_secret
        # Every client may ask for the one scope; the record keeps no secret, only its hash.
        client = Client.model_validate({**client_info.model_dump(), "scope": SCOPE})
        try:
            await store.save_client(self.host.database(), client, secrets.hash_secret(secret) if secret else None)
        except ApiError as exc:
            raise RegistrationError("invalid_client_metadata", f"registration failed: {exc.message}") from exc

    # -- authorization -----------------------------------------------------------------------------

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        # Clients of the 2025-03-26 revision send no resource; there is only one to mean.
        resource = (params.resource or self.resource).rstrip("/")
        if resource != self.resource:
            raise AuthorizeError("invalid_target", f"this server issues tokens only for {self.resource}")
        assert isinstance(client, Client)
        request = PendingRequest(
            request_id=secrets.opaque(),
            csrf=secrets.opaque(),
            client=client,
            redirect_uri=str(params.redirect_uri),
            redirect_explicit=params.redirect_uri_provided_explicitly,
            state=params.state,
            scopes=params.scopes or [SCOPE],
            code_challenge=params.code_challenge,
            resource=resource,
        )
        await self.consents.add(request)
        return f"{self.consent_url}?request={request.request_id}"

    async def load_authorization_code(self, client: OAuthClientInformationFull, authorization_code: str) -> Code | None:
        row = await store.load_code(self.host.database(), authorization_code)
        if row is None:
            return None
        grant = row.grant
        return Code(
            code=authorization_code,
            scopes=grant.scopes,
            expires_at=row.expires_at.timestamp(),
            client_id=grant.client_id,
            code_challenge=row.code_challenge,
            redirect_uri=grant.redirect_uri,  # type: ignore[arg-type]
            redirect_uri_provided_explicitly=row.redirect_explicit,
            resource=grant.resource,
            subject=str(grant.user_id),
            row=row,
        )

    async def exchange_authorization_code(self, client: OAuthClientInformationFull, code: Code) -> OAuthToken:
        tokens = await store.redeem_code(self.host.database(), code.row)
        if tokens is None:
            raise TokenError("invalid_grant", "authorization code already used: its tokens are revoked")
        return tokens

    # -- tokens ------------------------------------------------------------------------------------

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> Refresh | None:
        row = await store.load_token(self.host.database(), refresh_token, "refresh")
        return None if row is None else _bound(Refresh, refresh_token, row)

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: Refresh, scopes: list[str]
    ) -> OAuthToken:
        tokens = await store.rotate(self.host.database(), refresh_token.row)
        if tokens is None:
            raise TokenError("invalid_grant", "refresh token already used: every token of this connection is revoked")
        return tokens

    async def load_access_token(self, token: str) -> Access | None:
        row = await store.load_token(self.host.database(), token, "access")
        return None if row is None else _bound(Access, token, row)

    async def revoke_token(self, token: Access | Refresh) -> None:
        await store.revoke_grant(self.host.database(), token.row.grant.grant_id)

    async def exchange_identity_assertion(self, client: OAuthClientInformationFull, params: Any) -> OAuthToken:
        raise TokenError("unsupported_grant_type", "the JWT bearer grant is not supported")


_T = TypeVar("_T", Refresh, Access)


def _bound(cls: type[_T], token: str, row: Any) -> _T:
    """The SDK's token model for a stored token row: its grant's client, scopes, resource and user."""
    return cls(
        token=token,
        client_id=row.grant.client_id,
        scopes=row.grant.scopes,
        expires_at=int(row.expires_at.timestamp()),
        resource=row.grant.resource,
        subject=str(row.grant.user_id),
        row=row,
    )
