"""The docs name what the code has (issue 22, item 4): every setting of the settings classes, every
`spotify-history` command and option (the click group, walked), and the compose wiring that overrides .env."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml
from pydantic_settings import BaseSettings

from mcp_api.settings import ApiSettings
from orchestration.cli import main
from orchestration.config import Settings

# Read here, not through tests/deploy/compose_support.py: only a test's own folder is on sys.path.
REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
README = (REPO / "README.md").read_text()
DEPLOYMENT = (REPO / "docs" / "deployment.md").read_text()
DOCS = README + "".join(p.read_text() for p in sorted((REPO / "docs").glob("*.md")))
SETTINGS = [(cls, name) for cls in (Settings, ApiSettings) for name in cls.model_fields]


def commands(group: click.Group = main, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def options(command: click.Command) -> list[str]:
    names = [o for p in command.params if isinstance(p, click.Option) for o in [*p.opts, *p.secondary_opts]]
    return [o for o in names if o.startswith("--") and o != "--help"]


def command_table() -> dict[str, str]:
    """README's "Commands" table: each command named in a row's first cell -> that row's options cell."""
    section = README.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            for name in re.findall(r"`([^`]+)`", cells[0]):
                rows[name] = cells[1]
    return rows


@pytest.mark.parametrize(("cls", "name"), SETTINGS, ids=[f"{c.__name__}.{n}" for c, n in SETTINGS])
def test_every_setting_is_documented(cls: type[BaseSettings], name: str) -> None:
    assert f"`{name.upper()}`" in DOCS, f"{name.upper()} is in {cls.__name__} but in no doc (README, docs/)"


@pytest.mark.parametrize(("path", "command"), list(commands()), ids=[p for p, _ in commands()])
def test_every_command_and_option_is_in_the_readme(path: str, command: click.Command) -> None:
    rows = command_table()
    assert path in rows, f"`{path}` has no row in README's Commands table"
    missing = [o for o in options(command) if f"`{o}" not in rows[path] and f"/{o}`" not in rows[path]]
    assert not missing, f"README's row for `{path}` lacks {missing}"


def test_the_root_options_are_in_the_readme() -> None:
    section = README.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    assert all(f"`{o}`" in section for o in options(main))


def test_the_compose_wiring_that_overrides_env_is_named() -> None:
    """docker-compose.yml's environment: wins over .env; deployment.md and .env.example say which names."""
    wired = set(COMPOSE["x-app"]["environment"])
    env_example = (REPO / ".env.example").read_text()
    for name in wired:
        assert f"`{name}`" in DEPLOYMENT or (name.startswith("PG") and "`PG*`" in DEPLOYMENT), name
        assert name in env_example or (name.startswith("PG") and "PG*" in env_example), name


@pytest.mark.parametrize(
    "stale",
    [
        "can read nothing else",  # the API role reads app.api_keys' key columns, writes app.oauth_*
        "39 s for ten million rows",  # no benchmark record holds it
        "within seconds",  # the inbox takes up to ~35 s
        "v2.23 or newer",  # inline configs need 2.23.1
        "(`dagster dev`)",  # up runs the webserver and the daemon
        "ps, streams, days, first",  # coverage's per-source key is days_with_plays
    ],
)
def test_claims_the_code_does_not_make_are_gone(stale: str) -> None:
    assert stale not in DOCS
