"""What one load left in a raw table, checked on the rows it wrote (the asset checks of load runs).

The raw tables' own rules are constraints Postgres enforces on every row (the primary key raw_id,
NOT NULL times, the unique play per user and millisecond), so nothing needs to test them again. What
no constraint sees is whether a load stored what it reported: as many rows as it counted inserted,
all of the user it ran for, every end time in the window Spotify can produce. These checks read only
the load's own rows (BRIN indexes on import_id and sync_id, migration 0010; the unique key of the top
lists), so they cost what the load wrote, not what the table holds: no dbt process in a load run.

An import also names the highest raw_id of each table before it wrote (`raw_id_floors`): raw_ids come from
each table's identity sequence, so every row it wrote lies above, and its check reads just that range of the
primary key. Right after a large load the planner has no statistics for the new rows and would scan the
whole table (and the BRIN index covers only ranges summarized by a vacuum): a second user's 1 M-row import
took 1.8 s to check that way, 0.5 s through the range.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from orchestration.imports.reading.formats import EARLIEST_TIME, FORMATS, FUTURE_TOLERANCE

# (table, column naming the load, end-time column) of every table a load writes.
LOADED_TABLES: dict[str, tuple[str, str]] = {
    **{fmt.table: ("import_id", fmt.time_field.column) for fmt in FORMATS},
    "api_recently_played": ("sync_id", "played_at"),
    "spotify_top_items": ("snapshot_id", "snapshot_at"),
}


@dataclass(frozen=True)
class LoadCheck:
    """The rows of one load in one raw table, against what the load reported."""

    table: str
    load_id: int
    expected: int
    stored: int
    other_users: int
    outside_time_window: int

    @property
    def passed(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        found = []
        if self.stored != self.expected:
            found.append(f"{self.stored:,} rows stored where the load reported {self.expected:,}")
        if self.other_users:
            found.append(f"{self.other_users:,} rows of another user")
        if self.outside_time_window:
            found.append(
                f"{self.outside_time_window:,} rows end before {EARLIEST_TIME:%Y-%m-%d} or more than "
                f"{FUTURE_TOLERANCE} after they were loaded"
            )
        return found

    def description(self) -> str:
        what = f"raw.{self.table}, load {self.load_id}"
        problems = self.problems()
        return f"{what}: " + ("; ".join(problems) if problems else f"{self.stored:,} rows as reported")


def raw_id_floors(conn: psycopg.Connection, tables: list[str]) -> dict[str, int]:
    """The highest raw_id of each table now (0 when empty): the rows a load writes from here on lie above it."""
    if not tables:
        return {}
    query = sql.SQL("select {}").format(
        sql.SQL(", ").join(
            sql.SQL("(select coalesce(max(raw_id), 0) from {})").format(sql.Identifier("raw", table))
            for table in tables
        )
    )
    row = conn.execute(query).fetchone()
    assert row is not None
    return dict(zip(tables, row, strict=True))


def check_load(
    conn: psycopg.Connection,
    table: str,
    load_id: int,
    user_id: int,
    expected: int,
    above_raw_id: int | None = None,
) -> LoadCheck:
    """Count the rows `load_id` wrote into raw.`table` and what is wrong with them.

    `above_raw_id`: the table's raw_id floor from before the load wrote (raw_id_floors); the rows are then
    read as that range of the primary key, whatever the planner's statistics say. A floor of 0 (the table
    was empty) leaves the plan to the planner: every row is the load's, and a parallel scan reads them fastest.
    """
    load_column, time_column = LOADED_TABLES[table]
    of_load: sql.Composable = sql.SQL("{} = %(load_id)s").format(sql.Identifier(load_column))
    rows: sql.Composable
    if not above_raw_id:
        rows, of_load = sql.SQL("where {}").format(of_load), sql.SQL("true")
    else:
        # Only the range in WHERE: the BRIN index on the load's id cannot then be chosen (after a large load it
        # covers nothing yet); the few rows of other loads in the range are left out by the filters.
        rows = sql.SQL("where raw_id > %(floor)s")
    query = sql.SQL(
        """
        select count(*) filter (where {of_load}),
               count(*) filter (where {of_load} and user_id <> %(user_id)s),
               count(*) filter (where {of_load} and ({time} < %(earliest)s or {time} > loaded_at + %(tolerance)s))
        from {table}
        {rows}
        """
    ).format(
        of_load=of_load,
        time=sql.Identifier(time_column),
        table=sql.Identifier("raw", table),
        rows=rows,
    )
    params = {
        "user_id": user_id,
        "earliest": EARLIEST_TIME,
        "tolerance": FUTURE_TOLERANCE,
        "load_id": load_id,
        "floor": above_raw_id,
    }
    with conn.transaction():
        if above_raw_id:  # no statistics on the new rows yet: the planner would read the whole table
            conn.execute("set local enable_seqscan = off")
        row = conn.execute(query, params).fetchone()
    assert row is not None  # an aggregate always returns a row
    stored, other_users, outside = row
    return LoadCheck(table, load_id, expected, stored, other_users, outside)
