"""The official MCP Inspector CLI (`npx @modelcontextprotocol/inspector --cli`) drives the stdio server
and the Streamable HTTP endpoint, as a person would from a terminal. Skipped, with the reason, where
node/npx or the package is not available (.ci/run installs it)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import World, live_server, world

from mcp_api.tools import TOOLS

COMMAND = str(Path(sys.executable).with_name("spotify-history"))
# Pinned: npx otherwise takes whichever release suits the node it runs under (0.15.0, without --header, on
# node 20; a 2.x on node 22), so two machines would test two different clients.
PACKAGE = "@modelcontextprotocol/inspector@0.17.5"


@functools.cache
def _probe() -> tuple[list[str], str] | str:
    """The command line that runs the Inspector CLI and its --help text, or why it cannot run here."""
    npx = shutil.which("npx")
    if npx is None:
        return "npx is not installed"
    # .ci/run fetches the package into npx's cache beforehand; offline without it, the probe fails.
    base = [npx, "--yes", PACKAGE, "--cli"]
    try:
        probe = subprocess.run([*base, "--help"], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return f"{PACKAGE} did not answer within 120 s"
    if probe.returncode != 0 or "--cli" not in probe.stdout:
        return f"{PACKAGE} is not installed (npm install -g {PACKAGE}, or run .ci/run)"
    return base, probe.stdout


def inspector() -> list[str] | str:
    """The command line that runs the Inspector CLI, or why it cannot run here."""
    probed = _probe()
    return probed if isinstance(probed, str) else probed[0]


def sends_headers() -> bool:
    """Whether the Inspector that npx runs has --header (read from its own --help, not from npx's cache)."""
    probed = _probe()
    return not isinstance(probed, str) and "--header" in probed[1]


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    command = inspector()
    if isinstance(command, str):
        pytest.skip(command)
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def data(home: Path) -> World:
    if isinstance(inspector(), str):
        pytest.skip(str(inspector()))
    return world()


def stdio_target(user: str) -> list[str]:
    # -e: the Inspector starts servers with a minimal environment.
    return ["-e", f"SPOTIFY_HISTORY_HOME={os.environ['SPOTIFY_HISTORY_HOME']}", COMMAND, "--", "mcp", "--user", user]


def test_inspector_lists_and_calls_over_stdio(data: World) -> None:
    listener = data["efrrowini"]
    target = stdio_target(listener.name)
    listed = run(*target[:3], "--method", "tools/list", *target[3:])
    assert [t["name"] for t in listed["tools"]] == list(TOOLS)
    called = run(*target[:3], "--method", "tools/call", "--tool-name", "history.coverage", *target[3:])
    assert called.get("isError") is not True
    assert called["structuredContent"]["window"]["timezone"] == listener.timezone


@pytest.fixture(scope="module")
def base(data: World) -> Iterator[str]:
    with live_server() as url:
        yield url


def test_inspector_over_http_meets_the_oauth_challenge_and_uses_a_key(data: World, base: str) -> None:
    listener = data["efrrowini"]
    # Without credentials the Inspector gets the 401 that starts OAuth discovery (it cannot open a browser).
    command = inspector()
    assert not isinstance(command, str)
    refused = subprocess.run(
        [*command, f"{base}/mcp", "--transport", "http", "--method", "tools/list"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert refused.returncode != 0 and "unauthorized" in refused.stdout + refused.stderr
    if not sends_headers():
        pytest.skip(f"this {PACKAGE} CLI cannot send an Authorization header (no --header option)")
    listed = run(f"{base}/mcp", "--transport", "http", "--header", f"Authorization: Bearer {listener.key}",
                 "--method", "tools/list")  # fmt: skip
    assert [t["name"] for t in listed["tools"]] == list(TOOLS)
