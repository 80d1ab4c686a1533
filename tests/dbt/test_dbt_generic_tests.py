"""The project's own generic data tests find what they are for, on a real Postgres (dbt show runs the
test's SQL: the rows it returns are its failures)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from orchestration.defs.dbt.project import run_dbt


def failures(tmp_path: Path, test_call: str) -> list[dict[str, object]]:
    args = ["show", "--inline", test_call, "--output", "json", "--limit", "100", "--quiet", "--log-path", str(tmp_path)]
    done = run_dbt(args, target_path=tmp_path / "target", capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return list(json.loads(done.stdout)["show"])


def test_row_rules_names_each_broken_rule_with_its_rows(conn: psycopg.Connection, tmp_path: Path) -> None:
    conn.execute("create schema if not exists test_generic")
    conn.execute("drop table if exists test_generic.rows")
    conn.execute("create table test_generic.rows (a int, b text, c date)")
    conn.execute(
        "insert into test_generic.rows values (1, null, '2024-01-01'), (2, null, null), (3, 'x', '2024-01-02')"
    )
    conn.commit()
    relation = "api.Relation.create(schema='test_generic', identifier='rows')"

    def broken(arguments: str) -> list[tuple[object, object]]:
        found = failures(tmp_path, f"{{{{ test_row_rules({relation}, {arguments}) }}}}")
        return sorted((row["rule"], row["failing_rows"]) for row in found)

    try:
        assert broken("['a', 'b', 'c']") == [("not_null b", 2), ("not_null c", 1)]
        assert broken("['a']") == []
        # A rule fails where it is false or NULL (c is NULL in one row, a > 1 in two).
        checks = "{'small': 'a <= 1', 'dated': \"c >= '2024-01-01'\", 'known': \"b is null or b in ('x')\"}"
        assert broken(f"checks={checks}") == [("dated", 1), ("small", 2)]
        assert broken("not_null=['a'], checks={'positive': 'a > 0'}") == []
    finally:
        conn.execute("drop schema test_generic cascade")
        conn.commit()
