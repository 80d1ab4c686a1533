select
    user_id,
    name        as user_name,
    timezone,
    status,
    spotify_user_id,
    spotify_display_name,
    created_at
from {{ source('app', 'users') }}
