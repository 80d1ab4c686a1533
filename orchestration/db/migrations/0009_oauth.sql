-- OAuth 2.1 for /mcp (issue 9): connected clients, their codes and tokens, and the one-time link codes
-- a listener proves who they are with on the consent page.
--
-- Nothing secret is stored in clear: codes, tokens, link codes and client secrets are sha256 hashes
-- (they are 128+ random bits, so a plain hash is enough, as for API keys).
--
-- The API role writes these tables, and only these (within explicit read-write transactions: its
-- sessions stay read-only by default); it still reads nothing of app.* but the key columns.

-- Clients registered by Dynamic Client Registration (RFC 7591). Clients that identify by a Client ID
-- Metadata Document are not stored: their document is fetched (and cached) when needed.
create table app.oauth_clients (
    client_id   text primary key check (length(client_id) <= 100),
    metadata    jsonb not null,
    secret_hash text check (secret_hash ~ '^[0-9a-f]{64}$'),
    created_at  timestamptz not null default now()
);

-- One grant = one listener's consent to one client for one resource: the family every code and
-- token of that consent belongs to. Revoking the grant revokes them all (api-key revoke, refresh
-- token reuse, authorization code reuse, POST /revoke).
create table app.oauth_grants (
    grant_id     bigint generated always as identity primary key,
    user_id      integer not null references app.users (user_id) on delete cascade,
    client_id    text not null check (length(client_id) <= 2048),
    client_name  text not null check (length(client_name) <= 200),
    redirect_uri text not null,
    resource     text not null,
    scopes       text not null default '',
    created_at   timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
create index oauth_grants_user on app.oauth_grants (user_id);
create index oauth_grants_client on app.oauth_grants (client_id);

-- Authorization codes: single use, minutes long. used_at set = exchanged; presenting it again
-- revokes the grant (RFC 9700 §4.5.3.1).
create table app.oauth_codes (
    code_hash         text primary key check (code_hash ~ '^[0-9a-f]{64}$'),
    grant_id          bigint not null references app.oauth_grants (grant_id) on delete cascade,
    code_challenge    text not null,
    redirect_explicit boolean not null,
    expires_at        timestamptz not null,
    used_at           timestamptz
);
create index oauth_codes_grant on app.oauth_codes (grant_id);

-- Access and refresh tokens. A refresh token is rotated on use (rotated_at); presenting a rotated
-- one again revokes the grant.
create table app.oauth_tokens (
    token_hash text primary key check (token_hash ~ '^[0-9a-f]{64}$'),
    grant_id   bigint not null references app.oauth_grants (grant_id) on delete cascade,
    kind       text not null check (kind in ('access', 'refresh')),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    rotated_at timestamptz
);
create index oauth_tokens_grant on app.oauth_tokens (grant_id);

-- One-time link codes from `spotify-history api-key link --user NAME`: single use, 10 minutes.
create table app.link_codes (
    code_hash  text primary key check (code_hash ~ '^[0-9a-f]{64}$'),
    user_id    integer not null references app.users (user_id) on delete cascade,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at    timestamptz
);

do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'spotify_history_api') then
        raise warning 'role spotify_history_api is missing: OAuth for /mcp needs the grants in 0009_oauth.sql';
        return;
    end if;
    grant select, insert, delete on app.oauth_clients to spotify_history_api;
    grant select, insert, update on app.oauth_grants to spotify_history_api;
    grant select, insert, update, delete on app.oauth_codes to spotify_history_api;
    grant select, insert, update, delete on app.oauth_tokens to spotify_history_api;
    grant select (code_hash, user_id, expires_at, used_at), update (used_at) on app.link_codes
        to spotify_history_api;
end
$$;
