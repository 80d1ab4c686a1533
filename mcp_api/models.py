"""Argument and result models of the tools: validation, JSON schemas and OpenAPI come from these.

Optional arguments are typed `X | SkipJsonSchema[None]`: null is accepted, but the published schema
says just `integer` / `string`, which GPT Actions and MCP clients read more reliably than anyOf-null.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from mcp_api import windows
from mcp_api.windows import MAX_WINDOW_DAYS, IsoDate

USER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
UserName = Annotated[str, StringConstraints(pattern=USER_NAME_PATTERN, max_length=63)]
UserNumber = Annotated[int, Field(ge=1, le=2_147_483_647)]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _User(_Base):
    user_id: UserNumber | UserName | SkipJsonSchema[None] = Field(
        default=None,
        description="Whose history: leave empty (a key reads its own user). Only the admin key may name "
        "another user, by numeric id or user name.",
    )


class WindowFields(_Base):
    days: Annotated[int, Field(ge=1, le=MAX_WINDOW_DAYS)] | SkipJsonSchema[None] = Field(
        default=None,
        description=f"The last N days up to today in the listener's time zone, today included "
        f"(default {windows.DEFAULT_DAYS}; 1-{MAX_WINDOW_DAYS}). Not together with start/end or all_time.",
    )
    start: IsoDate | SkipJsonSchema[None] = Field(
        default=None, description="First local date of the window (YYYY-MM-DD, inclusive). Instead of days."
    )
    end: IsoDate | SkipJsonSchema[None] = Field(
        default=None, description="Last local date of the window (YYYY-MM-DD, inclusive; default today). Needs start."
    )
    all_time: bool = Field(
        default=False,
        description="true: the whole stored history, from the first stored play to today. Not together with "
        "days or start/end. The answer's `history` says which dates are stored.",
    )

    @model_validator(mode="after")
    def _window(self) -> WindowFields:
        windows.check(self.days, self.start, self.end, self.all_time)  # WindowError is a ValueError: a 400
        return self


class _Limit(_Base):
    limit: int = Field(default=10, ge=1, le=50, description="How many items to list (1-50).")


# Bases are listed so that the fields come in reading order: window, limit, user_id.
class Args(_User):
    """Arguments of a tool without a window."""


class WindowArgs(_User, WindowFields):
    pass


class ListArgs(_User, _Limit, WindowFields):
    pass


class ImportsArgs(_User, _Limit):
    pass


# -- results --------------------------------------------------------------------------------------


class Out(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="null")


class WindowOut(Out):
    start: date
    end: date
    days: int
    timezone: str = Field(description="The listener's IANA time zone; all days and hours are local to it.")


class HistorySpan(Out):
    first_play: date | None = Field(description="Local date of the first stored play (null: none stored).")
    last_play: date | None = Field(description="Local date of the last stored play (null: none stored).")
    plays: int = Field(description="Every stored play of the listener, whatever the window.")


class Windowed(Out):
    user: str = Field(description="The listener's user name.")
    window: WindowOut
    history: HistorySpan = Field(
        description="What is stored for the listener over all time: ask for windows inside first_play..last_play."
    )
    note: str | None = Field(
        default=None,
        description="Set when the window holds no plays: a sentence to pass on, saying where the stored plays are.",
    )


class ArtistItem(Out):
    artist: str | None
    plays: int
    minutes: float
    share: float = Field(description="This artist's plays / all plays in the window.")


class TopArtists(Windowed):
    total_plays: int
    unique_artists: int
    items: list[ArtistItem] = Field(description="Ranked by plays, then minutes, then name.")


class TrackItem(Out):
    """A song by default (the same primary artist and title across releases, albums and sources)."""

    track: str | None
    artist: str | None
    plays: int
    minutes: float
    track_uri: str | None = Field(default=None, description="The most played release's URI (null: none known).")
    album: str | None = Field(default=None, description="The album of the most played release with a known album.")
    releases: int = Field(
        default=0, description="How many release URIs of this song were played in the window (merged into one item)."
    )


class TopTracks(Windowed):
    total_plays: int
    unique_tracks: int
    items: list[TrackItem] = Field(description="Ranked by plays, then minutes, then track and artist name.")


class HeatCell(Out):
    weekday: int = Field(description="ISO weekday: 1 = Monday … 7 = Sunday.")
    hour: int = Field(description="Local hour 0-23.")
    plays: int


class Heatmap(Windowed):
    timezone: str
    total_plays: int
    peak: HeatCell | None = Field(description="The weekday and hour with the most plays (null without plays).")
    cells: list[HeatCell] = Field(description="All 168 weekday × hour cells, Monday 0h first.")


class RepeatItem(Out):
    track: str | None
    artist: str | None
    plays: int


class RepeatRate(Windowed):
    plays: int
    unique_tracks: int
    repeat_rate: float | None = Field(description="1 - unique tracks / plays; null when there are no plays.")
    tracks_played_more_than_once: int
    top_repeated: list[RepeatItem]


class Gap(Out):
    start: date
    end: date
    days: int


class SourceCoverage(Out):
    plays: int
    streams: int
    days_with_plays: int
    first_play: datetime | None
    last_play: datetime | None


class Coverage(Windowed):
    days_in_window: int
    days_with_plays: int
    plays: int
    by_source: dict[str, SourceCoverage] = Field(
        description="Per source: extended (lifetime export), account (last-year export), api (polled plays)."
    )
    gaps: list[Gap] = Field(description="The longest runs of days without plays (up to limit), in date order.")
    gap_count: int = Field(description="All runs of days without plays in the window.")
    gap_days: int
    first_play: datetime | None
    last_play: datetime | None
    last_successful_poll: datetime | None = Field(
        description="The last successful poll of Spotify's API (null: never polled, or not linked)."
    )


class ShowItem(Out):
    show: str | None
    minutes: float


class TasteSummary(Windowed):
    plays: int
    minutes: float = Field(description="Minutes of music plays.")
    unique_artists: int
    unique_tracks: int
    repeat_rate: float | None
    top_artists: list[ArtistItem]
    top_tracks: list[TrackItem]
    peak_weekday: int | None = Field(description="ISO weekday with the most plays (1 = Monday).")
    peak_hour: int | None = Field(description="Local hour with the most plays.")
    minutes_by_content: dict[str, float] = Field(description="Minutes listened per content type (music, podcast …).")
    top_shows: list[ShowItem]
    days_with_plays: int
    days_in_window: int


class UserStatus(Out):
    """A row of marts.sync_status; new columns appear as extra fields."""

    model_config = ConfigDict(extra="allow")

    user_id: int
    user_name: str
    status: str
    timezone: str
    plays: int


class SyncStatus(Out):
    users: list[UserStatus]


class ImportItem(Out):
    import_id: int
    user_name: str
    source_name: str
    source_kind: str
    status: str
    formats: dict[str, Any]
    records: int | None
    inserted: int | None
    duplicates: int | None
    skipped_files: int | None
    first_stream_at: datetime | None
    last_stream_at: datetime | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class LatestImports(Out):
    items: list[ImportItem]


# -- spotify.get_top, history.search, ops.latest_job_runs -------------------------------------------


class _Optional(Out):
    """An item whose optional keys (None) are left out of the answer rather than sent as null."""

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None or k not in self._optional}

    _optional: ClassVar[frozenset[str]] = frozenset()


TopEntity = Literal["artists", "tracks"]
TopTimeRange = Literal["short_term", "medium_term", "long_term"]


class _TopFields(_Base):
    entity: TopEntity = Field(description="artists or tracks.")
    time_range: TopTimeRange = Field(
        default="medium_term",
        description="Spotify's range: short_term (about 4 weeks), medium_term (about 6 months, default), "
        "long_term (several years).",
    )


class TopArgs(_User, _Limit, _TopFields):
    pass


class SpotifyTopItem(_Optional):
    _optional = frozenset({"artists", "genres", "popularity"})
    rank: int
    name: str
    uri: str | None
    artists: list[str] | None = Field(default=None, description="Tracks: the credited artists.")
    genres: list[str] | None = Field(default=None, description="Artists: Spotify's genres.")
    popularity: int | None = Field(default=None, description="Spotify's popularity 0-100.")


class SpotifyTop(Out):
    user: str = Field(description="The listener's user name.")
    entity: TopEntity
    time_range: TopTimeRange
    snapshot_at: datetime | None = Field(description="When Spotify's list was fetched (null: no snapshot yet).")
    items: list[SpotifyTopItem] = Field(description="Spotify's ranking, rank 1 first.")
    note: str | None = Field(default=None, description="Why the list is empty, when it is.")


SearchType = Literal["track", "artist", "album", "show"]


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("q must not contain NUL characters")
    return text


class _SearchFields(_Base):
    q: Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_nul)] = Field(
        description="What to look for in the listener's played tracks, artists, albums and shows (1-200 "
        "characters; case and accents do not matter; each word matches the start of a word).",
        examples=["beyonce"],
    )
    type: SearchType | SkipJsonSchema[None] = Field(
        default=None, description="Only this kind of item: track, artist, album or show (default: all)."
    )


class SearchArgs(_User, _Limit, _SearchFields):
    pass


class SearchItem(_Optional):
    _optional = frozenset({"artist", "uri"})
    type: SearchType
    name: str
    artist: str | None = Field(default=None, description="Tracks and albums: the artist.")
    uri: str | None = Field(default=None, description="Tracks: the most played Spotify URI of the song.")
    plays: int = Field(description="Plays (music) or listened episodes (shows), over all stored history.")
    minutes: float
    first_played: datetime
    last_played: datetime


class SearchResult(Out):
    user: str = Field(description="The listener's user name.")
    q: str
    type: SearchType | None
    items: list[SearchItem] = Field(description="Best match first (exact name, name prefix, words), then most played.")


JobKind = Literal["import", "poll", "backfill", "initial_sync", "top_snapshot", "marts_build"]


class JobRunsArgs(_User, _Limit):
    kind: JobKind | SkipJsonSchema[None] = Field(
        default=None,
        description="Only this kind: import, poll, backfill, initial_sync, top_snapshot or marts_build.",
    )


class JobRunItem(Out):
    kind: JobKind
    id: int = Field(description="The run's id in its registry (import, sync, snapshot or build id).")
    user: str | None = Field(description="The listener; null for marts builds (they serve every user).")
    status: str = Field(description="running, succeeded, failed, rate_limited or needs_reauth.")
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int | None] = Field(
        description="imports: records, inserted, duplicates; polls/backfills/initial syncs: requests, fetched, "
        "inserted; top snapshots: requests, items; marts builds: models, tests, failures."
    )
    detail: str | None = Field(description="Import: the file; sync: why it stopped; build: full refresh.")
    error: str | None


class LatestJobRuns(Out):
    items: list[JobRunItem] = Field(description="Newest first.")
