"""What the OAuth endpoints need of the server that serves them: its settings and its database.

mcp_api.doors.runtime.Runtime is such a host. The endpoints name this Protocol rather than the
Runtime, so oauth never imports the doors (which import oauth to mount it and to check its tokens).
"""

from __future__ import annotations

from typing import Protocol

from mcp_api.database import Database
from mcp_api.settings import ApiSettings


class Host(Protocol):
    @property
    def settings(self) -> ApiSettings: ...

    def database(self) -> Database: ...
