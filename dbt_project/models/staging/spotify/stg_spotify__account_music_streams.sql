-- Account data ("Download your data"), music. endTime is the end of the stream, UTC, minute precision.
select
    'account_music_streams'  as source_table,
    'account'                as stream_source,
    raw_id,
    user_id,
    import_id                as load_id,
    source_file,
    loaded_at,
    end_time                 as ended_at,
    ms_played,
    -- The contract: music is a row with a track name (account rows have no URIs).
    case when track_name is null then 'unknown' else 'music' end as content_type,
    track_name,
    artist_name,
    false                    as is_incognito
from {{ source('spotify_raw', 'account_music_streams') }}
