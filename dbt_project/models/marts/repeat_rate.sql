-- What the repeat-rate question reads: plays per user, local day, track and release. Over a
-- window, repeat rate = 1 - count(distinct track_key) / sum(plays); tracks with sum(plays) > 1
-- are repeats. Same facts as top_tracks (a view, not a second copy).
{{ config(materialized='view') }}

select user_id, local_date, track_key, track_uri, track_name, artist_name, plays
from {{ ref('top_tracks') }}
