"""The insight tools' figures (domain.md §3b: albums, discoveries, sessions and streaks, skips) computed
from the export files with plain Python, on top of tests/reference.py's streams and plays — independent of
the marts, for tests/api/test_insights_corpus.py and the reference's own tests."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from reference import Reference, Stream

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
