"""docker-compose.yml as the tests read it: the services, and Compose's variable interpolation.

Shared by tests/deploy/test_docker_compose.py (the file checked by parsing) and tests/deploy/test_deployment.py
(its services run as processes).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]

# One ${…} with no other inside its argument: nested ones (${A:-${B:-x}}) are resolved innermost first.
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^${}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose variable substitution (the subset this file uses, nesting included)."""

    def substitute(m: re.Match[str]) -> str:
        name, op, arg = m["name"], m["op"] or "", m["arg"]
        missing = not env.get(name) if op.startswith(":") else name not in env
        if not missing:
            return env[name]
        if op.endswith("?"):
            raise LookupError(f"{name}: {arg}")
        return arg if op.endswith("-") else ""

    while True:
        done = VARIABLE.sub(substitute, value)
        if done == value:
            return done
        value = done


def service_environment(service: str, env: dict[str, str]) -> dict[str, str]:
    """The `environment:` Compose gives a service's container, interpolated with `env` (the .env file)."""
    values = SERVICES[service].get("environment", {})
    if isinstance(values, list):
        values = dict(item.split("=", 1) for item in values)
    return {key: interpolate(str(value), env) for key, value in values.items()}
