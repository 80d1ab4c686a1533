"""`spotify-history backup FILE` and `restore FILE` (orchestration/maintenance/backup.py does the work)."""

from __future__ import annotations

from pathlib import Path

import click

from orchestration.cli.common import fail, reaching_database


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(file: Path) -> None:
    """Write everything needed to carry on elsewhere to FILE: listeners, tokens, keys, OAuth grants, imports,
    every raw row, the marts and Dagster's run history. Not the Spotify token key: keep that yourself."""
    from orchestration.config import get_settings
    from orchestration.maintenance.backup import BackupError, backup

    try:
        with reaching_database():
            manifest = backup(file, on_step=lambda step: click.echo(f"{step} ...", err=True))
    except BackupError as exc:
        fail(str(exc))
    counts = ", ".join(f"{n:,} {t}" for t, n in manifest.counts.items())
    click.echo(f"wrote {file} ({file.stat().st_size:,} bytes; {counts})")
    settings = get_settings()
    where = "TOKEN_ENCRYPTION_KEY" if settings.token_encryption_key else str(settings.token_key_file)
    click.echo(
        f"the Spotify token key is not in the backup: keep a copy of {where} apart from it "
        "(restored without it, Spotify links need a new login; everything else is there)"
    )


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
def restore_command(file: Path, force: bool) -> None:
    """Restore a backup FILE into this home's (or DATABASE_URL's) database, then run `refresh` if you like.

    Stop `up` (or the daemon and webserver) first. Refuses a database that holds data unless --force."""
    from orchestration.maintenance.backup import BackupError, invalidate_unreadable_tokens, restore

    try:
        with reaching_database():
            manifest = restore(file, force=force, on_step=lambda step: click.echo(f"{step} ...", err=True))
            relink = invalidate_unreadable_tokens()
    except BackupError as exc:
        fail(str(exc))
    counts = ", ".join(f"{n:,} {t}" for t, n in manifest.counts.items())
    click.echo(f"restored {file} (written {manifest.created_at} by version {manifest.app_version}; {counts})")
    if relink:
        click.echo(
            f"needs re-auth: {', '.join(relink)} — their Spotify tokens were encrypted with another key; "
            "put that key back (TOKEN_ENCRYPTION_KEY or the key file) or run `spotify-history auth login --user NAME`"
        )
