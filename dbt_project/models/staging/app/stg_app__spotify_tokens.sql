-- Whether a user's Spotify authorization is stored and usable. Never the tokens: only their
-- presence, the access token's expiry and when the authorization was given, refreshed or refused.
select
    user_id,
    refresh_token_enc is not null  as has_refresh_token,
    access_expires_at,
    scope,
    authorized_at,
    refreshed_at,
    invalidated_at
from {{ source('app', 'spotify_tokens') }}
