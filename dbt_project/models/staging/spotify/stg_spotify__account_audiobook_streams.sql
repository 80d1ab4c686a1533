-- Account data, audiobooks: every row is an audiobook stream (the file says so).
select
    'account_audiobook_streams' as source_table,
    'account'                   as stream_source,
    raw_id,
    user_id,
    import_id                   as load_id,
    source_file,
    loaded_at,
    end_time                    as ended_at,
    ms_played,
    'audiobook'                 as content_type,
    audiobook_name              as audiobook_title,
    chapter_name                as chapter_title,
    author_name,
    false                       as is_incognito
from {{ source('spotify_raw', 'account_audiobook_streams') }}
