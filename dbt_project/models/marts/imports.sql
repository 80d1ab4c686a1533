-- The import registry as the API may show it (no paths, no hashes beyond a short prefix).
{{ config(indexes=[{'columns': ['user_id', 'started_at']}]) }}

select
    i.import_id,
    i.user_id,
    u.user_name,
    i.source_name,
    i.source_kind,
    left(i.sha256, 12) as sha256_prefix,
    i.size_bytes,
    i.status,
    i.formats,
    i.skipped_files,
    i.records,
    i.inserted,
    i.duplicates,
    i.first_stream_at,
    i.last_stream_at,
    i.error,
    i.started_at,
    i.finished_at
from {{ ref('stg_app__imports') }} i
join {{ ref('stg_app__users') }} u using (user_id)
