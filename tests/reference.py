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
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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


# -- insights (domain.md §3b): albums, discoveries, sessions and streaks, skips ----------------------
# Every function takes a Reference and a window of inclusive local dates and returns the figures the
# tool reports, unrounded where a tolerance applies (minutes as floats, ms in `*_ms` fields). Rankings
# are returned whole (no limit): a tool's list is a prefix of them, up to ties.

SESSION_GAP = timedelta(minutes=30)
SKIP_REASON = "fwdbtn"


def name_key(value: str | None) -> tuple[bool, str]:
    """Codepoint order, nulls last (how the API orders names: collate "C" … nulls last)."""
    return (value is None, value or "")


def in_window(day: date, start: date, end: date) -> bool:
    return start <= day <= end


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def months(start: date, end: date) -> list[str]:
    """Every month ("YYYY-MM") that overlaps the window, in order."""
    out: list[str] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def plays_in_window(ref: Reference, start: date, end: date) -> list[Stream]:
    return [s for s in ref.plays if in_window(ref.local(s).date(), start, end)]


# albums --------------------------------------------------------------------------------------------


def album_of(s: Stream) -> tuple[str | None, str] | None:
    """(album artist, album name): the play's artist and its album; None for rows without one (account data)."""
    return None if s.album is None else (s.creator, s.album)


@dataclass(frozen=True)
class AlbumFigures:
    album: str
    artist: str | None
    plays: int
    ms: int
    songs: int
    share: float

    @property
    def minutes(self) -> float:
        return self.ms / 60_000


@dataclass(frozen=True)
class TopAlbums:
    total_plays: int
    unique_albums: int
    plays_without_album: int
    items: list[AlbumFigures]  # the whole ranking


def top_albums(ref: Reference, start: date, end: date) -> TopAlbums:
    plays = plays_in_window(ref, start, end)
    grouped: dict[tuple[str | None, str], list[Stream]] = defaultdict(list)
    for s in plays:
        key = album_of(s)
        if key is not None:
            grouped[key].append(s)
    items = [
        AlbumFigures(
            album=album,
            artist=artist,
            plays=len(group),
            ms=sum(s.ms_played for s in group),
            songs=len({s.song for s in group}),
            share=round(len(group) / len(plays), 4),
        )
        for (artist, album), group in grouped.items()
    ]
    items.sort(key=lambda a: (-a.plays, -a.ms, name_key(a.album), name_key(a.artist)))
    return TopAlbums(len(plays), len(grouped), sum(1 for s in plays if album_of(s) is None), items)


# discoveries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Discovery:
    key: tuple[Any, ...]
    name: str | None  # the artist, or the track title
    artist: str | None  # tracks only
    first_played: datetime  # local, aware
    plays_in_window: int
    plays_total: int


@dataclass(frozen=True)
class Discoveries:
    type: str
    new_count: int
    items: list[Discovery]  # the whole ranking
    by_month: list[dict[str, Any]]
    share_new: float | None


def _discovery_key(s: Stream, kind: str) -> tuple[Any, ...] | None:
    if kind == "artist":
        return None if s.creator is None else ("artist", s.creator)
    return s.song


def first_plays(ref: Reference, kind: str) -> dict[tuple[Any, ...], Stream]:
    """The earliest play (by end time) of each artist or song over the whole history, every source."""
    first: dict[tuple[Any, ...], Stream] = {}
    for s in sorted(ref.plays, key=lambda s: (s.ended_at, s.order)):
        key = _discovery_key(s, kind)
        if key is not None:
            first.setdefault(key, s)
    return first


def discoveries(ref: Reference, start: date, end: date, kind: str = "artist") -> Discoveries:
    assert kind in ("artist", "track"), kind
    plays = plays_in_window(ref, start, end)
    per_kind: dict[str, list[tuple[Any, ...]]] = {}
    firsts: dict[str, dict[tuple[Any, ...], Stream]] = {}
    for k in ("artist", "track"):
        firsts[k] = first_plays(ref, k)
        per_kind[k] = [key for key, s in firsts[k].items() if in_window(ref.local(s).date(), start, end)]
    found = set(per_kind[kind])
    in_window_counts: Counter[tuple[Any, ...]] = Counter()
    for s in plays:
        key = _discovery_key(s, kind)
        if key in found:
            in_window_counts[key] += 1
    total_counts: Counter[tuple[Any, ...]] = Counter(
        key for s in ref.plays if (key := _discovery_key(s, kind)) in found
    )
    items = []
    for key in found:
        s = firsts[kind][key]
        items.append(
            Discovery(
                key=key,
                name=s.creator if kind == "artist" else s.item,
                artist=None if kind == "artist" else s.creator,
                first_played=ref.local(s),
                plays_in_window=in_window_counts[key],
                plays_total=total_counts[key],
            )
        )
    items.sort(key=lambda d: (-d.plays_in_window, d.first_played, name_key(d.name), name_key(d.artist)))
    new_by_month = {
        k: Counter(ref.local(firsts[k][key]).strftime("%Y-%m") for key in per_kind[k]) for k in ("artist", "track")
    }
    by_month = [
        {"month": month, "new_artists": new_by_month["artist"][month], "new_tracks": new_by_month["track"][month]}
        for month in months(start, end)
    ]
    return Discoveries(kind, len(found), items, by_month, ratio(sum(in_window_counts.values()), len(plays)))


# sessions and streaks ------------------------------------------------------------------------------


def started_at(s: Stream) -> datetime:
    return s.ended_at - timedelta(milliseconds=s.ms_played)


