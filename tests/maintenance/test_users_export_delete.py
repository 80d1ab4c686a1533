"""`spotify-history users export` and `users delete`, run as a user would (the CLI in a subprocess), on a
database of this module's own with real imports, real polls of the fake Spotify and real dbt builds.

Listener A has every source and every duplicate rule: the committed extended export (audio and video), an
account export, a recent extended file whose rows an account file repeats (rule 2) and whose plays the API
also lists a few seconds apart (rule 3), and API-only plays; a top-list snapshot, API keys, a link code and
an OAuth grant with its code and tokens. Listener C is someone else, with an account export, a Spotify link
and API plays of their own.

* An export with the marts behind the raw rows (or never built) builds them first (with --no-refresh: says so).
* A exported and imported into a new listener B gives the same plays, minutes, top artists, top tracks and
  heatmap, and B exported gives A's file again.
* After `users delete A` and a build, no table of any schema holds a row of A (by user_id, by name, by grant),
  A's Dagster partitions are gone, A's inbox folder is still there, and every row of the others is unchanged.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from builds import BATCH_COLUMNS, app_conn, build
from export_files import CLI

from orchestration.demo.fake_spotify import FakePlay, FakeSpotify, FakeTrack, make_catalog

EXPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "exports"
CATALOG = make_catalog(24, seed=26)
PERSONAL = {"username", "ip_addr", "ip_addr_decrypted", "user_agent_decrypted"}
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")


@dataclass(frozen=True)
class Listeners:
    a: str
    c: str
    fake: FakeSpotify
    tmp: Path


def cli(
    *args: str, ok: bool = True, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(CLI), *args], env=dict(os.environ), capture_output=True, text=True, timeout=600, cwd=cwd, input=stdin
    )
    if ok:
        assert done.returncode == 0, f"spotify-history {' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done


def one(sql: str, *params: Any) -> Any:
    with app_conn() as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def user_id(name: str) -> int:
    return int(one("select user_id from app.users where name = %s", name))


def extended(ts: datetime, track: FakeTrack, ms: int) -> dict[str, Any]:
    return {
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": "linux",
        "ms_played": ms,
        "conn_country": "DE",
        "ip_addr": "192.0.2.0",
        "master_metadata_track_name": track.name,
        "master_metadata_album_artist_name": track.artists[0][1],
        "master_metadata_album_album_name": track.album_name,
        "spotify_track_uri": track.uri,
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": None,
        "offline": False,
        "offline_timestamp": int(ts.timestamp()) - ms // 1000,
        "incognito_mode": False,
    }


def recent_export(folder: Path, start: datetime) -> list[FakePlay]:
    """Six recent extended rows, three of them repeated by an account file; the plays the API lists of them."""
    folder.mkdir()
    ends = [start + timedelta(minutes=10 * i, seconds=17) for i in range(6)]
    rows = [extended(end, CATALOG[i], 150_000 + i) for i, end in enumerate(ends)]
    (folder / "Streaming_History_Audio_2026_9.json").write_text(json.dumps(rows))
    account = [
        {
            "endTime": r["ts"][:16].replace("T", " "),
            "artistName": r["master_metadata_album_artist_name"],
            "trackName": r["master_metadata_track_name"],
            "msPlayed": r["ms_played"],
        }
        for r in rows[:3]
    ]
    (folder / "StreamingHistory_music_9.json").write_text(json.dumps(account))
    return [FakePlay(end + timedelta(seconds=6), CATALOG[i]) for i, end in enumerate(ends)]


def link(user: str, fake: FakeSpotify) -> None:
    """The real OAuth login against the fake, as `auth login` does."""
    from orchestration.config import get_settings
    from orchestration.spotify.accounts import login_with_opener
    from orchestration.spotify.oauth import SpotifyApp

    def consent(url: str) -> None:
        assert httpx.get(url, follow_redirects=True, timeout=10).status_code == 200

    account = f"sp-{user}"
    fake.add_account(account, f"Listener {user}")
    fake.sign_in(account)
    settings = get_settings()
    with httpx.Client(timeout=10) as http:
        login_with_opener(user, SpotifyApp.from_settings(settings), consent, settings=settings, http=http, port=0)


def add_oauth_grant(user: str) -> None:
    """What the consent page stores for a connected assistant: a grant, a used code, an access and a refresh
    token (hashes only)."""
    with app_conn() as conn:
        grant = conn.execute(
            "insert into app.oauth_grants (user_id, client_id, client_name, redirect_uri, resource) "
            "values (%s, 'https://client.example/meta.json', 'Assistant', 'https://client.example/cb', "
            "'http://127.0.0.1:8000/mcp') returning grant_id",
            (user_id(user),),
        ).fetchone()
        assert grant is not None
        for i, kind in enumerate(("access", "refresh")):
            conn.execute(
                "insert into app.oauth_tokens (token_hash, grant_id, kind, expires_at) "
                "values (%s, %s, %s, now() + interval '1 hour')",
                (f"{user_id(user):032x}{i:032x}", grant[0], kind),
            )
        conn.execute(
            "insert into app.oauth_codes (code_hash, grant_id, code_challenge, redirect_explicit, expires_at, used_at) "
            "values (%s, %s, 'x', true, now(), now())",
            (f"{user_id(user):064x}", grant[0]),
        )


@pytest.fixture(scope="module")
def listeners(own_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listeners]:
    from orchestration.config import reload_settings

    tmp = tmp_path_factory.mktemp("users-export-delete")
    fake = FakeSpotify()
    with fake.running(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPOTIFY_CLIENT_ID", fake.client_id)
        patch.setenv("SPOTIFY_ACCOUNTS_BASE_URL", fake.url)
        patch.setenv("SPOTIFY_API_BASE_URL", fake.url)
        patch.setenv("SPOTIFY_REDIRECT_PORT", "0")
        reload_settings()
        suffix = os.urandom(4).hex()
        a, c = f"xa{suffix}", f"xc{suffix}"
        cli("users", "add", a, "--timezone", "Europe/Berlin")
        cli("users", "add", c, "--timezone", "America/New_York")
        start = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
        api_matches = recent_export(tmp / "recent", start)
        cli(
            "import",
            "--user",
            a,
            str(EXPORTS / "extended-berlin"),
            str(EXPORTS / "account-kolkata"),
            str(tmp / "recent"),
        )
        cli("import", "--user", c, str(EXPORTS / "account-new-york"))

        link(a, fake)
        api_only = [FakePlay(start + timedelta(hours=3, minutes=4 * j), CATALOG[10 + j]) for j in range(8)]
        fake.add_plays(f"sp-{a}", api_matches + api_only)
        cli("poll", "--user", a)
        cli("snapshot-top", "--user", a)
        link(c, fake)
        fake.add_plays(f"sp-{c}", [FakePlay(start + timedelta(hours=5, minutes=4 * j), CATALOG[j]) for j in range(3)])
        cli("poll", "--user", c)
        for user in (a, c):
            cli("api-key", "create", "--user", user, "--name", "assistant")
            cli("api-key", "link", "--user", user)
            add_oauth_grant(user)
        yield Listeners(a, c, fake, tmp)  # the marts not built yet
    reload_settings()


def int_streams(user: str) -> dict[str, int]:
    with app_conn() as conn:
        row = conn.execute(
            "select count(*) filter (where not is_duplicate), count(*) filter (where is_duplicate),"
            " count(*) filter (where is_play), coalesce(sum(ms_listened) filter (where is_play), 0)"
            " from intermediate.int_streams where user_id = %s",
            (user_id(user),),
        ).fetchone()
    assert row is not None
    return dict(zip(("streams", "duplicates", "plays", "ms"), map(int, row), strict=True))


def mart(user: str, sql: str) -> list[tuple[Any, ...]]:
    with app_conn() as conn:
        return conn.execute(sql, (user_id(user),)).fetchall()


TOP_ARTISTS = (
    "select local_date, artist_name, sum(plays), sum(ms_played) from marts.top_artists where user_id = %s "
    "group by 1, 2 order by 1, 2"
)
TOP_TRACKS = (
    "select local_date, track_key, sum(plays), sum(ms_played) from marts.top_tracks where user_id = %s "
    "group by 1, 2 order by 1, 2"
)
HEATMAP = (
    "select local_date, local_hour, plays, ms_played from marts.listening_heatmap where user_id = %s order by 1, 2"
)


def test_an_export_builds_the_marts_first_when_they_are_behind(listeners: Listeners) -> None:
    a, tmp = listeners.a, listeners.tmp
    out = tmp / "first.json"
    refused = cli("users", "export", a, "--out", str(out), "--no-refresh", ok=False)
    assert refused.returncode == 1 and "the marts were never built: run `spotify-history refresh`" in refused.stderr
    assert not out.exists()

    done = cli("users", "export", a, "--out", str(out))
    assert "the marts were never built: building them first" in done.stderr
    assert len(json.loads(out.read_text())) == int_streams(a)["streams"] > 0

    missing = cli("users", "export", "nobody-here", ok=False)
    assert missing.returncode == 1 and "no user named 'nobody-here'" in missing.stderr


def test_exported_and_imported_into_another_listener_gives_the_same_plays_and_top_lists(
    listeners: Listeners,
) -> None:
    a, tmp = listeners.a, listeners.tmp
    before = int_streams(a)
    rules = dict(mart(a, "select duplicate_rule, count(*) from intermediate.int_streams where user_id = %s group by 1"))
    assert {"same_record", "account_vs_extended", "api_vs_export"} <= set(rules), rules
    sources = dict(
        mart(a, "select stream_source, count(*) from intermediate.int_streams where user_id = %s group by 1")
    )
    assert set(sources) == {"extended", "account", "api"}

    out = tmp / "moved" / "Streaming_History_Audio_moved.json"
    done = cli("users", "export", a, "--out", str(out))
    assert f"wrote {before['streams']:,} streams of {a}" in done.stdout
    records = json.loads(out.read_text())
    assert len(records) == before["streams"]
    for record in records:
        assert list(record)[:22] == [
            "ts", "platform", "ms_played", "conn_country", "master_metadata_track_name",
            "master_metadata_album_artist_name", "master_metadata_album_album_name", "spotify_track_uri",
            "episode_name", "episode_show_name", "spotify_episode_uri", "audiobook_title", "audiobook_uri",
            "audiobook_chapter_uri", "audiobook_chapter_title", "reason_start", "reason_end", "shuffle", "skipped",
            "offline", "offline_timestamp", "incognito_mode",
        ]  # fmt: skip
        assert TS.match(record["ts"]) and isinstance(record["ms_played"], int)
        assert not PERSONAL & set(record)
    assert [r["ts"] for r in records] == sorted(r["ts"] for r in records)
    assert not list(tmp.glob("moved/.*")), "no temporary file is left behind"

    b = f"xb{a[2:]}"
    cli("users", "add", b, "--timezone", "Europe/Berlin")
    imported = json.loads(cli("import", "--user", b, str(out), "--json").stdout.splitlines()[-1])
    assert imported["formats"] == {"extended": len(records)} and imported["inserted"] == len(records)
    behind = cli("users", "export", b, "--out", str(tmp / "again.json"), "--no-refresh", ok=False)
    assert f"the marts are behind the raw rows ({len(records):,} in raw.extended_streams)" in behind.stderr
    build()

    after = int_streams(b)
    assert after == {**before, "duplicates": 0}
    for sql in (TOP_ARTISTS, TOP_TRACKS, HEATMAP):
        assert mart(b, sql) == mart(a, sql), sql
        assert mart(a, sql)

    again = tmp / "again.json"
    cli("users", "export", b, "--out", str(again))
    assert json.loads(again.read_text()) == records, "B's export is A's"
    default = cli("users", "export", a, cwd=tmp)
    assert (tmp / f"Streaming_History_Audio_{a}.json").read_text() == out.read_text(), default.stdout


# -- deletion ---------------------------------------------------------------------------------------


def tables(conn: psycopg.Connection) -> list[tuple[str, str, set[str]]]:
    """Every base table of every schema of the application database, with its columns."""
    found: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in conn.execute(
        """
        select c.table_schema, c.table_name, c.column_name
        from information_schema.columns c
        join information_schema.tables t using (table_schema, table_name)
        where t.table_type = 'BASE TABLE' and c.table_schema not in ('pg_catalog', 'information_schema')
        """
    ):
        found.setdefault((schema, table), set()).add(column)
    return [(schema, table, columns) for (schema, table), columns in sorted(found.items())]


def others(conn: psycopg.Connection, deleted_id: int) -> dict[str, tuple[int, str]]:
    """Per table with a user_id: count and md5 of every other listener's rows (build stamps left out)."""
    snapshot = {}
    stamps = "array[" + ",".join(f"'{c}'" for c in sorted(BATCH_COLUMNS | {"updated_at"})) + "]"
    for schema, table, columns in tables(conn):
        if "user_id" not in columns:
            continue
        row = f"(to_jsonb(t) - {stamps}::text[])::text"
        snapshot[f"{schema}.{table}"] = conn.execute(
            f"select count(*), md5(coalesce(string_agg({row}, E'\\n' order by {row}), '')) "
            f'from "{schema}"."{table}" t where user_id is distinct from %s',
            (deleted_id,),
        ).fetchone()
    return snapshot


