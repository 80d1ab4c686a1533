"""`spotify-history import` (runs as a Dagster run on the shared instance) and `imports` (the registry)."""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from orchestration.cli.common import database, fail

if TYPE_CHECKING:
    from orchestration.imports.parser_process import ParsingAhead


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--user", "user", required=True, help="User the history belongs to.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object as the last line.")
def import_command(paths: tuple[Path, ...], user: str, as_json: bool) -> None:
    """Import privacy-export ZIPs, JSON files or folders for a user.

    Each PATH becomes one Dagster run (partition of the raw-table assets) on the same instance as
    the UI, so it shows up there with its logs. Importing the same records again inserts nothing.
    """
    from orchestration import users as repo
    from orchestration.config import get_settings
    from orchestration.imports.parser_process import ParsingAhead
    from orchestration.imports.reading.sources import Limits

    with database() as conn:
        try:
            repo.get(conn, user)
        except repo.UserError as exc:
            fail(str(exc))
    # While Dagster loads (≈ 1.4 s), a large first file is already being parsed (ParsingAhead) and hashed:
    # the run needs its sha256 to name its partition (hashlib lets go of the interpreter lock, and the
    # run's import finds the hash remembered: sources.file_sha256).
    ahead = ParsingAhead.start(paths[0], Limits.from_settings(), get_settings().import_parser_process_bytes)
    try:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(_hash_quietly, paths[0])
            from orchestration.cli import in_process  # noqa: F401  (Dagster: the import that takes long)
        done, failed = _import_each(paths, user, ahead, quiet=as_json)
    finally:
        ahead.stop()
    summary = _summary(done, failed)
    if as_json:
        click.echo(json.dumps(summary, default=str))
    if failed:
        raise SystemExit(1)


def _import_each(
    paths: tuple[Path, ...], user: str, ahead: ParsingAhead, quiet: bool
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """One run per path, in order; the first path's run gets the parsing process started ahead."""
    from orchestration.cli.in_process import RunError, run_import
    from orchestration.cli.progress import TerminalProgress

    done: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for i, path in enumerate(paths, 1):
        label = f"({i}/{len(paths)}) " if len(paths) > 1 else ""
        try:
            result = run_import(path, user, TerminalProgress(label=label), ahead if i == 1 else None)
        except RunError as exc:
            failed.append({"path": str(path), "error": str(exc), "run_id": exc.run_id or ""})
            click.secho(f"error: {exc}", fg="red", err=True)
            continue
        done.append(result)
        if not quiet:
            click.echo(_line(result))
    return done, failed


def _hash_quietly(path: Path) -> None:
    from orchestration.imports.reading.errors import ExportError
    from orchestration.imports.reading.sources import describe

    with contextlib.suppress(ExportError):  # the run says what is wrong with the path
        describe(path)


def _line(result: dict[str, Any]) -> str:
    formats = ", ".join(f"{k}: {v:,}" for k, v in result["formats"].items())
    span = f"{result['min_ts']:%Y-%m-%d} – {result['max_ts']:%Y-%m-%d}" if result["min_ts"] else "-"
    skipped = f", {len(result['skipped_files'])} file(s) skipped" if result["skipped_files"] else ""
    return (
        f"{result['source_name']}: {result['records']:,} records ({formats}); {result['inserted']:,} new, "
        f"{result['duplicates']:,} already stored; {span}{skipped}  [run {result['run_id'][:8]}]"
    )


def _summary(done: list[dict[str, Any]], failed: list[dict[str, str]]) -> dict[str, Any]:
    formats: dict[str, int] = {}
    for r in done:
        for name, count in r["formats"].items():
            formats[name] = formats.get(name, 0) + count
    return {
        "status": "failed" if failed else "succeeded",
        "records": sum(r["records"] for r in done),
        "inserted": sum(r["inserted"] for r in done),
        "duplicates": sum(r["duplicates"] for r in done),
        "formats": formats,
        "skipped_files": [s for r in done for s in r["skipped_files"]],
        "imports": [
            {
                k: r[k]
                for k in (
                    "import_id",
                    "run_id",
                    "source_name",
                    "records",
                    "inserted",
                    "duplicates",
                    "formats",
                    "min_ts",
                    "max_ts",
                    "seconds",
                )
            }
            for r in done
        ],
        "failed": failed,
    }


@click.command("imports")
@click.option("--user", "user", help="Only this user's imports.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def imports_command(user: str | None, limit: int, as_json: bool) -> None:
    """List recent imports from the import registry."""
    from orchestration import users as repo
    from orchestration.imports import registry

    with database() as conn:
        try:
            user_id = repo.get(conn, user).user_id if user else None
        except repo.UserError as exc:
            fail(str(exc))
        registry.sweep_interrupted(conn)  # an import whose process died reads failed ("interrupted")
        rows = registry.latest(conn, user_id, limit)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, default=str))
        return
    if not rows:
        click.echo("no imports yet")
        return
    for r in rows:
        counts = f"{r['records'] or 0:,} read, {r['inserted'] or 0:,} new" if r["status"] == "succeeded" else ""
        error = f"  {r['error']}" if r["error"] else ""
        click.echo(
            f"#{r['import_id']:<5} {r['started_at']:%Y-%m-%d %H:%M}  {r['user_name']:<12} "
            f"{r['status']:<9} {r['source_name']}  {counts}{error}"
        )
