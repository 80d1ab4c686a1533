-- A duplicate's canonical_of points to an existing stream of the same user that is not itself a
-- duplicate (the stream it finally collapsed into). Returns the offending duplicates. Checks the
-- latest build's rows (macros/latest_batch.sql); the lookup goes through the (source_table, raw_id)
-- index.
select
    d.stream_key,
    d.user_id,
    d.duplicate_rule,
    d.canonical_of,
    c.user_id      as canonical_user_id,
    c.is_duplicate as canonical_is_duplicate
from {{ latest_batch(ref('int_streams'), 'd') }}
left join {{ ref('int_streams') }} c
  on c.source_table = split_part(d.canonical_of, ':', 1)
 and c.raw_id = split_part(d.canonical_of, ':', 2)::bigint
where d.is_duplicate
  and (c.stream_key is null or c.is_duplicate or c.user_id <> d.user_id)