@dataclass(frozen=True)
class Session:
    plays: tuple[Stream, ...]  # in end-time order

    @property
    def start(self) -> datetime:
        """Its first play's start (UTC)."""
        return started_at(self.plays[0])

    @property
    def end(self) -> datetime:
        return self.plays[-1].ended_at

    @property
    def ms(self) -> int:
        return sum(s.ms_played for s in self.plays)

    @property
    def minutes(self) -> float:
        return self.ms / 60_000

    @property
    def top_artist(self) -> str | None:
        counts: Counter[str | None] = Counter(s.creator for s in self.plays)
        ms: Counter[str | None] = Counter()
        for s in self.plays:
            ms[s.creator] += s.ms_played
        return min(counts, key=lambda a: (-counts[a], -ms[a], name_key(a)))


def all_sessions(ref: Reference) -> list[Session]:
    """Every session of the whole history: plays by end time, cut where a play starts more than 30
    minutes after the previous play's end (a negative gap, an overlap, stays in the session)."""
    out: list[list[Stream]] = []
    for s in sorted(ref.plays, key=lambda s: (s.ended_at, started_at(s), s.order)):
        if out and started_at(s) - out[-1][-1].ended_at <= SESSION_GAP:
            out[-1].append(s)
        else:
            out.append([s])
    return [Session(tuple(plays)) for plays in out]


@dataclass(frozen=True)
class Streak:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Sessions:
    sessions: list[Session]  # the window's, most minutes first (then the earlier start)
    minutes: float
    median_minutes: float | None
    streaks: list[Streak]  # every run of play days in the window, clipped to it, in date order
    current: Streak | None
    days_with_plays: int

    @property
    def longest_streaks(self) -> list[Streak]:
        """Every streak of the longest length (a tool names one of them)."""
        best = max((s.days for s in self.streaks), default=0)
        return [s for s in self.streaks if s.days == best]


def streaks(play_days: Iterable[date], start: date, end: date) -> list[Streak]:
    days = sorted({d for d in play_days if in_window(d, start, end)})
    runs: list[Streak] = []
    for day in days:
        if runs and day == runs[-1].end + timedelta(days=1):
            runs[-1] = Streak(runs[-1].start, day)
        else:
            runs.append(Streak(day, day))
    return runs


def sessions(ref: Reference, start: date, end: date, today: date) -> Sessions:
    """The window's sessions (those starting in it, by the local date of their start) and streaks;
    `today` is the listener's local today (the current streak ends today or yesterday)."""
    found = [x for x in all_sessions(ref) if in_window(x.start.astimezone(ref.zone).date(), start, end)]
    found.sort(key=lambda x: (-x.ms, x.start))
    runs = streaks(ref.plays_by_day, start, end)
    current = [r for r in runs if r.end in (today, today - timedelta(days=1))]
    return Sessions(
        sessions=found,
        minutes=sum(x.ms for x in found) / 60_000,
        median_minutes=statistics.median(x.minutes for x in found) if found else None,
        streaks=runs,
        current=current[-1] if current else None,
        days_with_plays=sum(r.days for r in runs),
    )


# skips ---------------------------------------------------------------------------------------------


def skip_known(s: Stream) -> bool:
    return s.skipped is not None or s.reason_end is not None


def is_skip(s: Stream) -> bool:
    return s.skipped is True or (s.skipped is None and s.reason_end == SKIP_REASON)


@dataclass(frozen=True)
class SongSkips:
    song: tuple[Any, ...]
    track: str | None
    artist: str | None
    streams: int
    skips: int

    @property
    def skip_rate(self) -> float:
        return round(self.skips / self.streams, 4)


@dataclass(frozen=True)
class Skips:
    streams: int  # known ones
    skips: int
    skip_rate: float | None
    most_skipped: list[SongSkips]  # every song with ≥ min_streams known streams, ranked
    reason_start: dict[str, int]
    reason_end: dict[str, int]
    shuffle_share: float | None
    streams_without_skip_data: int


def music_streams_in_window(ref: Reference, start: date, end: date) -> list[Stream]:
    """Music streams of any length (duplicates collapsed, not incognito) that end in the window."""
    return [
        s
        for s in ref.streams
        if s.content == "music" and not s.incognito and in_window(ref.local(s).date(), start, end)
    ]


def skips(ref: Reference, start: date, end: date, min_streams: int = 5) -> Skips:
    music = music_streams_in_window(ref, start, end)
    eligible = [s for s in music if s.source == "extended"]
    known = [s for s in eligible if skip_known(s)]
    per_song: dict[tuple[Any, ...], list[Stream]] = defaultdict(list)
    for s in known:
        per_song[s.song].append(s)
    songs = [
        SongSkips(song, group[0].item, group[0].creator, len(group), sum(1 for s in group if is_skip(s)))
        for song, group in per_song.items()
        if len(group) >= min_streams
    ]
    songs.sort(key=lambda x: (-x.skips / x.streams, -x.streams, name_key(x.track), name_key(x.artist)))
    shuffled = [s.shuffle for s in eligible if s.shuffle is not None]
    n_skips = sum(1 for s in known if is_skip(s))
    return Skips(
        streams=len(known),
        skips=n_skips,
        skip_rate=ratio(n_skips, len(known)),
        most_skipped=songs,
        reason_start=dict(Counter(s.reason_start for s in eligible if s.reason_start is not None)),
        reason_end=dict(Counter(s.reason_end for s in eligible if s.reason_end is not None)),
        shuffle_share=ratio(sum(shuffled), len(shuffled)),
        streams_without_skip_data=sum(1 for s in music if not (s.source == "extended" and skip_known(s))),
    )
