"""A fake Spotify on loopback, for the tests and the demo: accounts service and Web API in one app.

It behaves like the real one where this project depends on it:

* `GET /authorize` consents at once as the signed-in account and redirects to the (loopback-only,
  never `localhost`) redirect URI with `code` and `state`; `POST /api/token` checks the PKCE
  verifier and the redirect URI, and rotates refresh tokens on refresh (the old one stops working);
* `GET /v1/me`, `GET /v1/me/top/{artists,tracks}`;
* `GET /v1/me/player/recently-played`: `limit` 1-50, `after`/`before` exclusive and mutually
  exclusive, newest first, `cursors` and `next`, and only the last `retention` (50) plays exist;
* switches: `inject()` answers an endpoint with 429 + Retry-After, 500, 401 or `invalid_grant`;
  `expire_access_tokens()`, `revoke_refresh_tokens()`, `deny_next_authorization()`.

    fake = FakeSpotify()
    fake.add_account("alice-id", "Alice")
    fake.add_plays("alice-id", [FakePlay(played_at, track), ...])
    with fake.running() as url: ...   # SPOTIFY_ACCOUNTS_BASE_URL = SPOTIFY_API_BASE_URL = url

Listening can also be generated from the clock (Listening), which is what the demo does.
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

ENDPOINTS = ("authorize", "token", "me", "recently_played", "top")
KNOWN_SCOPES = {"user-read-recently-played", "user-top-read", "user-read-private", "user-read-email"}


# -- the music ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeTrack:
    id: str
    name: str
    artists: tuple[tuple[str, str], ...]  # (artist id, artist name)
    album_id: str
    album_name: str
    duration_ms: int
    isrc: str

    @property
    def uri(self) -> str:
        return f"spotify:track:{self.id}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "uri": self.uri,
            "type": "track",
            "duration_ms": self.duration_ms,
            "explicit": False,
            "is_local": False,
            "artists": [
                {"id": aid, "name": name, "uri": f"spotify:artist:{aid}", "type": "artist"}
                for aid, name in self.artists
            ],
            "album": {"id": self.album_id, "name": self.album_name, "uri": f"spotify:album:{self.album_id}"},
            "external_ids": {"isrc": self.isrc},
        }


@dataclass(frozen=True)
class FakePlay:
    played_at: datetime  # end of the play, UTC (milliseconds are kept, finer digits dropped)
    track: FakeTrack
    context_uri: str | None = None


def _spotify_id(rng: random.Random) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "".join(rng.choice(alphabet) for _ in range(22))


def make_catalog(size: int = 40, seed: int = 7) -> list[FakeTrack]:
    """Deterministic tracks by a handful of artists (some with two artists)."""
    rng = random.Random(seed)
    words = ["Night", "Echo", "River", "Glass", "Summer", "Neon", "Paper", "Gold", "Velvet", "Signal", "Orbit"]
    artists = [
        (_spotify_id(rng), f"{rng.choice(words)} {rng.choice(['Club', 'Kids', 'Trio', 'Sound'])}") for _ in range(8)
    ]
    albums = [(_spotify_id(rng), f"{rng.choice(words)} {rng.choice(words)}") for _ in range(10)]
    tracks = []
    for i in range(size):
        main = artists[i % len(artists)]
        credits = (main,) if i % 5 else (main, artists[(i + 3) % len(artists)])
        album = albums[i % len(albums)]
        tracks.append(
            FakeTrack(
                id=_spotify_id(rng),
                name=f"{rng.choice(words)} {rng.choice(words).lower()} {i}",
                artists=credits,
                album_id=album[0],
                album_name=album[1],
                duration_ms=rng.randint(120_000, 330_000),
                # Country QZ, registrant FAK, year 26, designation i: well-formed and unique, and
                # not drawn from rng, so the rest of the catalog stays as it was.
                isrc=f"QZFAK26{i:05d}",
            )
        )
    return tracks


class Listening:
    """Plays derived from the clock: one every `period` (with jitter), the same for every process.

    Deterministic, so a restarted fake offers the same plays again (polls stay idempotent)."""

    def __init__(self, catalog: list[FakeTrack], period: timedelta = timedelta(minutes=3, seconds=30)) -> None:
        self.catalog = catalog
        self.period = period

    def plays_until(self, now: datetime, count: int) -> list[FakePlay]:
        step = self.period.total_seconds()
        last = int(now.timestamp() // step)
        plays = []
        for k in range(last - count - 1, last + 1):
            rng = random.Random(k)
            at = datetime.fromtimestamp(k * step + rng.uniform(0, step / 3), UTC)
            at = at.replace(microsecond=at.microsecond // 1000 * 1000)
            if at <= now:
                plays.append(FakePlay(at, self.catalog[rng.randrange(len(self.catalog))]))
        return plays[-count:]


# -- accounts and switches ------------------------------------------------------------------------


@dataclass
class FakeAccount:
    spotify_user_id: str
    display_name: str
    plays: list[FakePlay] = field(default_factory=list)
    listening: Listening | None = None


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    error: str | None
    remaining: int


@dataclass(frozen=True)
class RecordedRequest:
    endpoint: str
    method: str
    path: str
    params: dict[str, str]


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    account: str
    scope: str


class FakeSpotify:
    def __init__(
        self,
        *,
        client_id: str = "fake-client-id",
        client_secret: str | None = None,
        retention: int = 50,
        access_token_seconds: int = 3600,
        rotate_refresh_tokens: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.retention = retention
        self.access_token_seconds = access_token_seconds
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.clock = clock or (lambda: datetime.now(UTC))
        self.ignore_before = False
        """A broken cursor: `before` is ignored (every page is the newest one)."""
        self.after_returns_newest = False
        """Answer `after` with the newest plays after the cursor instead of those nearest to it (Spotify's
        documentation allows either reading; the poller must cope with both)."""
        self.accounts: dict[str, FakeAccount] = {}
        self.signed_in: str | None = None
        self.requests: list[RecordedRequest] = []
        self.issued_tokens: list[str] = []
        """Every access and refresh token ever issued (tests look for them where they must not be)."""
        self.url = ""
        self._lock = threading.RLock()
        self._faults: dict[str, list[_Fault]] = {e: [] for e in ENDPOINTS}
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, tuple[str, float]] = {}  # token -> (account, expires at, monotonic)
        self._refresh: dict[str, str] = {}  # valid refresh token -> account
        self._deny_next = False
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(
            routes=[
                Route("/authorize", self._authorize, methods=["GET"]),
                Route("/api/token", self._token, methods=["POST"]),
                Route("/v1/me", self._me, methods=["GET"]),
                Route("/v1/me/player/recently-played", self._recently_played, methods=["GET"]),
                Route("/v1/me/top/{kind}", self._top, methods=["GET"]),
            ]
        )

    # -- control API (call from any thread) -------------------------------------------------------
    def add_account(self, spotify_user_id: str, display_name: str, listening: Listening | None = None) -> FakeAccount:
        with self._lock:
            account = FakeAccount(spotify_user_id, display_name, listening=listening)
            self.accounts[spotify_user_id] = account
            self.signed_in = self.signed_in or spotify_user_id
            return account

    def sign_in(self, spotify_user_id: str) -> None:
        """The account the 'browser' is signed into: /authorize consents as this one."""
        with self._lock:
            self.signed_in = spotify_user_id

    def add_plays(self, spotify_user_id: str, plays: list[FakePlay]) -> None:
        with self._lock:
            account = self.accounts[spotify_user_id]
            trimmed = [FakePlay(_ms(p.played_at), p.track, p.context_uri) for p in plays]
            account.plays = sorted([*account.plays, *trimmed], key=lambda p: p.played_at)

    def inject(
        self, endpoint: str, status: int, *, times: int = 1, retry_after: int | None = None, error: str | None = None
    ) -> None:
        """Answer the next `times` calls of `endpoint` with `status` (429 with Retry-After; 400 with
        error='invalid_grant' on 'token'; 500; 401)."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}")
        with self._lock:
            self._faults[endpoint].append(_Fault(status, retry_after, error, times))

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access = {t: (acc, 0.0) for t, (acc, _) in self._access.items()}

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token stops working: the next refresh gets `invalid_grant`."""
        with self._lock:
            self._refresh.clear()

    def deny_next_authorization(self) -> None:
        with self._lock:
            self._deny_next = True

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.endpoint == endpoint]

    def visible_plays(self, spotify_user_id: str) -> list[FakePlay]:
        """What recently-played can still return: the last `retention` plays up to now, oldest first."""
        now = self.clock()
        with self._lock:
            account = self.accounts[spotify_user_id]
            plays = [p for p in account.plays if p.played_at <= now]
            if account.listening is not None:
                plays += account.listening.plays_until(now, self.retention)
        plays.sort(key=lambda p: p.played_at)
        return plays[-self.retention :]

    # -- serving -----------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-spotify", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Spotify did not start")
            time.sleep(0.01)
        self.url = f"http://{host}:{sock.getsockname()[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    @contextmanager
    def running(self) -> Iterator[str]:
        url = self.start()
        try:
            yield url
        finally:
            self.stop()

    # -- helpers -----------------------------------------------------------------------------------
    def _record(self, endpoint: str, request: Request, params: dict[str, str]) -> Response | None:
        """Log the call; answer with an injected fault if one is pending."""
        with self._lock:
            safe = {k: v for k, v in params.items() if k not in ("code", "code_verifier", "refresh_token")}
            self.requests.append(RecordedRequest(endpoint, request.method, request.url.path, safe))
            faults = self._faults[endpoint]
            if not faults:
                return None
            fault = faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.pop(0)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if endpoint in ("token", "authorize"):
            body: dict[str, Any] = {"error": fault.error or "server_error", "error_description": "injected"}
        else:
            body = {"error": {"status": fault.status, "message": fault.error or "injected failure"}}
        return JSONResponse(body, status_code=fault.status, headers=headers)

    def _issue(self, account: str, scope: str, with_refresh: bool) -> dict[str, Any]:
        access = "fake-at-" + secrets.token_urlsafe(24)
        self._access[access] = (account, time.monotonic() + self.access_token_seconds)
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": self.access_token_seconds,
        }
        self.issued_tokens.append(access)
        if with_refresh:
            refresh = "fake-rt-" + secrets.token_urlsafe(24)
            self._refresh[refresh] = account
            answer["refresh_token"] = refresh
            self.issued_tokens.append(refresh)
        return answer

    def _bearer_account(self, request: Request) -> str | Response:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        with self._lock:
            found = self._access.get(token)
        if found is None:
            return _api_error(401, "Invalid access token")
        account, expires = found
        if expires <= time.monotonic():
            return _api_error(401, "The access token expired")
        return account

    # -- accounts service ------------------------------------------------------------------------
    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        if (fault := self._record("authorize", request, params)) is not None:
            return fault
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.client_id:
            return _page(400, "INVALID_CLIENT: Invalid client")
        host = urlsplit(redirect_uri).hostname or ""
        if not redirect_uri.startswith("https://") and host not in ("127.0.0.1", "::1"):
            return _page(400, "INVALID_CLIENT: Insecure redirect URI")  # what Spotify says to `localhost`
        if params.get("response_type") != "code":
            return _page(400, "unsupported_response_type")
        scopes = params.get("scope", "").split()
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return _page(400, "code_challenge required (S256)")
        if unknown := [s for s in scopes if s not in KNOWN_SCOPES]:
            return _page(400, f"INVALID_SCOPE: {unknown[0]}")
        state = params.get("state")
        with self._lock:
            deny, self._deny_next = self._deny_next, False
            account = self.signed_in
        extra = {"state": state} if state is not None else {}
        if deny or account is None:
            return RedirectResponse(f"{redirect_uri}?{urlencode({'error': 'access_denied', **extra})}", 302)
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(self.client_id, redirect_uri, params["code_challenge"], account, " ".join(scopes))
        return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, **extra})}", 302)

    async def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if (fault := self._record("token", request, form)) is not None:
            return fault
        client_id = form.get("client_id")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            # As Spotify does: Basic with an empty secret is no client authentication (a public
            # client names itself in the body and proves the code with PKCE instead).
            if not secret or (self.client_secret is not None and secret != self.client_secret):
                return _oauth_error("invalid_client", "Invalid client secret")
        if client_id != self.client_id:
            return _oauth_error("invalid_client", "Invalid client")
        grant = form.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                entry = self._codes.pop(form.get("code", ""), None)
                if entry is None:
                    return _oauth_error("invalid_grant", "Invalid authorization code")
                if entry.redirect_uri != form.get("redirect_uri"):
                    return _oauth_error("invalid_grant", "Invalid redirect URI")
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if not verifier or challenge != entry.challenge:
                    return _oauth_error("invalid_grant", "code_verifier was incorrect")
                return JSONResponse(self._issue(entry.account, entry.scope, with_refresh=True))
            if grant == "refresh_token":
                token = form.get("refresh_token", "")
                account = self._refresh.get(token)
                if account is None:
                    return _oauth_error("invalid_grant", "Refresh token revoked")
                if self.rotate_refresh_tokens:
                    del self._refresh[token]
                answer = self._issue(account, "user-read-recently-played user-top-read", self.rotate_refresh_tokens)
                return JSONResponse(answer)
        return _oauth_error("unsupported_grant_type", str(grant))

    # -- Web API -------------------------------------------------------------------------------------
    async def _me(self, request: Request) -> Response:
        if (fault := self._record("me", request, {})) is not None:
            return fault
        account = self._bearer_account(request)
        if isinstance(account, Response):
            return account
        with self._lock:
            acc = self.accounts[account]
        return JSONResponse(
            {"id": acc.spotify_user_id, "display_name": acc.display_name, "uri": f"spotify:user:{acc.spotify_user_id}"}
        )

    async def _recently_played(self, request: Request) -> Response:
        params = dict(request.query_params)
        if (fault := self._record("recently_played", request, params)) is not None:
            return fault
        account = self._bearer_account(request)
        if isinstance(account, Response):
            return account
        try:
            limit = int(params.get("limit", "20"))
            after = int(params["after"]) if "after" in params else None
            before = int(params["before"]) if "before" in params and not self.ignore_before else None
        except ValueError:
            return _api_error(400, "Invalid limit, after or before")
        if not 1 <= limit <= 50:
            return _api_error(400, "Invalid limit")
        if after is not None and before is not None:
            return _api_error(400, "Only one of after and before may be given")
        plays = self.visible_plays(account)  # oldest first
        if after is not None:
            newer = [p for p in plays if _to_ms(p.played_at) > after]
            page = newer[-limit:] if self.after_returns_newest else newer[:limit]  # nearest the cursor
            more = len(newer) > limit and not self.after_returns_newest
        else:
            older = [p for p in plays if before is None or _to_ms(p.played_at) < before]
            page, more = older[-limit:], len(older) > limit
        page = list(reversed(page))  # newest first
        base = f"{self.url}/v1/me/player/recently-played"
        cursors = None
        next_url = None
        if page:
            cursors = {"after": str(_to_ms(page[0].played_at)), "before": str(_to_ms(page[-1].played_at))}
            if more:
                key = "after" if after is not None else "before"
                next_url = f"{base}?{urlencode({key: cursors[key], 'limit': limit})}"
        return JSONResponse(
            {
                "href": f"{base}?{urlencode(params)}",
                "limit": limit,
                "next": next_url,
                "cursors": cursors,
                "items": [
                    {
                        "track": p.track.as_json(),
                        "played_at": _iso_ms(p.played_at),
                        "context": {"type": "playlist", "uri": p.context_uri} if p.context_uri else None,
                    }
                    for p in page
                ],
            }
        )

    async def _top(self, request: Request) -> Response:
        params = dict(request.query_params)
        if (fault := self._record("top", request, params)) is not None:
            return fault
        account = self._bearer_account(request)
        if isinstance(account, Response):
            return account
        kind = request.path_params["kind"]
        if kind not in ("artists", "tracks"):
            return _api_error(404, "Service not found")
        time_range = params.get("time_range", "medium_term")
        if time_range not in TOP_RANGES:
            return _api_error(400, "Invalid time range")
        limit = int(params.get("limit", "20"))
        now = self.clock()
        span = TOP_RANGES[time_range]
        since = now - span if span is not None else None
        with self._lock:
            plays = [p for p in self.accounts[account].plays if p.played_at <= now]
        # Spotify's ranking is its own secret; here: the account's plays in the range, most played first.
        plays = [p for p in plays if since is None or p.played_at > since]
        counts: dict[str, int] = {}
        items: dict[str, dict[str, Any]] = {}
        for p in plays:
            if kind == "tracks":
                key, item = p.track.id, {**p.track.as_json(), "popularity": _popularity(p.track.id)}
            else:
                aid, name = p.track.artists[0]
                key, item = aid, _artist_json(aid, name)
            counts[key] = counts.get(key, 0) + 1
            items[key] = item
        ranked = sorted(counts, key=lambda k: (-counts[k], k))
        return JSONResponse(
            {"items": [items[k] for k in ranked[:limit]], "total": len(ranked), "limit": limit, "offset": 0}
        )


# The ranges /v1/me/top serves: about 4 weeks, about 6 months, everything (None).
TOP_RANGES: dict[str, timedelta | None] = {
    "short_term": timedelta(weeks=4),
    "medium_term": timedelta(days=182),
    "long_term": None,
}
GENRES = ("indie pop", "synthwave", "art rock", "bossa nova", "dream pop", "post-punk")


def _popularity(spotify_id: str) -> int:
    return sum(map(ord, spotify_id)) % 101


def _artist_json(artist_id: str, name: str) -> dict[str, Any]:
    """A full artist object as /v1/me/top/artists gives it (genres and popularity made up, stable)."""
    n = _popularity(artist_id)
    genres = [GENRES[n % len(GENRES)], GENRES[(n // 7) % len(GENRES)]] if n % 4 else []
    return {
        "id": artist_id,
        "name": name,
        "uri": f"spotify:artist:{artist_id}",
        "type": "artist",
        "genres": sorted(set(genres)),
        "popularity": n,
    }


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)  # exact; float timestamps can be 1 ms off


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso_ms(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _api_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)


def _oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def _page(status: int, text: str) -> Response:
    return Response(text, status_code=status, media_type="text/plain")
