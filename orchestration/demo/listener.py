"""A synthetic listener for the demo: a year or so of history that looks like a person's.

`synthetic_export.records` is built for volume (benchmarks: millions of rows, every quirk of the format); its
popularity is so skewed that one artist holds most plays. The demo needs the opposite: something an assistant can
say true-looking things about. So this listener has

- a long-tailed catalogue: hundreds of artists with albums of 6–14 songs, no artist near 15 % of plays;
- a rhythm in the listener's own zone: commute, lunch and evening sessions on weekdays, later and longer ones
  at weekends, some days without music;
- sessions of three kinds: an album front to back, shuffle over favourite artists (more skips), one artist;
- discoveries: most artists arrive during the history, month by month, and are played more while new;
- skips and start/end reasons at rates like the real extended exports (about a third of music streams
  skipped, half on shuffle, a fifth with `skipped` null as older clients wrote it — `reason_end` still says
  `fwdbtn` there);
- some podcast episodes, audiobook chapters, all-null rows, incognito and offline rows and byte-identical
  duplicates, as real exports have.

Deterministic for a seed. The newest record ends at or shortly before `end`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from orchestration.demo.synthetic_export import TS_FORMAT, _name, blank_record, uri_id

ARTISTS = 600
STREAMS_PER_DAY = 30  # about the mean over all days, music and the rest, for sizing the span
# Hours at which sessions start (local): weights per hour 0..23.
WEEKDAY_HOURS = [0, 0, 0, 0, 0, 1, 3, 8, 9, 4, 2, 2, 5, 4, 2, 2, 3, 7, 8, 7, 7, 6, 4, 2]
WEEKEND_HOURS = [2, 1, 0, 0, 0, 0, 0, 1, 2, 4, 6, 6, 5, 5, 5, 5, 5, 5, 6, 7, 7, 6, 5, 4]
SESSIONS_PER_DAY = [0, 1, 2, 3, 4, 5]
WEEKDAY_SESSION_WEIGHTS = [6, 15, 25, 28, 18, 8]
WEEKEND_SESSION_WEIGHTS = [10, 15, 20, 25, 18, 12]


@dataclass(frozen=True)
class Song:
    name: str
    artist: str
    album: str
    uri: str
    duration_ms: int


@dataclass(frozen=True)
class Artist:
    name: str
    weight: float
    arrives: date
    albums: tuple[tuple[Song, ...], ...]


class Catalogue:
    def __init__(self, rng: random.Random, first_day: date, last_day: date) -> None:
        span = (last_day - first_day).days
        self.artists: list[Artist] = []
        for rank in range(ARTISTS):
            name = _name(rng, 3)
            # A quarter were known before the history starts; the rest arrive spread over it.
            arrives = first_day if rng.random() < 0.25 else first_day + timedelta(days=rng.randrange(max(span, 1)))
            albums = tuple(
                tuple(
                    Song(_name(rng, 4), name, album, f"spotify:track:{uri_id(rng)}", rng.randint(120_000, 360_000))
                    for _ in range(rng.randint(6, 14))
                )
                for album in (_name(rng, 3) for _ in range(rng.choice([1, 1, 2, 2, 2, 3, 4, 5])))
            )
            self.artists.append(Artist(name, (rank + 6) ** -1.2, arrives, albums))
        self.episodes = [(_name(rng, 6), _name(rng, 3), f"spotify:episode:{uri_id(rng)}") for _ in range(150)]
        self.chapters = [
            (_name(rng, 3), f"spotify:show:{uri_id(rng)}", f"spotify:episode:{uri_id(rng)}", f"Chapter {i}")
            for i in range(40)
        ]

    def known(self, day: date) -> tuple[list[Artist], list[float]]:
        """The artists known on a day and how much they are played: a new artist is played more for a month."""
        known = [a for a in self.artists if a.arrives <= day]
        weights = [a.weight * (4.0 if (day - a.arrives).days < 30 and a.arrives > self.artists[0].arrives else 1.0)
                   for a in known]  # fmt: skip
        return known, weights


def _song_weights(album: tuple[Song, ...]) -> list[float]:
    return [(i + 1) ** -1.5 for i in range(len(album))]


def _session_songs(rng: random.Random, catalogue: Catalogue, day: date) -> tuple[list[Song], bool, float]:
    """Songs of one music session, whether on shuffle, and how likely a song is skipped."""
    artists, weights = catalogue.known(day)
    length = 1 + int(rng.expovariate(1 / 13))
    mode = rng.random()
    if mode < 0.35:  # an album, front to back (sometimes from the middle)
        album = rng.choice(rng.choices(artists, weights)[0].albums)
        begin = 0 if rng.random() < 0.7 else rng.randrange(len(album))
        return list(album[begin : begin + max(length, 4)]), False, 0.12
    if mode < 0.5:  # one artist, their best-known songs
        artist = rng.choices(artists, weights)[0]
        songs = [s for album in artist.albums for s in album]
        chosen = rng.choices(songs, [w for album in artist.albums for w in _song_weights(album)], k=length)
        return chosen, False, 0.22
    chosen = []
    for artist in rng.choices(artists, weights, k=length):
        album = rng.choice(artist.albums)
        chosen.append(rng.choices(album, _song_weights(album))[0])
    return chosen, True, 0.45


def _music_streams(rng: random.Random, songs: list[Song], shuffle: bool, skip_p: float) -> Iterator[dict[str, Any]]:
    reason_start = rng.choice(["clickrow", "clickrow", "playbtn", "appload"])
    for i, song in enumerate(songs):
        rec = blank_record(rng)
        rec.update(
            master_metadata_track_name=song.name,
            master_metadata_album_artist_name=song.artist,
            master_metadata_album_album_name=song.album,
            spotify_track_uri=song.uri,
            shuffle=shuffle,
            reason_start=reason_start,
            offline=rng.random() < 0.05,
            incognito_mode=rng.random() < 0.01,
        )
        last = i == len(songs) - 1
        if rng.random() < skip_p:
            back = rng.random() < 0.1
            rec["ms_played"] = min(song.duration_ms, int(rng.lognormvariate(8.6, 1.2)))  # median ~5 s
            rec["reason_end"] = "backbtn" if back else "fwdbtn"
            rec["skipped"] = True
        elif last and rng.random() < 0.7:
            rec["ms_played"] = rng.randint(10_000, song.duration_ms)
            rec["reason_end"] = rng.choice(["endplay", "endplay", "endplay", "logout", "unexpected-exit-while-paused"])
            rec["skipped"] = False
        else:
            rec["ms_played"] = song.duration_ms
            rec["reason_end"] = "trackdone"
            rec["skipped"] = False
        if rng.random() < 0.2:
            rec["skipped"] = None  # older clients did not write the field; reason_end still tells
        reason_start = {"fwdbtn": "fwdbtn", "backbtn": "backbtn"}.get(rec["reason_end"], "trackdone")
        yield rec


def _other_streams(rng: random.Random, catalogue: Catalogue) -> Iterator[dict[str, Any]]:
    """A session of podcast episodes, an audiobook chapter or an all-null row."""
    rec = blank_record(rng)
    roll = rng.random()
    if roll < 0.8:
        for _ in range(rng.choice([1, 1, 2])):
            rec = blank_record(rng)
            name, show, uri = rng.choice(catalogue.episodes)
            rec.update(episode_name=name, episode_show_name=show, spotify_episode_uri=uri, shuffle=False)
            rec.update(ms_played=rng.randint(60_000, 3_600_000), reason_start="clickrow", reason_end="endplay")
            rec["skipped"] = False
            yield rec
    elif roll < 0.9:
        title, book, chapter_uri, chapter = rng.choice(catalogue.chapters)
        rec.update(audiobook_title=title, audiobook_uri=book, audiobook_chapter_uri=chapter_uri)
        rec.update(audiobook_chapter_title=chapter, ms_played=rng.randint(60_000, 1_800_000), skipped=False)
        rec.update(reason_start="clickrow", reason_end="endplay", shuffle=False)
        yield rec
    else:
        rec.update(ms_played=rng.randint(0, 5_000), reason_start="clickrow", reason_end="endplay")
        yield rec


def _day(rng: random.Random, catalogue: Catalogue, day: date, zone: ZoneInfo) -> list[dict[str, Any]]:
    weekend = day.weekday() >= 5
    count = rng.choices(SESSIONS_PER_DAY, WEEKEND_SESSION_WEIGHTS if weekend else WEEKDAY_SESSION_WEIGHTS)[0]
    hours = sorted(rng.choices(range(24), WEEKEND_HOURS if weekend else WEEKDAY_HOURS, k=count))
    out: list[dict[str, Any]] = []
    cursor = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
    for hour in hours:
        start = datetime.combine(day, datetime.min.time(), zone).replace(hour=hour, minute=rng.randrange(60))
        at = max(start.astimezone(UTC), cursor + timedelta(minutes=40))
        if rng.random() < 0.07:
            streams = list(_other_streams(rng, catalogue))
        else:
            streams = list(_music_streams(rng, *_session_songs(rng, catalogue, day)))
        for rec in streams:
            at += timedelta(milliseconds=rec["ms_played"] + rng.randint(0, 3_000))
            rec["ts"] = at.strftime(TS_FORMAT)
            if rec["offline"]:
                rec["offline_timestamp"] = int((at - timedelta(milliseconds=rec["ms_played"])).timestamp())
            out.append(rec)
        cursor = at
    return out


def listener_records(n: int, seed: int, end: datetime, timezone: str = "UTC") -> list[dict[str, Any]]:
    """The newest `n` records of a listener whose history ends at or before `end`, oldest first."""
    zone = ZoneInfo(timezone)
    last_day = end.astimezone(zone).date()
    days = int(n / STREAMS_PER_DAY * 1.2) + 7
    while True:  # a longer span when the first guess falls short (deterministic all the same)
        first_day = last_day - timedelta(days=days)
        rng = random.Random(seed)
        catalogue = Catalogue(rng, first_day, last_day)
        out: list[dict[str, Any]] = []
        day = first_day
        while day <= last_day:
            out.extend(rec for rec in _day(rng, catalogue, day, zone) if rec["ts"] <= end.strftime(TS_FORMAT))
            day += timedelta(days=1)
        if len(out) >= n:
            break
        days = days * 3 // 2
    out = out[-n:]
    # About 0.3 % byte-identical duplicates, written right after their twin, as Spotify sometimes does.
    for i in sorted(rng.sample(range(len(out)), len(out) // 300), reverse=True):
        out.insert(i + 1, dict(out[i]))
    return out[-n:]
