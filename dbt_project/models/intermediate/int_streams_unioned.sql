{{ config(materialized='view') }}
-- Every stream row of every source in one shape (the stream contract, macros/streams.sql).
{{ union_streams() }}
