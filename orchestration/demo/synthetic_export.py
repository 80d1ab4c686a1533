"""Generate a realistic synthetic Spotify extended-history export.

Shaped like what Spotify mails: a ZIP with `Spotify Extended Streaming History/` holding
Streaming_History_Audio_<years>_<n>.json files of ~16 000 records (2-space pretty print, raw UTF-8)
and a few Video files, plus a PDF the importer must skip. Content is mixed: music (most), podcast
episodes, audiobook chapters, all-null rows, zero-ms video rows; about 0.5 % byte-identical
duplicate records; files mostly but not strictly in time order. Deterministic for a given seed.

    python -m orchestration.demo.synthetic_export --records 1000000 --out benchmarks/out/export_1m.zip

The demo (`spotify-history demo`) and the benchmarks use it; tests/fixtures/make_exports.py builds the API tests'
small exports from its record template.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FOLDER = "Spotify Extended Streaming History"
TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
PLATFORMS = ["android", "ios", "windows", "osx", "web_player", "linux", "cast_to_device"]
COUNTRIES = ["DE", "US", "GB", "FR", "SE", "BR", "JP", "PL", "IN", "MX"]
REASONS_START = ["trackdone", "clickrow", "fwdbtn", "backbtn", "playbtn", "appload", "remote", ""]
REASONS_END = ["trackdone", "endplay", "fwdbtn", "backbtn", "logout", "unexpected-exit", "remote", ""]
SYLLABLES = [
    "la",
    "mo",
    "ri",
    "ka",
    "zé",
    "nö",
    "ßa",
    "tu",
    "vi",
    "ël",
    "do",
    "chi",
    "ra",
    "sun",
    "мир",
    "夜",
]


def uri_id(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=22))


def _name(rng: random.Random, words: int) -> str:
    return " ".join(
        "".join(rng.choices(SYLLABLES, k=rng.randint(1, 3))).capitalize() for _ in range(rng.randint(1, words))
    )


class Catalog:
    """Artists, tracks, shows and audiobooks with a skewed (Zipf-like) popularity."""

    def __init__(self, rng: random.Random, artists: int = 3000, tracks: int = 40_000) -> None:
        self.rng = rng
        artist_names = [_name(rng, 3) for _ in range(artists)]
        self.tracks = []
        for _ in range(tracks):
            artist = artist_names[min(int(rng.paretovariate(1.2)) - 1, artists - 1)]
            self.tracks.append(
                (
                    _name(rng, 4),
                    artist,
                    _name(rng, 3),
                    f"spotify:track:{uri_id(rng)}",
                    rng.randint(90_000, 420_000),
                )
            )
        self.episodes = [(_name(rng, 6), _name(rng, 3), f"spotify:episode:{uri_id(rng)}") for _ in range(2000)]
        self.chapters = [
            (_name(rng, 3), f"spotify:show:{uri_id(rng)}", f"spotify:episode:{uri_id(rng)}", f"Chapter {i}")
            for i in range(300)
        ]

    def track(self) -> tuple[str, str, str, str, int]:
        return self.tracks[min(int(self.rng.paretovariate(0.9)) - 1, len(self.tracks) - 1)]


def blank_record(rng: random.Random) -> dict[str, Any]:
    """An extended-history record with every key Spotify writes, content fields null, `ts` and `ms_played` unset."""
    return {
        "ts": "",
        "platform": rng.choice(PLATFORMS),
        "ms_played": 0,
        "conn_country": rng.choice(COUNTRIES),
        "ip_addr": "192.0.2.0",
        "master_metadata_track_name": None,
        "master_metadata_album_artist_name": None,
        "master_metadata_album_album_name": None,
        "spotify_track_uri": None,
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": rng.choice(REASONS_START),
        "reason_end": rng.choice(REASONS_END),
        "shuffle": rng.random() < 0.4,
        "skipped": rng.random() < 0.2,
        "offline": rng.random() < 0.05,
        "offline_timestamp": None,
        "incognito_mode": rng.random() < 0.02,
    }


def records(n: int, seed: int, start: datetime) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    catalog = Catalog(rng)
    ts = start
    previous: dict[str, Any] | None = None
    for _ in range(n):
        if previous is not None and rng.random() < 0.005:
            yield dict(previous)  # byte-identical duplicate, as Spotify sometimes writes
            continue
        roll = rng.random()
        rec = blank_record(rng)
        if roll < 0.86:
            name, artist, album, uri, duration = catalog.track()
            rec.update(
                master_metadata_track_name=name,
                master_metadata_album_artist_name=artist,
                master_metadata_album_album_name=album,
                spotify_track_uri=uri,
            )
            rec["ms_played"] = rng.randint(0, 29_999) if rng.random() < 0.3 else rng.randint(30_000, duration)
        elif roll < 0.95:
            name, show, uri = rng.choice(catalog.episodes)
            rec.update(episode_name=name, episode_show_name=show, spotify_episode_uri=uri)
            rec["ms_played"] = rng.randint(0, 3_600_000)
        elif roll < 0.96:
            title, book_uri, chapter_uri, chapter = rng.choice(catalog.chapters)
            rec.update(
                audiobook_title=title,
                audiobook_uri=book_uri,
                audiobook_chapter_uri=chapter_uri,
                audiobook_chapter_title=chapter,
            )
            rec["ms_played"] = rng.randint(0, 1_800_000)
        else:
            rec["ms_played"] = rng.randint(0, 5_000)  # all-null row
        ts += timedelta(seconds=rng.randint(20, 300) + (rng.random() < 0.005) * rng.randint(7200, 100_800))
        jitter = timedelta(seconds=rng.randint(-30, 30)) if rng.random() < 0.1 else timedelta()
        rec["ts"] = (ts + jitter).strftime(TS_FORMAT)
        if rng.random() < 0.7:
            rec["offline_timestamp"] = int((ts - timedelta(seconds=rec["ms_played"] // 1000)).timestamp())
        previous = rec
        yield rec


def _pretty(record: dict[str, Any]) -> str:
    return "  " + json.dumps(record, indent=2, ensure_ascii=False).replace("\n", "\n  ")


def file_payload(batch: list[dict[str, Any]]) -> bytes:
    return ("[\n" + ",\n".join(_pretty(r) for r in batch) + "\n]").encode()


AVERAGE_GAP_SECONDS = 430  # mean time between generated records


def write_export(
    out: Path,
    n: int,
    seed: int = 7,
    per_file: int = 16_000,
    single_file: bool = False,
    end: datetime | None = None,
    listener_zone: str | None = None,
) -> Path:
    """Write the export as a ZIP (out ends in .zip) or a folder. Returns out.

    Without `end`, the history begins in 2011; with it, the newest play ends exactly at `end` (the demo
    passes a time before now: an export never holds plays from the future, and the importer refuses them).
    With `listener_zone` (and `end`), the records are demo.listener's plausible listener in that zone, ending
    at or shortly before `end`, instead of the benchmarks' volume generator.
    """
    start = datetime(2011, 3, 1, tzinfo=UTC) if end is None else end - timedelta(seconds=n * AVERAGE_GAP_SECONDS)
    audio: list[list[dict[str, Any]]] = [[]]
    video: list[dict[str, Any]] = []
    limit = n if single_file else per_file
    if listener_zone is not None:
        from orchestration.demo.listener import listener_records  # it imports this module's helpers

        assert end is not None, "a listener's history ends somewhere: pass end"
        source: Iterable[dict[str, Any]] = listener_records(n, seed, end, listener_zone)
    else:
        source = records(n, seed, start)
    for rec in source:
        if (
            not single_file
            and rec["master_metadata_track_name"] is None
            and rec["ms_played"] < 5_000
            and len(video) < n // 50
        ):
            video.append(rec)
            continue
        if len(audio[-1]) >= limit:
            audio.append([])
        audio[-1].append(rec)
    if end is not None and listener_zone is None:
        _end_at(end, [rec for batch in audio for rec in batch] + video)
    files: list[tuple[str, list[dict[str, Any]]]] = []
    for i, batch in enumerate(audio):
        first, last = batch[0]["ts"][:4], batch[-1]["ts"][:4]
        years = first if first == last else f"{first}-{last}"
        random.Random(seed + i).shuffle(batch[: len(batch) // 20])  # mostly sorted, not strictly
        files.append((f"{FOLDER}/Streaming_History_Audio_{years}_{i}.json", batch))
    if video:
        files.append((f"{FOLDER}/Streaming_History_Video_{video[0]['ts'][:4]}-{video[-1]['ts'][:4]}.json", video))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".zip":
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr(f"{FOLDER}/ReadMeFirst_ExtendedStreamingHistory.pdf", b"%PDF-1.4 synthetic\n")
            for name, batch in files:
                zf.writestr(name, file_payload(batch))
    else:
        for name, batch in files:
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(file_payload(batch))
    return out


def _end_at(end: datetime, recs: list[dict[str, Any]]) -> None:
    """Shift every record's times so that the newest `ts` is `end` (the gaps are random, the end is not)."""
    newest = max(datetime.strptime(r["ts"], TS_FORMAT).replace(tzinfo=UTC) for r in recs)
    shift = end.replace(microsecond=0) - newest
    for rec in recs:
        rec["ts"] = (datetime.strptime(rec["ts"], TS_FORMAT).replace(tzinfo=UTC) + shift).strftime(TS_FORMAT)
        if rec["offline_timestamp"] is not None:
            rec["offline_timestamp"] += int(shift.total_seconds())


def recent_end() -> datetime:
    """Where the demo history ends: a day before now, so the polled plays of the demo come after it."""
    return datetime.now(UTC) - timedelta(days=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-file", type=int, default=16_000, help="records per Audio file (Spotify: ~16k)")
    parser.add_argument("--single-file", action="store_true", help="all records in one JSON file")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/export.zip"))
    parser.add_argument("--recent", action="store_true", help="end the history a day before now")
    args = parser.parse_args()
    end = recent_end() if args.recent else None
    path = write_export(args.out, args.records, args.seed, args.per_file, args.single_file, end)
    print(f"wrote {args.records:,} records to {path}")


if __name__ == "__main__":
    main()
