-- Spotify's own top lists (daily snapshots) and the registry of marts builds (issue 8).
--
-- app.spotify_top_snapshots: one row per snapshot run of one user (its outcome, also when it
-- failed). raw.spotify_top_items: what GET /v1/me/top/{artists,tracks} answered in that run, one
-- row per item and (entity, time_range), rank 1 first. A snapshot is written in one transaction
-- (all six lists or none), so a reader never sees half of one.
create table app.spotify_top_snapshots (
    snapshot_id    bigint generated always as identity primary key,
    user_id        integer not null references app.users (user_id) on delete cascade,
    dagster_run_id text,
    status         text not null check (status in ('running', 'succeeded', 'rate_limited', 'failed', 'needs_reauth')),
    requests       integer not null default 0,
    items          integer not null default 0,       -- rows written to raw.spotify_top_items
    error          text,
    started_at     timestamptz not null default now(),
    finished_at    timestamptz
);
create index spotify_top_snapshots_user_started on app.spotify_top_snapshots (user_id, started_at desc);

create table raw.spotify_top_items (
    raw_id       bigint generated always as identity primary key,
    user_id      integer not null,
    snapshot_id  bigint not null,       -- app.spotify_top_snapshots row of the run that stored it
    snapshot_at  timestamptz not null,  -- when the lists were fetched
    entity       text not null check (entity in ('artists', 'tracks')),
    time_range   text not null check (time_range in ('short_term', 'medium_term', 'long_term')),
    rank         integer not null check (rank >= 1),
    item_id      text,                  -- Spotify id (artist or track)
    item_uri     text,
    item_name    text not null,
    artists      jsonb not null default '[]',  -- tracks: [{id, name, uri}] in Spotify's order
    album_name   text,                  -- tracks
    genres       jsonb,                 -- artists: Spotify's genres, when it gives them
    popularity   integer,               -- 0-100, when Spotify gives it
    loaded_at    timestamptz not null default now(),
    unique (snapshot_id, entity, time_range, rank)
);
create index spotify_top_items_user_raw_id on raw.spotify_top_items (user_id, raw_id);

-- One row per dbt build of the marts (the dbt asset records it when the build ends).
create table app.marts_builds (
    build_id       bigint generated always as identity primary key,
    dagster_run_id text,
    full_refresh   boolean not null default false,
    status         text not null check (status in ('succeeded', 'failed')),
    models         integer not null default 0,  -- models built
    tests          integer not null default 0,  -- data tests run
    failures       integer not null default 0,  -- models or tests that failed or errored
    error          text,
    started_at     timestamptz not null,
    finished_at    timestamptz not null default now()
);
create index marts_builds_started on app.marts_builds (started_at desc);
