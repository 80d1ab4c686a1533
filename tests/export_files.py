"""Helpers shared by the export-ingestion tests.

The expected side of every comparison is computed here from the export JSON itself, with a
description of the formats written independently of orchestration.imports.reading.formats: if the
product maps a key to the wrong column, drops a record or keeps a personal field, the
comparison with what these helpers derive from the files fails.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_EXPORTS = Path(os.environ.get("SPOTIFY_TEST_EXPORTS") or REPO.parent / "shared" / "testdata" / "exports")
"""The real-export corpus (not in the repository): $SPOTIFY_TEST_EXPORTS, default ../shared/testdata/exports.
Tests that need it request the `shared_exports` fixture (or call require_shared_exports) and skip without it."""
CLI = Path(sys.executable).with_name("spotify-history")

EXTENDED_FOLDER = "Spotify Extended Streaming History"
ACCOUNT_FOLDER = "MyData"

PERSONAL_KEYS = frozenset({"username", "ip_addr", "ip_addr_decrypted", "user_agent_decrypted"})
SCRUBBED_IP = "192.0.2.0"

EXTENDED_KEYS = (
    "ts",
    "platform",
    "ms_played",
    "conn_country",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "audiobook_chapter_uri",
    "audiobook_chapter_title",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "offline_timestamp",
    "incognito_mode",
)


@dataclass(frozen=True)
class Format:
    """One export format as the tests see it: raw table and JSON key -> raw column."""

    name: str
    table: str
    columns: dict[str, str]
    marker: str
    """A key only this format's records have."""

    @property
    def time_key(self) -> str:
        return "ts" if "ts" in self.columns else "endTime"


FORMATS = (
    Format("extended", "extended_streams", {k: k for k in EXTENDED_KEYS}, "ts"),
    Format(
        "account_music",
        "account_music_streams",
        {
            "endTime": "end_time",
            "artistName": "artist_name",
            "trackName": "track_name",
            "msPlayed": "ms_played",
        },
        "trackName",
    ),
    Format(
        "account_podcast",
        "account_podcast_streams",
        {
            "endTime": "end_time",
            "podcastName": "podcast_name",
            "episodeName": "episode_name",
            "msPlayed": "ms_played",
        },
        "podcastName",
    ),
    Format(
        "account_audiobook",
        "account_audiobook_streams",
        {
            "endTime": "end_time",
            "audiobookName": "audiobook_name",
            "chapterName": "chapter_name",
            "authorName": "author_name",
            "msPlayed": "ms_played",
        },
        "audiobookName",
    ),
)
FORMATS_BY_NAME = {f.name: f for f in FORMATS}
RAW_TABLES = tuple(f.table for f in FORMATS)


def format_of(record: dict[str, Any]) -> Format:
    return next(f for f in FORMATS if f.marker in record)


def parse_time(text: str) -> datetime:
    """`ts` (2024-01-31T23:59:59Z) or `endTime` (2024-01-31 23:59), both UTC, as an aware datetime."""
    pattern = "%Y-%m-%dT%H:%M:%SZ" if "T" in text else "%Y-%m-%d %H:%M"
    return datetime.strptime(text, pattern).replace(tzinfo=UTC)


def expected_extra(fmt: Format, record: dict[str, Any]) -> dict[str, Any] | None:
    extra = {k: v for k, v in record.items() if k not in fmt.columns and not is_personal(k)}
    return extra or None


def is_personal(key: str) -> bool:
    return key in PERSONAL_KEYS or key.startswith("ip_addr")


def _canonical(extra: dict[str, Any] | None) -> str | None:
    return None if extra is None else json.dumps(extra, sort_keys=True, ensure_ascii=False)


def expected_row(fmt: Format, record: dict[str, Any]) -> tuple[Any, ...]:
    """The stored fields of a record in column order: times as aware UTC, missing keys None."""
    values = [record.get(key) for key in fmt.columns]
    values[0] = parse_time(values[0])
    return (*values, _canonical(expected_extra(fmt, record)))


def require_shared_exports() -> Path:
    """The corpus folder; skips the calling test when it is absent (a clone with nothing beside it)."""
    import pytest

    if not SHARED_EXPORTS.is_dir():
        pytest.skip(f"real-export corpus not found at {SHARED_EXPORTS}: set SPOTIFY_TEST_EXPORTS to its folder")
    return SHARED_EXPORTS


