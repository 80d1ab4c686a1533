-- The API (issue 5): per-user API keys, and the read-only database role the API connects as.
--
-- Keys: only sha256(key) is stored; `prefix` (the key's first 12 characters) finds the row and
-- is what lists show. Keys are issued and revoked by `spotify-history api-key`.
create table app.api_keys (
    key_id     bigint generated always as identity primary key,
    user_id    integer not null references app.users (user_id) on delete cascade,
    name       text not null default '' check (length(name) <= 100),
    prefix     text not null unique,
    hash       text not null check (hash ~ '^[0-9a-f]{64}$'),
    created_at timestamptz not null default now(),
    revoked_at timestamptz
);
create index api_keys_user on app.api_keys (user_id);

-- dbt creates the marts schema on its first build; create it now so it can be granted already.
create schema if not exists marts;

-- Roles are cluster-wide and need CREATEROLE: created here when this user may (the embedded server
-- and the docker-compose user are superusers); otherwise an administrator creates them once (see
-- docs/chatgpt-integration.md) and the grants below still apply.
--   spotify_history_reader  NOLOGIN group: USAGE on marts (dbt grants SELECT on every mart to it),
--                           and only the key columns the API checks (no name, no created_at).
--   spotify_history_api     LOGIN, member of the reader group: the role the API connects as. It
--                           owns nothing and can write nothing; its sessions are read-only too.
do $$
declare
    can_create boolean := (select rolsuper or rolcreaterole from pg_roles where rolname = current_user);
begin
    if not exists (select 1 from pg_roles where rolname = 'spotify_history_reader') and can_create then
        create role spotify_history_reader nologin;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'spotify_history_api') and can_create then
        create role spotify_history_api login;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'spotify_history_reader')
       or not exists (select 1 from pg_roles where rolname = 'spotify_history_api') then
        raise warning 'roles spotify_history_reader / spotify_history_api are missing and % may not create them: '
            'the API cannot connect until an administrator creates and grants them '
            '(the SQL is in docs/chatgpt-integration.md, "Database role")', current_user;
        return;
    end if;
    if can_create then
        grant spotify_history_reader to spotify_history_api;
        -- Belt and braces: even a statement the API never sends could not write.
        alter role spotify_history_api set default_transaction_read_only = on;
        -- ChatGPT gives up after 45 s; no API query should come near that.
        alter role spotify_history_api set statement_timeout = '20s';
    end if;
    grant usage on schema marts to spotify_history_reader;
    grant usage on schema app to spotify_history_reader;
    grant select (key_id, user_id, prefix, hash, revoked_at) on app.api_keys to spotify_history_reader;
end
$$;
