-- What the OAuth connect flow keeps between its requests (issue 25), in Postgres rather than one API
-- process's memory: with several API processes behind one URL (`serve-api --workers N`, replicas),
-- `/authorize` answered by one and `/consent` by another complete the flow.
--
-- A pending request is found by the sha256 of its id (the id travels in the consent page's URL;
-- the row alone opens nothing). Its CSRF token is kept as it is: it is put into the page's form and
-- cookie, ten minutes long, and useless without the request id.
create table app.oauth_pending (
    request_hash      text primary key check (request_hash ~ '^[0-9a-f]{64}$'),
    csrf              text not null check (length(csrf) <= 100),
    client            jsonb not null,          -- the client's metadata as /authorize validated it
    redirect_uri      text not null,
    redirect_explicit boolean not null,
    state             text,
    scopes            text not null default '',
    code_challenge    text not null,
    resource          text not null,
    attempts          integer not null default 0,  -- wrong codes given for this request
    created_at        timestamptz not null default now(),
    expires_at        timestamptz not null
);
create index oauth_pending_expires on app.oauth_pending (expires_at);

-- Wrong codes given on the consent page, for the per-address and overall limits (the address as
-- its sha256: the counters need only to tell addresses apart).
create table app.oauth_consent_failures (
    failure_id   bigint generated always as identity primary key,
    address_hash text not null check (address_hash ~ '^[0-9a-f]{64}$'),
    failed_at    timestamptz not null default now()
);
create index oauth_consent_failures_at on app.oauth_consent_failures (failed_at);

do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'spotify_history_api') then
        raise warning 'role spotify_history_api is missing: OAuth for /mcp needs the grants in 0014_oauth_pending_consents.sql';
        return;
    end if;
    grant select, insert, update, delete on app.oauth_pending to spotify_history_api;
    grant select, insert, delete on app.oauth_consent_failures to spotify_history_api;
end
$$;
