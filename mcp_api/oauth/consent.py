"""The consent page: the listener proves who they are, then allows or denies a client.

GET /authorize (the SDK's handler) validates the request and leaves it here as a pending request,
then redirects the browser to GET /consent?request=…: a small server-rendered form (no JavaScript)
naming the client and where it sends the answer. The listener enters a one-time link code
(`spotify-history api-key link --user NAME`) or one of their API keys and presses Allow or Deny.

CSRF: the form carries the pending request's random token, which must also come back in a
SameSite=Strict, HttpOnly cookie set with the form, and a cross-origin Origin header is refused; a
page elsewhere can neither read the token nor send the cookie. Wrong codes are rate-limited per
address and overall, and a pending request dies after a few wrong codes.

Pending requests and wrong-code counters live in Postgres (app.oauth_pending,
app.oauth_consent_failures), not in the process: with several API processes behind one URL, any of
them serves any step of the flow.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from mcp.server.auth.provider import construct_redirect_uri
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from mcp_api import auth, keys
from mcp_api.errors import ApiError, Unauthorized
from mcp_api.oauth import secrets, store
from mcp_api.oauth.clients import Client
from mcp_api.oauth.host import Host

log = logging.getLogger("mcp_api.oauth")

REQUEST_SECONDS = 600.0
MAX_PENDING = 1000
ATTEMPTS_PER_REQUEST = 5
FAILURE_WINDOW_SECONDS = 600.0
FAILURES_PER_ADDRESS = 10
FAILURES_OVERALL = 50

PENDING_COLUMNS = "csrf, client, redirect_uri, redirect_explicit, state, scopes, code_challenge, resource, attempts"


@dataclass
class PendingRequest:
    """An authorization request /authorize accepted, waiting for the listener's answer."""

    request_id: str
    csrf: str
    client: Client
    redirect_uri: str
    redirect_explicit: bool
    state: str | None
    scopes: list[str]
    code_challenge: str
    resource: str
    attempts: int = 0


class Consents:
    """Pending requests and the record of wrong codes, in Postgres (migration 0014): every API process
    behind one URL sees the same ones, so /authorize answered by one process and /consent by another
    complete the flow, and the wrong-code limits hold for all processes together."""

    def __init__(self, host: Host) -> None:
        self.host = host

    async def add(self, request: PendingRequest) -> None:
        client = request.client.model_dump(mode="json", exclude={"client_secret"}, exclude_none=True)
        async with self.host.database().writing() as cur:
            await cur.execute("delete from app.oauth_pending where expires_at < now()")
            # At most MAX_PENDING at a time: a flood of /authorize requests pushes out the oldest.
            await cur.execute(
                "delete from app.oauth_pending where request_hash in "
                "(select request_hash from app.oauth_pending order by created_at desc offset %s)",
                (MAX_PENDING - 1,),
            )
            await cur.execute(
                """
                insert into app.oauth_pending (request_hash, csrf, client, redirect_uri, redirect_explicit, state,
                                               scopes, code_challenge, resource, expires_at)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, now() + %s)
                """,
                (
                    secrets.hash_secret(request.request_id),
                    request.csrf,
                    json.dumps(client),
                    request.redirect_uri,
                    request.redirect_explicit,
                    request.state,
                    " ".join(request.scopes),
                    request.code_challenge,
                    request.resource,
                    timedelta(seconds=REQUEST_SECONDS),
                ),
            )

    async def get(self, request_id: str) -> PendingRequest | None:
        if not request_id or len(request_id) > 100:
            return None
        rows = await self.host.database().rows(
            f"select {PENDING_COLUMNS} from app.oauth_pending where request_hash = %(hash)s and expires_at > now()",
            {"hash": secrets.hash_secret(request_id)},
        )
        if not rows:
            return None
        row = rows[0]
        return PendingRequest(
            request_id=request_id,
            csrf=row["csrf"],
            client=Client.model_validate(row["client"]),
            redirect_uri=row["redirect_uri"],
            redirect_explicit=row["redirect_explicit"],
            state=row["state"],
            scopes=row["scopes"].split(),
            code_challenge=row["code_challenge"],
            resource=row["resource"],
            attempts=row["attempts"],
        )

    async def take(self, request_id: str) -> bool:
        """Remove the pending request; True only for the one call that removed it (it is answered once,
        whichever process the answers reach)."""
        async with self.host.database().writing() as cur:
            await cur.execute(
                "delete from app.oauth_pending where request_hash = %s returning 1", (secrets.hash_secret(request_id),)
            )
            return await cur.fetchone() is not None

    async def blocked(self, address: str) -> bool:
        rows = await self.host.database().rows(
            """
            select count(*) filter (where address_hash = %(address)s) as mine, count(*) as overall
            from app.oauth_consent_failures where failed_at > now() - %(window)s
            """,
            {"address": secrets.hash_secret(address), "window": timedelta(seconds=FAILURE_WINDOW_SECONDS)},
        )
        return bool(rows) and (rows[0]["mine"] >= FAILURES_PER_ADDRESS or rows[0]["overall"] >= FAILURES_OVERALL)

    async def failed(self, address: str, request_id: str) -> int:
        """Count a wrong code against the address and the request; the request's wrong codes so far."""
        window = timedelta(seconds=FAILURE_WINDOW_SECONDS)
        async with self.host.database().writing() as cur:
            await cur.execute("delete from app.oauth_consent_failures where failed_at < now() - %s", (window,))
            await cur.execute(
                "insert into app.oauth_consent_failures (address_hash) values (%s)", (secrets.hash_secret(address),)
            )
            await cur.execute(
                "update app.oauth_pending set attempts = attempts + 1 where request_hash = %s returning attempts",
                (secrets.hash_secret(request_id),),
            )
            row = await cur.fetchone()
        return int(row["attempts"]) if row else ATTEMPTS_PER_REQUEST


