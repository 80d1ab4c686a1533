{#
  Contract (domain.md §3): an `unknown` row (no track, episode or audiobook fields) is kept but never
  counted. Coverage must therefore count, per user, local day and source, exactly the surviving
  streams that are not unknown: no row for a day that has only unknown streams (it is a gap), and
  no unknown stream in another day's count. Returns the rows where coverage disagrees.
#}
with days as (  -- the days the latest build wrote (macros/latest_batch.sql)
    select distinct user_id, local_date from {{ latest_batch(ref('int_streams')) }}
),
expected as (
    select user_id, local_date, stream_source as source, count(*) as streams
    from {{ rows_on_days(ref('int_streams'), 's') }}
    where not is_duplicate and content_type <> 'unknown'
    group by 1, 2, 3
),
coverage as (
    select * from {{ rows_on_days(ref('coverage'), 'c') }}
)

select
    coalesce(e.user_id, c.user_id) as user_id,
    coalesce(e.local_date, c.local_date) as local_date,
    coalesce(e.source, c.source) as source,
    e.streams as expected_streams,
    c.streams as coverage_streams
from expected e
full outer join coverage c
  on c.user_id = e.user_id and c.local_date = e.local_date and c.source = e.source
where e.streams is distinct from c.streams