# -- export files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFile:
    path: Path
    rel: str
    """Path relative to its export folder (what a folder import records as source_file)."""
    records: list[dict[str, Any]]

    @cached_property
    def format(self) -> Format:
        kinds = {format_of(r).name for r in self.records}
        assert len(kinds) == 1, f"{self.rel} mixes formats {kinds}"
        return FORMATS_BY_NAME[kinds.pop()]

    @property
    def zip_name(self) -> str:
        """Where Spotify's own ZIP puts this file."""
        folder = EXTENDED_FOLDER if self.format.name == "extended" else ACCOUNT_FOLDER
        return f"{folder}/{self.path.name}"

    def rows(self) -> Counter[tuple[Any, ...]]:
        return Counter(expected_row(self.format, r) for r in self.records)


def load_export_folder(folder: Path) -> list[ExportFile]:
    files = [
        ExportFile(path, path.relative_to(folder).as_posix(), json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.rglob("*.json"))
    ]
    assert files, f"no JSON files in {folder}"
    return files


def records_per_format(files: Iterable[ExportFile]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for f in files:
        counts[f.format.name] += len(f.records)
    return dict(counts)


def time_span(files: Iterable[ExportFile]) -> tuple[datetime, datetime]:
    times = [parse_time(r[f.format.time_key]) for f in files for r in f.records]
    return min(times), max(times)


def in_file_duplicates(records: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Records that occur more than once, identical key for key and value for value, with their count."""
    counts = Counter(json.dumps(r, ensure_ascii=False) for r in records)
    return {text: n for text, n in counts.items() if n > 1}


# -- building inputs ------------------------------------------------------------------------------

USERDATA = {
    "username": "listener",
    "email": "listener@example.org",
    "country": "DE",
    "birthdate": "1990-01-01",
}
SEARCH_QUERIES = [
    {
        "platform": "ANDROID",
        "searchTime": "2024-01-02T10:11:12.000Z[UTC]",
        "searchQuery": "daft punk",
        "searchInteractionURIs": ["spotify:artist:4tZwfgrHOc3mvqYlEYSvVi"],
    }
]
NON_HISTORY_ENTRIES = {
    f"{ACCOUNT_FOLDER}/Userdata.json": json.dumps(USERDATA).encode(),
    f"{ACCOUNT_FOLDER}/SearchQueries.json": json.dumps(SEARCH_QUERIES).encode(),
    "ReadMeFirst.pdf": b"%PDF-1.4\n% not really a PDF\n%%EOF\n",
}


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def spotify_zip(path: Path, files: Iterable[ExportFile], *, with_extras: bool = True) -> Path:
    """A ZIP laid out like Spotify's own download, plus the non-history files it ships."""
    files = list(files)
    entries = {f.zip_name: f.path.read_bytes() for f in files}
    assert len(entries) == len(files), "two files would share one name in the ZIP"
    return write_zip(path, {**entries, **(NON_HISTORY_ENTRIES if with_extras else {})})


def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix, so external_attr carries the mode
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def extended_record(ts: str, ms_played: int = 200_000, **fields: Any) -> dict[str, Any]:
    """A v2 extended record for a music stream; `fields` override or add keys."""
    record: dict[str, Any] = {
        "ts": ts,
        "platform": "android",
        "ms_played": ms_played,
        "conn_country": "DE",
        "ip_addr": SCRUBBED_IP,
        "master_metadata_track_name": f"Track at {ts}",
        "master_metadata_album_artist_name": "Some Artist",
        "master_metadata_album_album_name": "Some Album",
        "spotify_track_uri": "spotify:track:0000000000000000000001",
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "offline_timestamp": 1_700_000_000,
        "incognito_mode": False,
    }
    record.update(fields)
    return record


def extended_records(n: int, day: str = "2020-03-01") -> list[dict[str, Any]]:
    return [extended_record(f"{day}T10:{i // 60:02d}:{i % 60:02d}Z", 100_000 + i) for i in range(n)]


def copy_into(folder: Path, *sources: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(src, folder / src.name)) for src in sources]