def routes(host: Host, consents: Consents) -> list[Route]:
    settings = host.settings
    secure = settings.public_base_url.startswith("https://")
    cookie = "__Host-consent" if secure else "consent"
    issuer = settings.public_base_url

    async def show(request: Request) -> Response:
        pending = await consents.get(request.query_params.get("request", ""))
        if pending is None:
            return _expired()
        response = _page(pending)
        response.set_cookie(
            cookie,
            pending.csrf,
            max_age=int(REQUEST_SECONDS),
            path="/",
            secure=secure,
            httponly=True,
            samesite="strict",
        )
        return response

    async def answer(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin != settings.public_origin:
            return _message("Refused", "This form may only be sent from this server's own page.", 403)
        form = await request.form()
        pending = await consents.get(str(form.get("request", "")))
        if pending is None:
            return _expired()
        given = str(form.get("csrf", ""))
        cookie_value = request.cookies.get(cookie, "")
        if not (_same(given, pending.csrf) and _same(cookie_value, pending.csrf)):
            return _message("Refused", "The form's security token is missing or wrong: reload the page.", 403)

        if form.get("decision") != "allow":
            if not await consents.take(pending.request_id):
                return _expired()  # answered meanwhile (another tab, another process)
            return _back(pending, error="access_denied", error_description="the listener denied access")

        address = request.client.host if request.client else "unknown"
        if await consents.blocked(address):
            return _page(pending, "Too many wrong codes: wait ten minutes, then start again.", status=429)
        user_id = await _prove(host, str(form.get("code", "")).strip())
        if user_id is None:
            if await consents.failed(address, pending.request_id) >= ATTEMPTS_PER_REQUEST:
                await consents.take(pending.request_id)
                return _message("Too many wrong codes", "Start connecting again from your assistant.", 400)
            return _page(pending, "That code is not valid (wrong, used, or older than 10 minutes).", status=400)

        if not await consents.take(pending.request_id):
            return _expired()  # answered meanwhile (another tab, another process)
        code = await store.create_grant(
            host.database(),
            user_id=user_id,
            client=pending.client,
            redirect_uri=pending.redirect_uri,
            explicit=pending.redirect_explicit,
            resource=pending.resource,
            scopes=pending.scopes,
            code_challenge=pending.code_challenge,
        )
        log.info("oauth client connected", extra={"user_id": user_id, "client": pending.client.display_name})
        return _back(pending, code=code)

    def _back(pending: PendingRequest, **params: str) -> Response:
        target = construct_redirect_uri(pending.redirect_uri, **params, state=pending.state, iss=issuer)
        return RedirectResponse(target, status_code=303)

    return [Route("/consent", show, methods=["GET"]), Route("/consent", answer, methods=["POST"])]


async def _prove(host: Host, code: str) -> int | None:
    """The user a link code or an API key names (spending the link code); None if neither."""
    if not code or len(code) > 200:
        return None
    try:
        if keys.looks_like_key(code):
            principal = await auth.authenticate(host.database(), f"Bearer {code}", admin_key=None)
            return principal.user_id
        return await store.redeem_link_code(host.database(), code)
    except Unauthorized:
        return None
    except ApiError as exc:
        log.warning("consent could not check a code", extra={"reason": exc.message})
        return None


def _same(a: str, b: str) -> bool:
    return bool(a) and hmac.compare_digest(a.encode(), b.encode())


# -- HTML ------------------------------------------------------------------------------------------

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}"
    "h1{font-size:1.4rem}code,kbd{background:#f2f2f2;padding:0 .25rem;border-radius:3px}"
    "input[type=text]{font:inherit;width:100%;padding:.4rem;box-sizing:border-box;letter-spacing:.05em}"
    "button{font:inherit;padding:.4rem 1.2rem;margin:1rem .5rem 0 0}"
    ".error{color:#b00020}.small{color:#666;font-size:.9rem}"
)


