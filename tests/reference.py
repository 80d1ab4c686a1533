"""A small reference implementation of the play-semantics contract (docs: shared/docs/domain.md §3).

It reads the export JSON files themselves with plain Python — nothing from orchestration or dbt —
so the mart tests compare the product with an independent derivation of the same numbers:

* content type of a row: audiobook fields, else episode fields (or a podcast file), else a track
  name or track URI → music; none of them → unknown (kept, never counted);
* a play is a music row with ms_played ≥ 30 000 that is not incognito;
* rule 1: rows of one source kind with the same end time, the same identity (track URI when
  present, else (artist, track name); for podcasts the episode URI, else (show, episode)) and the
  same ms_played are one stream;
* rule 2: an account music row and an extended music row with the same artist, track name and
  ms_played, whose `ts` truncated to the minute equals the account `endTime`, are one stream — the
  extended row wins;
* account rows carry names only: where the listener's extended history has a track URI for the
  same artist and track name, that URI is their identity (the most streamed one; the product's
  documented refinement, int_streams.sql);
* a song (what top tracks, unique tracks and repeat rate count) is the same primary artist and
  track title, exactly as written, across URIs, albums and sources; a play without both names is
  its own identity;
* times are UTC in the files (`endTime` has minute precision); days, hours and weekdays are local
  to the listener's IANA zone (zoneinfo), ISO weekday with Monday = 1.

The insights at the end (§3b: top albums, discoveries, sessions and streaks, skips) are written from
the contract's words alone, not from the marts' SQL.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

MIN_PLAY_MS = 30_000


@dataclass(frozen=True)
class Stream:
    """One row of an export file, reduced to what the contract looks at."""

    source: str  # "extended" | "account"
    content: str  # "music" | "podcast" | "audiobook" | "unknown"
    ended_at: datetime  # aware, UTC
    ms_played: int
    creator: str | None  # artist, show or book
    item: str | None  # track, episode or chapter
    uri: str | None  # track, episode or chapter URI
    incognito: bool
    order: int  # position in the input (the first of identical records wins)
    album: str | None = None  # extended music rows only
    reason_start: str | None = None  # extended rows only (the four fields below)
    reason_end: str | None = None
    shuffle: bool | None = None
    skipped: bool | None = None

    @property
    def identity(self) -> tuple[Any, ...]:
        """What "the same track (episode, chapter)" means: its URI when known, else its names."""
        return ("uri", self.uri) if self.uri else ("name", self.creator, self.item)

    @property
    def song(self) -> tuple[Any, ...]:
        """What top tracks count: the primary artist and the title as written, whatever the URI."""
        if self.creator is not None and self.item is not None:
            return ("song", self.creator, self.item)
        return self.identity

    @property
    def is_play(self) -> bool:
        return self.content == "music" and self.ms_played >= MIN_PLAY_MS and not self.incognito


def _utc(text: str) -> datetime:
    pattern = "%Y-%m-%dT%H:%M:%SZ" if "T" in text else "%Y-%m-%d %H:%M"
    return datetime.strptime(text, pattern).replace(tzinfo=UTC)


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _stream(record: dict[str, Any], order: int) -> Stream:
    if "ts" in record:  # extended history (endsong_N, Streaming_History_Audio/Video_*)
        get = record.get
        if any(
            get(k) for k in ("audiobook_title", "audiobook_uri", "audiobook_chapter_uri", "audiobook_chapter_title")
        ):
            content, creator, item, uri = (
                "audiobook",
                get("audiobook_title"),
                get("audiobook_chapter_title"),
                get("audiobook_chapter_uri"),
            )
        elif get("episode_name") or get("spotify_episode_uri"):
            content, creator, item, uri = (
                "podcast",
                get("episode_show_name"),
                get("episode_name"),
                get("spotify_episode_uri"),
            )
        elif get("master_metadata_track_name") or get("spotify_track_uri"):
            content = "music"
            creator, item = get("master_metadata_album_artist_name"), get("master_metadata_track_name")
            uri = get("spotify_track_uri")
        else:
            content, creator, item, uri = "unknown", None, None, None
        return Stream(
            "extended", content, _utc(record["ts"]), record["ms_played"], creator, item, uri,
            bool(get("incognito_mode")), order,
            get("master_metadata_album_album_name") if content == "music" else None,
            # an empty reason is no reason: unknown, as a missing one
            get("reason_start") or None, get("reason_end") or None, _flag(get("shuffle")), _flag(get("skipped")),
        )  # fmt: skip
    ended_at, ms = _utc(record["endTime"]), record["msPlayed"]
    if "podcastName" in record:
        return Stream(
            "account", "podcast", ended_at, ms, record["podcastName"], record["episodeName"], None, False, order
        )
    if "audiobookName" in record:
        return Stream(
            "account", "audiobook", ended_at, ms, record["audiobookName"], record["chapterName"], None, False, order
        )
    track = record.get("trackName")
    content = "music" if track else "unknown"  # music = a track name (account rows have no URIs)
    return Stream("account", content, ended_at, ms, record.get("artistName"), track, None, False, order)


def read_streams(paths: Iterable[Path]) -> list[Stream]:
    """Every record of the given JSON files (in the order given), as streams."""
    streams: list[Stream] = []
    for path in paths:
        for record in json.loads(Path(path).read_text(encoding="utf-8")):
            streams.append(_stream(record, len(streams)))
    return streams


def json_files(*folders_or_files: Path) -> list[Path]:
    files: list[Path] = []
    for p in folders_or_files:
        files += sorted(p.rglob("*.json")) if p.is_dir() else [p]
    return files


def collapse_duplicates(streams: list[Stream]) -> list[Stream]:
    """The streams left after rules 1 and 2 (the survivors, in input order)."""
    # Rule 1: the same record seen twice within one source kind.
    seen: set[tuple[Any, ...]] = set()
    unique: list[Stream] = []
    for s in sorted(streams, key=lambda s: s.order):
        key = (s.source, s.content, s.ended_at, s.identity, s.ms_played)
        if key not in seen:
            seen.add(key)
            unique.append(s)
    # Rule 2: an account music row that an extended music row of the same minute already covers.
    extended_minutes = {
        (s.creator, s.item, s.ms_played, s.ended_at.replace(second=0))
        for s in unique
        if s.source == "extended" and s.content == "music"
    }
    return [
        s
        for s in unique
        if not (
            s.source == "account"
            and s.content == "music"
            and (s.creator, s.item, s.ms_played, s.ended_at) in extended_minutes
        )
    ]


def resolve_account_uris(streams: list[Stream]) -> list[Stream]:
    """Account music rows get the track URI the extended rows use for the same artist and track name."""
    counts: Counter[tuple[str, str, str]] = Counter(
        (s.creator, s.item, s.uri)
        for s in streams
        if s.source == "extended" and s.uri and s.creator is not None and s.item is not None and s.content == "music"
    )
    best: dict[tuple[str, str], str] = {}
    for (artist, track, uri), _streams in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][2])):
        best.setdefault((artist, track), uri)
    return [
        dataclasses.replace(s, uri=best[(s.creator, s.item)])
        if s.source == "account" and s.content == "music" and (s.creator, s.item) in best
        else s
        for s in streams
    ]


class Reference:
    """The numbers the marts must show for one listener, computed from their export files."""

    def __init__(self, streams: list[Stream], timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self.records = len(streams)
        self.streams = collapse_duplicates(resolve_account_uris(streams))
        self.plays = [s for s in self.streams if s.is_play]

    @classmethod
    def from_files(cls, paths: Iterable[Path], timezone: str) -> Reference:
        return cls(read_streams(paths), timezone)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], timezone: str) -> Reference:
        """Export records (extended or account rows, mixed) as if read from files in this order."""
        return cls([_stream(r, i) for i, r in enumerate(records)], timezone)

    def local(self, s: Stream) -> datetime:
        return s.ended_at.astimezone(self.zone)

    # -- music plays ------------------------------------------------------------------------------
    @property
    def total_plays(self) -> int:
        return len(self.plays)

    @property
    def ms_played(self) -> int:
        return sum(s.ms_played for s in self.plays)

    @cached_property
    def plays_by_artist(self) -> Counter[str | None]:
        return Counter(s.creator for s in self.plays)

    @cached_property
    def ms_by_artist(self) -> dict[str | None, int]:
        ms: dict[str | None, int] = defaultdict(int)
        for s in self.plays:
            ms[s.creator] += s.ms_played
        return dict(ms)

    @cached_property
    def heatmap(self) -> Counter[tuple[int, int]]:
        """Plays per (ISO weekday, local hour), over all days."""
        return Counter((self.local(s).isoweekday(), self.local(s).hour) for s in self.plays)

    @cached_property
    def plays_by_day(self) -> Counter[date]:
        return Counter(self.local(s).date() for s in self.plays)

    @property
    def days_with_plays(self) -> int:
        return len(self.plays_by_day)

    @property
    def unique_tracks(self) -> int:
        return len({s.identity for s in self.plays})

    @property
    def repeat_rate(self) -> float:
        return 1 - self.unique_songs / self.total_plays

    @cached_property
    def plays_by_song(self) -> Counter[tuple[Any, ...]]:
        return Counter(s.song for s in self.plays)

    @property
    def unique_songs(self) -> int:
        return len(self.plays_by_song)

    @cached_property
    def releases_by_song(self) -> dict[tuple[Any, ...], set[str]]:
        """The distinct track URIs each song was played under."""
        out: dict[tuple[Any, ...], set[str]] = defaultdict(set)
        for s in self.plays:
            out[s.song] |= {s.uri} if s.uri else set()
        return dict(out)

    # -- every stream (duplicates collapsed) ------------------------------------------------------
    @cached_property
    def streams_by_content(self) -> Counter[str]:
        return Counter(s.content for s in self.streams)

    @cached_property
    def shows(self) -> dict[str | None, tuple[int, int]]:
        """Podcast streams and ms per show (the episode name when the show is unknown)."""
        out: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
        for s in self.streams:
            if s.content == "podcast":
                entry = out[s.creator if s.creator is not None else s.item]
                entry[0] += 1
                entry[1] += s.ms_played
        return {k: (n, ms) for k, (n, ms) in out.items()}


def top_n_comparable(counts: dict[Any, int], n: int) -> tuple[Counter[tuple[Any, int]], int, set[Any]]:
    """A top-n list in a form that does not depend on how ties are broken.

    Returns (the (name, count) pairs strictly above the n-th count, the n-th count, the names that
    have exactly the n-th count). Two top-n lists agree when all three agree — a mart that ranks
    ties by another collation still lists some of the tied names, all with the cutoff count.
    """
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
    if not ranked:
        return Counter(), 0, set()
    cutoff = ranked[-1][1]
    above = Counter((k, v) for k, v in ranked if v > cutoff)
    return above, cutoff, {k for k, v in counts.items() if v == cutoff}
