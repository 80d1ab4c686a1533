"""The ops tools: sync status and the import registry, for one user or (admin key) all."""

from __future__ import annotations

from mcp_api import models as m
from mcp_api import queries as q
from mcp_api.call import Call
from mcp_api.errors import NotFound

# Columns of sync_status that could hold secret material are never shown, whatever later models add
# (statuses and times about tokens, such as token_status or *_expires_at, are fine).
SECRET_SUFFIXES = ("token", "_enc", "secret", "password", "verifier", "code")


def is_shown(column: str) -> bool:
    return not column.endswith(SECRET_SUFFIXES)


async def sync_status(c: Call, args: m.Args) -> m.SyncStatus:
    rows = await c.db.rows(q.SYNC_STATUS, {"all_users": c.user is None, "user_id": c.user.user_id if c.user else None})
    users = [m.UserStatus.model_validate({k: v for k, v in sorted(r["row"].items()) if is_shown(k)}) for r in rows]
    if c.user is not None and not users:
        raise NotFound(f"no status for user {c.user.name} yet")
    return m.SyncStatus(users=users)


async def latest_imports(c: Call, args: m.ImportsArgs) -> m.LatestImports:
    rows = await c.db.rows(
        q.LATEST_IMPORTS,
        {"all_users": c.user is None, "user_id": c.user.user_id if c.user else None, "limit": args.limit},
    )
    return m.LatestImports(items=[m.ImportItem.model_validate(r) for r in rows])


async def latest_job_runs(c: Call, args: m.JobRunsArgs) -> m.LatestJobRuns:
    rows = await c.db.rows(
        q.LATEST_JOB_RUNS,
        {
            "all_users": c.user is None,
            "user_id": c.user.user_id if c.user else None,
            "kind": args.kind,
            "limit": args.limit,
        },
    )
    return m.LatestJobRuns.model_validate(
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
