"""Partitions of the API-plays asset: user (dynamic, kept in step by the sensor) × UTC day."""

from datetime import UTC, date, datetime, time, timedelta

import dagster as dg

SPOTIFY_USERS = "spotify_users"
spotify_users = dg.DynamicPartitionsDefinition(name=SPOTIFY_USERS)
# The API keeps only ~50 plays, so old days hold nothing to fetch; the start only bounds the UI.
# end_offset=1: today's partition exists (polls materialize it).
spotify_days = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_offset=1)
api_partitions = dg.MultiPartitionsDefinition({"date": spotify_days, "user": spotify_users})


def partition_key(user: str, day: date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day.isoformat(), "user": user})


def utc_today() -> date:
    return datetime.now(UTC).date()


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)
