-- A duplicate's canonical_of points to an existing stream of the same user that is not itself a
-- duplicate (the stream it finally collapsed into). Returns the offending duplicates.
select
    d.stream_key,
    d.user_id,
    d.duplicate_rule,
    d.canonical_of,
    c.user_id      as canonical_user_id,
    c.is_duplicate as canonical_is_duplicate
from {{ ref('int_streams') }} d
left join {{ ref('int_streams') }} c on c.stream_key = d.canonical_of
where d.is_duplicate
  and (c.stream_key is null or c.is_duplicate or c.user_id <> d.user_id)
