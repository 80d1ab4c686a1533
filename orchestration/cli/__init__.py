"""The `spotify-history` command."""

from __future__ import annotations

import atexit
import gc

import click

from orchestration.cli import api_keys, auth, backup, database, imports, mcp, prune, refresh, run, serve, top, users

# At exit, leave the objects to the operating system: a command that ran Dagster in this process spent
# 0.7 s in the interpreter's last garbage collection (about 220 000 objects). Registered first, run last.
atexit.register(gc.freeze)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="spotify-history")
def main() -> None:
    """Keep your complete Spotify listening history and let an assistant answer questions about it."""


main.add_command(database.db)
main.add_command(users.users)
main.add_command(imports.import_command)
main.add_command(imports.imports_command)
main.add_command(refresh.refresh)
main.add_command(run.up)
main.add_command(run.prepare_command)
main.add_command(run.demo)
main.add_command(serve.serve_api)
main.add_command(mcp.mcp)
main.add_command(api_keys.api_key)
main.add_command(auth.auth)
main.add_command(auth.poll)
main.add_command(top.snapshot_top)
main.add_command(backup.backup_command)
main.add_command(backup.restore_command)
main.add_command(prune.prune_command)
