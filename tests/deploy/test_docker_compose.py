"""docker-compose.yml, the Dockerfile and .env.example, checked by parsing: no Docker engine needed.

Compose's ${VAR}, ${VAR:-default} and ${VAR:?message} are interpolated here the way Compose does,
with a made-up .env, so URLs and port bindings are checked as the containers would see them.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from compose_support import COMPOSE, REPO, SERVICES, VARIABLE, interpolate, service_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

APP_SERVICES = ["migrate", "dagster-webserver", "dagster-daemon", "api"]
LONG_RUNNING = ["dagster-webserver", "dagster-daemon", "api"]
PUBLISHED = {"dagster-webserver": 3000, "api": 8000}
SECRETS = ["POSTGRES_PASSWORD", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "TOKEN_ENCRYPTION_KEY"]
FAKE_ENV = {"POSTGRES_PASSWORD": "not-a-real-password"}
_VARIABLE = VARIABLE
_REFERENCE = re.compile(rf"^{_VARIABLE.pattern}$")


def environment(service: str) -> dict[str, str]:
    return service_environment(service, FAKE_ENV)


@functools.cache
def installed_executables() -> frozenset[str]:
    """What `pip install .` puts on PATH: the project's scripts and those of its dependencies (not dev extras)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    needed, todo = set(), [project["name"]]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in needed:
            continue
        needed.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for requirement in map(Requirement, requires):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    scripts = {
        ep.name
        for ep in entry_points(group="console_scripts")
        if ep.dist is not None and canonicalize_name(ep.dist.name) in needed
    }
    return frozenset({*project["scripts"], *scripts, "python"})


def dockerfile_instructions(name: str) -> list[str]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.upper().startswith(f"{name} ")]


def test_the_services_exist() -> None:
    assert {"postgres", *APP_SERVICES} <= set(SERVICES)


def test_postgres_is_the_official_image_with_a_volume_and_no_published_port() -> None:
    postgres = SERVICES["postgres"]
    assert postgres["image"] == "postgres:17"
    volume = next(v for v in postgres["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert volume.split(":")[0] in COMPOSE["volumes"]
    assert "ports" not in postgres


def test_app_services_share_one_image_built_from_the_dockerfile() -> None:
    builds = {json.dumps(SERVICES[s].get("build"), sort_keys=True) for s in APP_SERVICES}
    images = {SERVICES[s].get("image") for s in APP_SERVICES}
    assert len(builds) == 1 and len(images) == 1 and None not in images
    assert (REPO / SERVICES["api"]["build"] / "Dockerfile").is_file()


@pytest.mark.parametrize("service", APP_SERVICES)
def test_database_urls_point_at_the_postgres_service(service: str) -> None:
    from orchestration.instance import sqlalchemy_url

    env, postgres = environment(service), environment("postgres")
    for key, database in (("DATABASE_URL", postgres["POSTGRES_DB"]), ("DAGSTER_DATABASE_URL", "dagster")):
        url = urlsplit(env[key])
        assert (url.hostname, url.port, url.path) == ("postgres", 5432, f"/{database}")
        assert (url.username, url.password) == (postgres["POSTGRES_USER"], FAKE_ENV["POSTGRES_PASSWORD"])
    # dagster.yaml reads this one; it must be the Dagster database, in the driver dagster-postgres uses.
    assert env["SPOTIFY_HISTORY_DAGSTER_PG_URL"] == sqlalchemy_url(env["DAGSTER_DATABASE_URL"])
    assert env["SPOTIFY_HISTORY_DAGSTER_PG_URL"].startswith("postgresql+psycopg2://")


def test_the_dagster_database_is_created_with_the_server() -> None:
    (init,) = SERVICES["postgres"]["configs"]
    assert init["target"].startswith("/docker-entrypoint-initdb.d/")
    sql = COMPOSE["configs"][init["source"]]["content"]
    assert re.search(r"create database dagster\b", sql, re.IGNORECASE)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_dagster_home_holds_the_projects_dagster_yaml_and_lives_on_the_shared_volume(service: str) -> None:
    env, volumes = environment(service), [interpolate(v, {}) for v in SERVICES[service]["volumes"]]
    targets = {v.split(":")[1]: v.split(":")[0] for v in volumes}
    assert targets["/data"] == "data" and "data" in COMPOSE["volumes"]
    assert env["SPOTIFY_HISTORY_HOME"] == "/data" and env["DAGSTER_HOME"].startswith("/data/")
    mounted = REPO / targets[f"{env['DAGSTER_HOME']}/dagster.yaml"]
    assert mounted.resolve() == (REPO / "orchestration" / "dagster_home" / "dagster.yaml").resolve()
    storage = yaml.safe_load(mounted.read_text())["storage"]["custom"]
    assert storage["config"]["postgres_url"] == {"env": "SPOTIFY_HISTORY_DAGSTER_PG_URL"}
    assert env["INBOX_DIR"] in targets


def test_the_image_carries_the_same_dagster_home() -> None:
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(dockerfile_instructions("ENV"))))
    assert env["DAGSTER_HOME"] == environment("api")["DAGSTER_HOME"]
    assert any(f"{env['DAGSTER_HOME']}/dagster.yaml" in run for run in dockerfile_instructions("RUN"))


