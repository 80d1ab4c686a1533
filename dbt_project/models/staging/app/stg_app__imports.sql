select
    import_id,
    user_id,
    source_name,
    source_kind,
    sha256,
    size_bytes,
    status,
    formats,
    skipped_files,
    records,
    inserted,
    duplicates,
    min_ts       as first_stream_at,
    max_ts       as last_stream_at,
    error,
    started_at,
    finished_at
from {{ source('app', 'imports') }}
