-- Account data, podcasts: every row is a podcast stream (the file says so).
select
    'account_podcast_streams' as source_table,
    'account'                 as stream_source,
    raw_id,
    user_id,
    import_id                 as load_id,
    source_file,
    loaded_at,
    end_time                  as ended_at,
    ms_played,
    'podcast'                 as content_type,
    podcast_name              as show_name,
    episode_name,
    false                     as is_incognito
from {{ source('spotify_raw', 'account_podcast_streams') }}
