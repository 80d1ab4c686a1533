-- Every local day in int_streams and the day-grain marts is computed in the user's current time
-- zone: a zone change must rebuild the user's rows everywhere. Returns rows in a stale zone.
{%- set day_models = ['int_streams', 'top_artists', 'top_tracks', 'listening_heatmap', 'coverage',
                      'content_mix', 'top_shows', 'top_audiobooks'] %}
{%- for model in day_models %}
select '{{ model }}' as model, m.user_id, m.timezone as model_timezone, u.timezone as user_timezone,
       count(*) as n_rows
from {{ ref(model) }} m
join {{ source('app', 'users') }} u using (user_id)
where m.timezone is distinct from u.timezone
group by m.user_id, m.timezone, u.timezone
{% if not loop.last %}union all{% endif %}
{%- endfor %}
