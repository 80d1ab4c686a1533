"""Shared helpers for CLI commands: one way to fail, one way to get a migrated connection."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
import psycopg

warnings.filterwarnings("ignore", module="platformdirs")


def fail(message: str, code: int = 1) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    raise SystemExit(code)


@contextmanager
def reaching_database() -> Iterator[None]:
    """Errors reaching the database become clear exits."""
    try:
        yield
    except psycopg.OperationalError as exc:
        fail(f"cannot reach the database: {str(exc).strip().splitlines()[0]}")


@contextmanager
def database() -> Iterator[psycopg.Connection]:
    """A connection to the application database, schema up to date; errors become clear exits."""
    from orchestration.db import connect, ensure_schema

    with reaching_database():
        ensure_schema()
        with connect() as conn:
            yield conn
