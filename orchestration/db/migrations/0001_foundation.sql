-- Foundation: users and the import registry (schema app), export rows (schema raw).
-- Raw column names are the export's own keys, snake_cased; the typing and renaming for
-- analysis happens in dbt staging. Every raw row carries where it came from.
--
-- Row identity in raw tables is (user_id, time, record_hash, occurrence): record_hash is
-- hash_record_extended() over every stored field, occurrence is the how-many-th identical record
-- within its source file. Raw rows are written only by the importer (one transaction per import,
-- serialized per user), so they carry user_id/import_id without foreign keys: per-row FK checks
-- would cost more than the rest of the load, and dbt's relationships tests check them instead.

create schema if not exists app;
create schema if not exists raw;

create table app.users (
    user_id              integer generated always as identity primary key,
    name                 text not null unique check (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    timezone             text not null,
    status               text not null default 'active'
                         check (status in ('active', 'paused', 'needs_reauth')),
    spotify_user_id      text,
    spotify_display_name text,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);

create table app.imports (
    import_id      bigint generated always as identity primary key,
    user_id        integer not null references app.users (user_id),
    partition_key  text,
    dagster_run_id text,
    source_name    text not null,                  -- file or folder name as given
    source_path    text not null,                  -- absolute path at import time
    source_kind    text not null check (source_kind in ('zip', 'json', 'folder')),
    sha256         text not null,
    size_bytes     bigint not null,
    status         text not null check (status in ('running', 'succeeded', 'failed')),
    formats        jsonb not null default '{}',    -- {format: records read}
    files          jsonb not null default '[]',    -- [{name, format, generation, variant, records, inserted}]
    skipped_files  jsonb not null default '[]',    -- [{name, reason}]
    records        bigint,
    inserted       bigint,
    duplicates     bigint,
    min_ts         timestamptz,
    max_ts         timestamptz,
    error          text,
    timings        jsonb not null default '{}',    -- {read_seconds, load_seconds, ...}
    started_at     timestamptz not null default now(),
    finished_at    timestamptz
);
create index imports_user_started on app.imports (user_id, started_at desc);
create index imports_partition on app.imports (partition_key, started_at desc);

-- Extended streaming history: endsong_N.json, Streaming_History_Audio_*.json, Streaming_History_Video_*.json.
create table raw.extended_streams (
    raw_id                            bigint generated always as identity primary key,
    user_id                           integer not null,
    import_id                         bigint not null,
    source_file                       text not null,
    record_no                         integer not null,   -- 1-based position in source_file
    record_hash                       bigint not null,    -- hash_record_extended of every stored field
    occurrence                        integer not null,   -- nth identical record within source_file
    ts                                timestamptz not null,
    platform                          text,
    ms_played                         bigint not null,
    conn_country                      text,
    master_metadata_track_name        text,
    master_metadata_album_artist_name text,
    master_metadata_album_album_name  text,
    spotify_track_uri                 text,
    episode_name                      text,
    episode_show_name                 text,
    spotify_episode_uri               text,
    audiobook_title                   text,
    audiobook_uri                     text,
    audiobook_chapter_uri             text,
    audiobook_chapter_title           text,
    reason_start                      text,
    reason_end                        text,
    shuffle                           boolean,
    skipped                           boolean,
    offline                           boolean,
    offline_timestamp                 bigint,             -- seconds or milliseconds, as exported
    incognito_mode                    boolean,
    extra                             jsonb,              -- keys this version does not know yet
    loaded_at                         timestamptz not null default now(),
    unique (user_id, ts, record_hash, occurrence)
);

-- Account data ("Download your data"): last year only, minute precision, no URIs.
create table raw.account_music_streams (
    raw_id      bigint generated always as identity primary key,
    user_id     integer not null,
    import_id   bigint not null,
    source_file text not null,
    record_no   integer not null,
    record_hash bigint not null,
    occurrence  integer not null,
    end_time    timestamptz not null,
    artist_name text,
    track_name  text,
    ms_played   bigint not null,
    extra       jsonb,
    loaded_at   timestamptz not null default now(),
    unique (user_id, end_time, record_hash, occurrence)
);

create table raw.account_podcast_streams (
    raw_id       bigint generated always as identity primary key,
    user_id      integer not null,
    import_id    bigint not null,
    source_file  text not null,
    record_no    integer not null,
    record_hash  bigint not null,
    occurrence   integer not null,
    end_time     timestamptz not null,
    podcast_name text,
    episode_name text,
    ms_played    bigint not null,
    extra        jsonb,
    loaded_at    timestamptz not null default now(),
    unique (user_id, end_time, record_hash, occurrence)
);

create table raw.account_audiobook_streams (
    raw_id         bigint generated always as identity primary key,
    user_id        integer not null,
    import_id      bigint not null,
    source_file    text not null,
    record_no      integer not null,
    record_hash    bigint not null,
    occurrence     integer not null,
    end_time       timestamptz not null,
    audiobook_name text,
    chapter_name   text,
    author_name    text,
    ms_played      bigint not null,
    extra          jsonb,
    loaded_at      timestamptz not null default now(),
    unique (user_id, end_time, record_hash, occurrence)
);