def remains(conn: psycopg.Connection, user: str, uid: int, grants: list[int]) -> dict[str, int]:
    """Rows of every table that name the listener: by user_id, by name anywhere in the row, by their grants."""
    found = {}
    for schema, table, columns in tables(conn):
        conditions = ["t::text like %(name)s"]
        if "user_id" in columns:
            conditions.append("t.user_id = %(uid)s")
        if "grant_id" in columns:
            conditions.append("t.grant_id = any(%(grants)s)")
        row = conn.execute(
            f'select count(*) from "{schema}"."{table}" t where {" or ".join(conditions)}',
            {"name": f"%{user}%", "uid": uid, "grants": grants},
        ).fetchone()
        if row and row[0]:
            found[f"{schema}.{table}"] = int(row[0])
    return found


def test_delete_leaves_no_row_of_the_listener_and_the_others_untouched(listeners: Listeners) -> None:
    from orchestration.config import get_settings
    from orchestration.defs.imports.assets import export_files, user_of
    from orchestration.defs.spotify.partitions import SPOTIFY_USERS
    from orchestration.instance import get_instance

    a = listeners.a
    uid = user_id(a)
    with app_conn() as conn:
        grants = [g for (g,) in conn.execute("select grant_id from app.oauth_grants where user_id = %s", (uid,))]
        before = remains(conn, a, uid, grants)
        before_others = others(conn, uid)
    expected = {
        "app.users", "app.imports", "app.spotify_tokens", "app.spotify_syncs", "app.api_keys", "app.link_codes",
        "app.oauth_grants", "app.oauth_codes", "app.oauth_tokens", "app.spotify_top_snapshots",
        "raw.extended_streams", "raw.account_music_streams", "raw.account_podcast_streams",
        "raw.api_recently_played", "raw.spotify_top_items", "intermediate.int_streams",
        "marts.top_artists", "marts.top_tracks", "marts.listening_heatmap", "marts.sync_status",
    }  # fmt: skip
    assert expected <= set(before), sorted(expected - set(before))
    instance = get_instance()
    assert instance.has_dynamic_partition(SPOTIFY_USERS, a)
    assert any(user_of(k) == a for k in instance.get_dynamic_partitions(export_files.name))
    inbox = get_settings().inbox_root / a
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "later.json").write_text("[]")

    declined = cli("users", "delete", a, stdin="n\n", ok=False)
    assert declined.returncode == 1 and "cannot be undone" in declined.stderr
    with app_conn() as conn:
        assert remains(conn, a, uid, grants) == before, "declined: nothing deleted"

    done = cli("users", "delete", a, "--yes")
    assert f"deleted user {a}" in done.stdout and str(inbox) in done.stdout
    assert (inbox / "later.json").exists(), "the inbox folder is left alone"
    build()

    with app_conn() as conn:
        assert remains(conn, a, uid, grants) == {}
        assert others(conn, uid) == before_others
    assert not instance.has_dynamic_partition(SPOTIFY_USERS, a)
    assert not any(user_of(k) == a for k in instance.get_dynamic_partitions(export_files.name))
    assert a not in cli("users", "list").stdout
    gone = cli("users", "delete", a, "--yes", ok=False)
    assert gone.returncode == 1 and f"no user named '{a}'" in gone.stderr
