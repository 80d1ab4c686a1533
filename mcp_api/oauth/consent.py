"""The consent page: the listener proves who they are, then allows or denies a client.

GET /authorize (the SDK's handler) validates the request and leaves it here as a pending request,
then redirects the browser to GET /consent?request=…: a small server-rendered form (no JavaScript)
naming the client and where it sends the answer. The listener enters a one-time link code
(`spotify-history api-key link --user NAME`) or one of their API keys and presses Allow or Deny.

CSRF: the form carries the pending request's random token, which must also come back in a
SameSite=Strict, HttpOnly cookie set with the form, and a cross-origin Origin header is refused; a
page elsewhere can neither read the token nor send the cookie. Wrong codes are rate-limited per
address and overall, and a pending request dies after a few wrong codes.
"""

from __future__ import annotations

import hmac
import html
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mcp.server.auth.provider import construct_redirect_uri
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from mcp_api import auth, keys
from mcp_api.errors import ApiError, Unauthorized
from mcp_api.oauth import secrets, store
from mcp_api.oauth.clients import Client
from mcp_api.runtime import Runtime

log = logging.getLogger("mcp_api.oauth")

REQUEST_SECONDS = 600.0
MAX_PENDING = 1000
ATTEMPTS_PER_REQUEST = 5
FAILURE_WINDOW_SECONDS = 600.0
FAILURES_PER_ADDRESS = 10
FAILURES_OVERALL = 50


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
    created: float = field(default_factory=time.monotonic)
    attempts: int = 0


class Consents:
    """Pending requests (in this process's memory: one API process serves a household) and the
    record of wrong codes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._pending: dict[str, PendingRequest] = {}
        self._failures: deque[tuple[float, str]] = deque()

    def add(self, request: PendingRequest) -> None:
        self._expire()
        if len(self._pending) >= MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))
        request.created = self.clock()
        self._pending[request.request_id] = request

    def get(self, request_id: str) -> PendingRequest | None:
        self._expire()
        return self._pending.get(request_id)

    def drop(self, request_id: str) -> None:
        self._pending.pop(request_id, None)

    def blocked(self, address: str) -> bool:
        self._forget_failures()
        mine = sum(1 for _, a in self._failures if a == address)
        return mine >= FAILURES_PER_ADDRESS or len(self._failures) >= FAILURES_OVERALL

    def failed(self, address: str) -> None:
        self._failures.append((self.clock(), address))

    def _expire(self) -> None:
        now = self.clock()
        for key in [k for k, r in self._pending.items() if now - r.created > REQUEST_SECONDS]:
            del self._pending[key]

    def _forget_failures(self) -> None:
        now = self.clock()
        while self._failures and now - self._failures[0][0] > FAILURE_WINDOW_SECONDS:
            self._failures.popleft()


def routes(runtime: Runtime, consents: Consents) -> list[Route]:
    settings = runtime.settings
    secure = settings.public_base_url.startswith("https://")
    cookie = "__Host-consent" if secure else "consent"
    issuer = settings.public_base_url

    async def show(request: Request) -> Response:
        pending = consents.get(request.query_params.get("request", ""))
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
        pending = consents.get(str(form.get("request", "")))
        if pending is None:
            return _expired()
        given = str(form.get("csrf", ""))
        cookie_value = request.cookies.get(cookie, "")
        if not (_same(given, pending.csrf) and _same(cookie_value, pending.csrf)):
            return _message("Refused", "The form's security token is missing or wrong: reload the page.", 403)

        if form.get("decision") != "allow":
            consents.drop(pending.request_id)
            return _back(pending, error="access_denied", error_description="the listener denied access")

        address = request.client.host if request.client else "unknown"
        if consents.blocked(address):
            return _page(pending, "Too many wrong codes: wait ten minutes, then start again.", status=429)
        user_id = await _prove(runtime, str(form.get("code", "")).strip())
        if user_id is None:
            consents.failed(address)
            pending.attempts += 1
            if pending.attempts >= ATTEMPTS_PER_REQUEST:
                consents.drop(pending.request_id)
                return _message("Too many wrong codes", "Start connecting again from your assistant.", 400)
            return _page(pending, "That code is not valid (wrong, used, or older than 10 minutes).", status=400)

        consents.drop(pending.request_id)
        code = await store.create_grant(
            runtime.database(),
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


async def _prove(runtime: Runtime, code: str) -> int | None:
    """The user a link code or an API key names (spending the link code); None if neither."""
    if not code or len(code) > 200:
        return None
    try:
        if keys.looks_like_key(code):
            principal = await auth.authenticate(runtime.database(), f"Bearer {code}", admin_key=None)
            return principal.user_id
        return await store.redeem_link_code(runtime.database(), code)
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
