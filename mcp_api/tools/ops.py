"""The ops namespace: sync status, the import registry and the latest job runs, for one user or
(admin key, no user_id) all. Each tool's function, its argument and result models and its SQL are
here; registry.py lists the tools."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from mcp_api.errors import NotFound
from mcp_api.tools.common import Args, Call, LimitArg, Out, UserArg, tool

# Columns of sync_status that could hold secret material are never shown, whatever later models add
# (statuses and times about tokens, such as token_status or *_expires_at, are fine).
SECRET_SUFFIXES = ("token", "_enc", "secret", "password", "verifier", "code")


def is_shown(column: str) -> bool:
    return not column.endswith(SECRET_SUFFIXES)


class ImportsArgs(UserArg, LimitArg):
    pass


JobKind = Literal["import", "poll", "backfill", "initial_sync", "top_snapshot", "marts_build"]


class JobRunsArgs(UserArg, LimitArg):
    kind: JobKind | SkipJsonSchema[None] = Field(
        default=None,
        description="Only this kind: import, poll, backfill, initial_sync, top_snapshot or marts_build.",
    )


class UserStatus(Out):
    """A row of marts.sync_status; new columns appear as extra fields."""

    model_config = ConfigDict(extra="allow")

    user_id: int
    user_name: str
    status: str
    timezone: str
    plays: int


class SyncStatus(Out):
    users: list[UserStatus]


class ImportItem(Out):
    import_id: int
    user_name: str
    source_name: str
    source_kind: str
    status: str
    formats: dict[str, Any]
    records: int | None
    inserted: int | None
    duplicates: int | None
    skipped_files: int | None
    first_stream_at: datetime | None
    last_stream_at: datetime | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class LatestImports(Out):
    items: list[ImportItem]


class JobRunItem(Out):
    kind: JobKind
    id: int = Field(description="The run's id in its registry (import, sync, snapshot or build id).")
    user: str | None = Field(description="The listener; null for marts builds (they serve every user).")
    status: str = Field(description="running, succeeded, failed, rate_limited or needs_reauth.")
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int | None] = Field(
        description="imports: records, inserted, duplicates; polls/backfills/initial syncs: requests, fetched, "
        "inserted; top snapshots: requests, items; marts builds: models, tests, failures."
    )
    detail: str | None = Field(description="Import: the file; sync: why it stopped; build: full refresh.")
    error: str | None


class LatestJobRuns(Out):
    items: list[JobRunItem] = Field(description="Newest first.")


SYNC_STATUS = """
select to_jsonb(s) as row from marts.sync_status s
where %(all_users)s or s.user_id = %(user_id)s
order by s.user_name
"""


LATEST_IMPORTS = """
select import_id, user_name, source_name, source_kind, status, formats, records, inserted, duplicates,
       jsonb_array_length(skipped_files) as skipped_files, first_stream_at, last_stream_at, error,
       started_at, finished_at
from marts.imports
where %(all_users)s or user_id = %(user_id)s
order by started_at desc, import_id desc
limit %(limit)s
"""


# A user's runs and the marts builds (which serve every user); the admin key without user_id: all.
LATEST_JOB_RUNS = """
select kind, run_id, user_name, status, started_at, finished_at, counts, detail, error
from marts.job_runs
where (%(all_users)s or user_id = %(user_id)s or user_id is null)
  and (%(kind)s::text is null or kind = %(kind)s::text)
order by started_at desc, run_id desc
limit %(limit)s
"""


@tool(
    "ops.sync_status",
    "The listener's sync status: account status, time zone, stored plays, time span per source and the "
    "last import. With the admin key and no user_id: every user.",
    all_users=True,
    title="Sync status of my history",
)
async def sync_status(c: Call, args: Args) -> SyncStatus:
    rows = await c.db.rows(SYNC_STATUS, {"all_users": c.user is None, "user_id": c.user.user_id if c.user else None})
    users = [UserStatus.model_validate({k: v for k, v in sorted(r["row"].items()) if is_shown(k)}) for r in rows]
    if c.user is not None and not users:
        raise NotFound(f"no status for user {c.user.name} yet")
    return SyncStatus(users=users)


@tool(
    "ops.latest_imports",
    "The most recent privacy-export imports of the listener (newest first): file, status, record counts, "
    "time span, errors. With the admin key and no user_id: all users.",
    all_users=True,
    title="My latest export imports",
)
async def latest_imports(c: Call, args: ImportsArgs) -> LatestImports:
    rows = await c.db.rows(
        LATEST_IMPORTS,
        {"all_users": c.user is None, "user_id": c.user.user_id if c.user else None, "limit": args.limit},
    )
    return LatestImports(items=[ImportItem.model_validate(r) for r in rows])


@tool(
    "ops.latest_job_runs",
    "The latest work done for the listener, newest first: imports, polls, initial syncs/backfills, top-list "
    "snapshots and marts builds, with status, times, counts and errors. Admin key without user_id: all.",
    all_users=True,
    title="Latest jobs: imports, polls, builds",
)
async def latest_job_runs(c: Call, args: JobRunsArgs) -> LatestJobRuns:
    rows = await c.db.rows(
        LATEST_JOB_RUNS,
        {
            "all_users": c.user is None,
            "user_id": c.user.user_id if c.user else None,
            "kind": args.kind,
            "limit": args.limit,
        },
    )
    return LatestJobRuns.model_validate(
        {
            "items": [
                {
                    "kind": r["kind"],
                    "id": r["run_id"],
                    "user": r["user_name"],
                    "status": r["status"],
                    "started_at": r["started_at"],
                    "finished_at": r["finished_at"],
                    "counts": r["counts"] or {},
                    "detail": r["detail"],
                    "error": r["error"],
                }
                for r in rows
            ]
        }
    )
