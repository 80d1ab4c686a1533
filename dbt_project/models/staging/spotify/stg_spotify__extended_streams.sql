-- Extended streaming history, renamed and typed. Content type: audiobook fields win over episode
-- fields, which win over track fields (a row carrying several is the more specific kind); a row
-- with none of them is 'unknown' (kept, never counted).
with source as (
    select * from {{ source('spotify_raw', 'extended_streams') }}
)

select
    'extended_streams'                           as source_table,
    'extended'                                   as stream_source,
    raw_id,
    user_id,
    import_id                                    as load_id,
    source_file,
    loaded_at,
    ts                                           as ended_at,
    ms_played,
    case
        when audiobook_title is not null or audiobook_uri is not null
          or audiobook_chapter_uri is not null or audiobook_chapter_title is not null then 'audiobook'
        when episode_name is not null or spotify_episode_uri is not null then 'podcast'
        when master_metadata_track_name is not null or spotify_track_uri is not null then 'music'
        else 'unknown'
    end                                          as content_type,
    spotify_track_uri                            as track_uri,
    master_metadata_track_name                   as track_name,
    master_metadata_album_artist_name            as artist_name,
    master_metadata_album_album_name             as album_name,
    episode_show_name                            as show_name,
    episode_name,
    spotify_episode_uri                          as episode_uri,
    audiobook_title,
    audiobook_uri,
    audiobook_chapter_title                      as chapter_title,
    audiobook_chapter_uri                        as chapter_uri,
    platform,
    conn_country,
    nullif(reason_start, '')                     as reason_start,
    nullif(reason_end, '')                       as reason_end,
    shuffle,
    skipped,
    offline,
    -- offline_timestamp is milliseconds in older exports, seconds in newer ones; 0 means unknown.
    case
        when offline_timestamp is null or offline_timestamp <= 0 then null
        when offline_timestamp > 100000000000 then to_timestamp(offline_timestamp / 1000.0)
        else to_timestamp(offline_timestamp)
    end                                          as offline_at,
    coalesce(incognito_mode, false)              as is_incognito,
    source_file ilike '%streaming_history_video%' as is_video
from source
