"""The inbox's folders: $SPOTIFY_HISTORY_HOME/inbox/<user>/ (INBOX_DIR), one per user."""

from __future__ import annotations

import contextlib
import stat
from pathlib import Path


def user_folder(root: Path, user: str) -> Path:
    """The user's inbox folder, created when missing.

    A new folder is made as group-writable as the root: on a server the root is shared with a host
    user through a group (docs/deployment.md: mode 2775), and the services' umask (022) would
    otherwise leave the user folders they create writable by the services alone."""
    folder = root / user
    if folder.is_dir():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # not ours to change (another owner): it stays as it is
        shared = stat.S_IMODE(root.stat().st_mode) & (stat.S_IRWXG | stat.S_ISGID)
        if shared & stat.S_IWGRP:
            folder.chmod(stat.S_IMODE(folder.stat().st_mode) | shared)
    return folder
