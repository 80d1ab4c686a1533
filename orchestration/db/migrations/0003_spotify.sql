-- Spotify connection: encrypted tokens and the sync registry (schema app), API plays (schema raw).
--
-- Tokens are stored only as Fernet ciphertexts (orchestration/spotify/tokens.py); the key never
-- reaches the database. raw.api_recently_played keeps every item of /v1/me/player/recently-played
-- once: a listener ends at most one play per millisecond, so (user_id, played_at) is its identity
-- and repeated polls and backfills insert nothing twice. Like every raw table it is written under
-- the per-user advisory lock (orchestration.imports.raw_writer.lock_user_raw_rows), so a user's
-- raw_ids grow in commit order (dbt's incremental stream model relies on it).

create table app.spotify_tokens (
    user_id           integer primary key references app.users (user_id) on delete cascade,
    refresh_token_enc bytea not null,
    access_token_enc  bytea,
    access_expires_at timestamptz,
    scope             text not null default '',
    authorized_at     timestamptz not null default now(),   -- the last completed login
    refreshed_at      timestamptz,
    invalidated_at    timestamptz,                          -- Spotify answered invalid_grant
    updated_at        timestamptz not null default now()
);

create table app.spotify_syncs (
    sync_id            bigint generated always as identity primary key,
    user_id            integer not null references app.users (user_id),
    kind               text not null check (kind in ('poll', 'backfill', 'initial_sync')),
    partition_key      text,
    dagster_run_id     text,
    status             text not null
                       check (status in ('running', 'succeeded', 'rate_limited', 'failed', 'needs_reauth')),
    window_start       timestamptz,
    window_end         timestamptz,
    requests           integer not null default 0,
    fetched            integer not null default 0,
    inserted           integer not null default 0,
    gap_detected       boolean not null default false,
    stop_reason        text,
    newest_played_at   timestamptz,
    oldest_played_at   timestamptz,
    rate_limited_until timestamptz,                          -- Retry-After: no request before this
    error              text,
    started_at         timestamptz not null default now(),
    finished_at        timestamptz
);
create index spotify_syncs_user_kind_started on app.spotify_syncs (user_id, kind, started_at desc);

create table raw.api_recently_played (
    raw_id            bigint generated always as identity primary key,
    user_id           integer not null,
    sync_id           bigint not null,      -- app.spotify_syncs row of the poll/backfill that stored it
    played_at         timestamptz not null, -- end of the play (approximately), millisecond precision
    track_id          text,                 -- null for local files
    track_uri         text,
    track_name        text,
    artists           jsonb not null default '[]',  -- [{id, name, uri}] in Spotify's order
    first_artist_name text,
    album_id          text,
    album_name        text,
    album_uri         text,
    duration_ms       bigint,
    context_type      text,
    context_uri       text,
    loaded_at         timestamptz not null default now(),
    unique (user_id, played_at)
);
create index api_recently_played_user_raw_id on raw.api_recently_played (user_id, raw_id);
