"""The house's import rules, read from the code's own import statements (ast): nothing of it is imported.

Every import counts, also those inside functions (the CLI's lazy imports) and under TYPE_CHECKING: a
rule holds for what a module may ever load, not only for what it loads first.

* the pure core (orchestration/imports/, orchestration/spotify/, and db/, config.py, users.py beneath
  them) imports no Dagster and no dbt, and none of its wiring (defs/, cli/, definitions.py, instance.py)
  nor the demo's wing; so the Spotify client never reaches the fake Spotify (orchestration/demo/);
* mcp_api/ never imports orchestration/ (the API reads the marts only);
* no two packages import each other, directly or around a loop. A package is a folder; a module
  directly under orchestration/ or mcp_api/ (config.py, runtime.py …) counts as one of its own.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TREES = ("orchestration", "mcp_api")

CORE = (
    "orchestration.imports",
    "orchestration.spotify",
    "orchestration.db",
    "orchestration.config",
    "orchestration.users",
)
WIRING = (
    "orchestration.defs",
    "orchestration.cli",
    "orchestration.definitions",
    "orchestration.instance",
    "orchestration.demo",
)
FRAMEWORKS = ("dagster", "dagster_dbt", "dagster_postgres", "dagster_webserver", "dbt")


@cache
def modules() -> dict[str, Path]:
    """Every module of the two trees by its dotted name (a package by its own name)."""
    found = {}
    for tree in TREES:
        for path in (ROOT / tree).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


@cache
def imports_of(name: str) -> frozenset[str]:
    """What `name` imports: dotted names, `from a import b` as a.b when b is a module of ours."""
    path = modules()[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, one level up per extra dot
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base)
    return frozenset(found)


def ours(imported: str) -> str | None:
    """The module of ours that an import loads (its longest dotted prefix that is one), else None."""
    name = imported
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


def package_of(name: str) -> str:
    """A folder's dotted name; a module directly under a tree's root is its own package."""
    if modules()[name].name == "__init__.py" or name.count(".") <= 1:
        return name
    return name.rpartition(".")[0]


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def offending(sources: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{name} imports {imported}"
        for name in modules()
        if within(name, sources)
        for imported in imports_of(name)
        if within(imported, forbidden)
    )


def test_the_rules_read_real_imports() -> None:
    # A reader that found nothing would pass every rule below.
    assert "orchestration.imports.reading.reader" in modules()
    assert "orchestration.imports.reading.reader" in imports_of("orchestration.imports.importer")
    assert "dagster" in imports_of("orchestration.definitions")
    assert "orchestration.cli.in_process" in imports_of("orchestration.cli.imports")  # a lazy import counts


@pytest.mark.parametrize("core", CORE)
def test_the_core_imports_no_dagster_no_dbt_and_none_of_its_wiring(core: str) -> None:
    assert any(within(name, (core,)) for name in modules()), core
    assert offending((core,), FRAMEWORKS + WIRING) == []


def test_the_spotify_client_never_imports_the_fake_spotify() -> None:
    assert "orchestration.demo.fake_spotify" in modules()
    assert offending(("orchestration.spotify",), ("orchestration.demo",)) == []


def test_the_api_never_imports_orchestration() -> None:
    assert offending(("mcp_api",), ("orchestration",)) == []


def test_no_two_packages_import_each_other() -> None:
    edges: dict[str, set[str]] = {}
    for name in modules():
        for imported in imports_of(name):
            target = ours(imported)
            if target is None or package_of(target) == package_of(name):
                continue
            edges.setdefault(package_of(name), set()).add(package_of(target))
    circles = []
    state: dict[str, str] = {}  # "open" while on the current path, "done" once all it reaches is seen
    path: list[str] = []

    def visit(package: str) -> None:
        state[package] = "open"
        path.append(package)
        for target in sorted(edges.get(package, ())):
            if state.get(target) == "open":
                circles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[package] = "done"

    for package in sorted(edges):
        if package not in state:
            visit(package)
    assert circles == []