def test_migrations_run_once_before_everything_else() -> None:
    assert SERVICES["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert SERVICES["migrate"]["restart"] == "no"
    # The server may still be starting (first initialisation): migrate retries for a bounded time.
    command = SERVICES["migrate"]["command"]
    assert command[:2] == ["spotify-history", "prepare"] and "--wait-for-database" in command
    assert 60 <= int(command[command.index("--wait-for-database") + 1]) <= 600
    for service in LONG_RUNNING:
        depends = SERVICES[service]["depends_on"]
        # restart: true — an upgrade that re-creates migrate stops these first, starts them after it.
        assert depends["migrate"] == {"condition": "service_completed_successfully", "restart": True}
        assert depends["postgres"] == {"condition": "service_healthy"}
        assert SERVICES[service]["restart"] in ("always", "unless-stopped")
    assert SERVICES["postgres"]["restart"] in ("always", "unless-stopped")


def test_postgres_is_healthy_only_once_it_answers_over_tcp() -> None:
    """pg_isready over the socket already passes during the image's first initialisation (issue 22, 2)."""
    (check,) = SERVICES["postgres"]["healthcheck"]["test"][1:]
    assert re.search(r"pg_isready .*-h 127\.0\.0\.1\b", check), check


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"API_PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"API_PORT": "9000", "PUBLIC_BASE_URL": ""}, "http://127.0.0.1:9000"),
        ({"PUBLIC_BASE_URL": "https://history.example.org"}, "https://history.example.org"),
    ],
)
def test_the_public_url_follows_the_published_api_port(env: dict[str, str], expected: str) -> None:
    assert service_environment("api", {**FAKE_ENV, **env})["PUBLIC_BASE_URL"] == expected
    # Otherwise the API's environment is every app service's.
    api = service_environment("api", FAKE_ENV)
    assert {k: v for k, v in api.items() if k != "PUBLIC_BASE_URL"} == environment("dagster-daemon")


