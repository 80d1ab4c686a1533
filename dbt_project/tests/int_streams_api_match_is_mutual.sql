-- Rule 3 is one-to-one: an export row's matched_api_key names an API row that is a duplicate
-- ('api_vs_export') pointing back at that export row, and every such API row is named by exactly
-- one export row. Both rows of a pair lie within api_match_seconds, so a build rewrites both: the
-- latest build's rows are checked (macros/latest_batch.sql).
with export_side as (
    select stream_key as export_key, matched_api_key as api_key, user_id
    from {{ latest_batch(ref('int_streams')) }}
    where matched_api_key is not null
),

api_side as (
    select canonical_of as export_key, stream_key as api_key, user_id
    from {{ latest_batch(ref('int_streams')) }}
    where duplicate_rule = 'api_vs_export'
)

select e.export_key, e.api_key, a.export_key as api_points_to, e.user_id, a.user_id as api_user_id
from export_side e
full outer join api_side a on a.api_key = e.api_key and a.export_key = e.export_key
where e.api_key is null or a.api_key is null or e.user_id <> a.user_id