def _document(title: str, body: str, status: int, form_targets: list[str] | None = None) -> HTMLResponse:
    nonce = secrets.opaque()
    # Form posts are followed by a redirect to the client: form-action must allow its origin.
    form_action = " ".join(["'self'", *(form_targets or [])])
    policy = f"default-src 'none'; style-src 'nonce-{nonce}'; form-action {form_action}; frame-ancestors 'none'"
    text = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style nonce={nonce}>{_STYLE}</style></head><body>{body}</body></html>"
    )
    # same-origin, not the API's no-referrer: with no-referrer, browsers send `Origin: null` with the
    # form, and the Origin check could not tell this page from any other.
    headers = {"Content-Security-Policy": policy, "Referrer-Policy": "same-origin"}
    return HTMLResponse(text, status_code=status, headers=headers)


def _page(pending: PendingRequest, error: str | None = None, status: int = 200) -> HTMLResponse:
    client = pending.client
    name = html.escape(client.display_name)
    redirect = urlsplit(pending.redirect_uri)
    redirect_host = html.escape(redirect.netloc)
    origin = f"{redirect.scheme}://{redirect.netloc}"
    identity = ""
    if client.client_id.startswith(("https://", "http://")):
        identity = f"<p class=small>Client identified by <code>{html.escape(client.client_id)}</code>.</p>"
    else:
        identity = "<p class=small>Client registered itself with this server (its name is its own claim).</p>"
    problem = f"<p class=error role=alert>{html.escape(error)}</p>" if error else ""
    body = f"""
<h1>Connect {name} to your listening history?</h1>
<p><strong>{name}</strong> asks to read your Spotify listening history (every question the assistant tools
answer: top artists and tracks, listening times, coverage). It cannot change anything.</p>
<p>After you answer, your browser goes back to <strong>{redirect_host}</strong>.</p>
{identity}
<p>Only continue if you started connecting this assistant yourself.</p>
{problem}
<form method=post action="/consent">
<input type=hidden name=request value="{html.escape(pending.request_id)}">
<input type=hidden name=csrf value="{html.escape(pending.csrf)}">
<label for=code>Link code from <kbd>spotify-history api-key link --user YOUR_NAME</kbd>,
or one of your API keys:</label>
<input type=text id=code name=code autocomplete=off autocapitalize=characters spellcheck=false autofocus>
<button type=submit name=decision value=allow>Allow</button>
<button type=submit name=decision value=deny>Deny</button>
</form>
<p class=small>A link code works once and for 10 minutes.</p>
"""
    return _document(f"Connect {client.display_name}", body, status, [origin])


def _message(title: str, text: str, status: int) -> HTMLResponse:
    return _document(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>", status)


def _expired() -> HTMLResponse:
    return _message("Request expired", "This authorization request is unknown or older than 10 minutes: "
                    "start connecting again from your assistant.", 400)  # fmt: skip