def _walk(node: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        return [pair for key, value in node.items() for pair in _walk(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [pair for i, value in enumerate(node) for pair in _walk(value, f"{path}[{i}]")]
    return [(path, str(node))]


def test_no_secret_is_written_in_the_compose_file() -> None:
    for path, value in _walk(COMPOSE):
        if re.search(r"PASSWORD|SECRET|TOKEN|_KEY$", path.rsplit(".", 1)[-1]):
            assert _REFERENCE.match(value), f"{path} must be a ${{...}} reference, not a literal"
        for password in re.findall(r"://[^:/@]+:(.*)@", value):
            assert _REFERENCE.match(password), f"{path}: the password in the URL must be a ${{...}} reference"
    for service in APP_SERVICES:
        assert SERVICES[service]["env_file"] in (".env", [".env"])


def test_the_password_is_required() -> None:
    with pytest.raises(LookupError, match="POSTGRES_PASSWORD"):
        interpolate(SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"], {})


def test_env_example_has_placeholders_only() -> None:
    lines = (REPO / ".env.example").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    for key in SECRETS:
        assert values[key] == "", f"{key} must be an empty placeholder in .env.example"
    required = {m["name"] for _, value in _walk(COMPOSE) for m in _VARIABLE.finditer(value) if m["op"] == ":?"}
    assert required <= set(values)


def test_secrets_stay_out_of_the_image() -> None:
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and "!.env.example" in ignored
    for instruction in ("ENV", "ARG"):
        for line in dockerfile_instructions(instruction):
            assert not re.search(r"PASSWORD|SECRET|TOKEN|CLIENT_ID", line), line


def test_the_image_runs_as_a_non_root_user() -> None:
    assert dockerfile_instructions("FROM") == ["python:3.11-slim"]
    users = dockerfile_instructions("USER")
    assert users and users[-1] not in ("root", "0")


@pytest.mark.parametrize("service", ["postgres", *LONG_RUNNING])
def test_long_running_services_have_healthchecks(service: str) -> None:
    check = SERVICES[service]["healthcheck"]["test"]
    assert check[0] in ("CMD", "CMD-SHELL")
    if service != "postgres":
        assert check[1] in installed_executables()
    expected = {
        "postgres": "pg_isready",
        "api": "http://127.0.0.1:8000/healthz",
        "dagster-webserver": "http://127.0.0.1:3000/",
        "dagster-daemon": "liveness-check",
    }[service]
    assert expected in " ".join(check)


def test_the_api_healthcheck_path_answers() -> None:
    from fastapi.testclient import TestClient

    from mcp_api.doors.app import app

    assert TestClient(app).get("/healthz").status_code == 200


@pytest.mark.parametrize("service", list(PUBLISHED))
def test_ports_are_published_on_loopback_by_default(service: str) -> None:
    (port,) = SERVICES[service]["ports"]
    host, published, container = interpolate(port, {}).split(":")
    assert (host, int(container)) == ("127.0.0.1", PUBLISHED[service])
    assert int(published) == PUBLISHED[service]
    assert str(PUBLISHED[service]) in SERVICES[service]["command"]


def _commands() -> list[tuple[str, list[str]]]:
    commands = [(name, SERVICES[name]["command"]) for name in APP_SERVICES]
    for instruction in ("CMD", "ENTRYPOINT"):
        commands += [(f"Dockerfile {instruction}", json.loads(line)) for line in dockerfile_instructions(instruction)]
    return commands


@pytest.mark.parametrize(("where", "command"), _commands())
def test_commands_run_executables_the_project_installs(where: str, command: list[str]) -> None:
    assert isinstance(command, list), f"{where}: use the exec (list) form"
    assert command[0] in installed_executables(), f"{where}: {command[0]} is not installed by the project"
    assert (Path(sys.executable).parent / command[0]).exists()
    if "-w" in command:  # workspace files are relative to the image's WORKDIR, the repository root
        assert (REPO / command[command.index("-w") + 1]).is_file()


@pytest.mark.parametrize("service", ["migrate", "api"])
def test_spotify_history_subcommands_exist(service: str) -> None:
    import click

    from orchestration.cli import main

    program, *args = SERVICES[service]["command"]
    assert program == "spotify-history"
    command: click.Command = main
    while isinstance(command, click.Group) and args and args[0] in command.commands:
        command = command.commands[args.pop(0)]
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert command is not main and set(args[::2]) <= options, f"{service}: unknown command or options {args}"


@pytest.mark.parametrize("target", ["mcp_api.doors.app:app", "mcp_api.doors.app:create_app"])
def test_the_api_module_path_imports(target: str) -> None:
    """`serve-api` runs uvicorn on mcp_api.doors.app:create_app; `uvicorn mcp_api.doors.app:app` works as well."""
    from fastapi import FastAPI

    module, attribute = target.split(":")
    app = getattr(importlib.import_module(module), attribute)
    assert isinstance(app if isinstance(app, FastAPI) else app(), FastAPI)
