-- Whether a user's Spotify link is usable: the one definition of that rule. `auth status`, the
-- spotify sensor, the token check (orchestration/spotify/links.py) and the sync_status mart all
-- read it, from this function or the view below.
create function app.spotify_token_status(user_status text, has_tokens boolean, invalidated_at timestamptz)
returns text
language sql immutable
as $$
    select case
        when not has_tokens then 'not_linked'
        -- Spotify refused the refresh token (invalid_grant), or the user was marked so.
        when user_status = 'needs_reauth' or invalidated_at is not null then 'needs_reauth'
        else 'linked'
    end
$$;

-- One row per user: the link's status and what the sensor needs to decide whether a sync is due.
create view app.spotify_links as
select
    u.user_id,
    u.name as user_name,
    u.status as user_status,
    u.spotify_user_id,
    u.spotify_display_name,
    t.user_id is not null as has_tokens,
    app.spotify_token_status(u.status, t.user_id is not null, t.invalidated_at) as token_status,
    -- Active (not paused) and linked: automatic syncs may run for this user.
    u.status = 'active'
        and app.spotify_token_status(u.status, t.user_id is not null, t.invalidated_at) = 'linked' as syncable,
    t.authorized_at,
    s.last_poll_at,
    s.last_initial_sync_at,
    s.rate_limited_until
from app.users u
left join app.spotify_tokens t using (user_id)
left join lateral (
    select
        max(started_at) filter (where kind = 'poll') as last_poll_at,
        max(started_at) filter (where kind = 'initial_sync') as last_initial_sync_at,
        max(rate_limited_until) as rate_limited_until
    from app.spotify_syncs
    where spotify_syncs.user_id = u.user_id
) s on true;
