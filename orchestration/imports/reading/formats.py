"""The privacy-export formats, described once.

Detection (which format is this file?), validation (is this record well-formed?) and loading
(which raw column does this key go to?) all read these descriptions. Raw column names are the
export's own keys, snake_cased; nothing is renamed beyond that (renaming is dbt staging's job).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum


class Kind(Enum):
    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    TS_ISO = "ts_iso"  # extended history: 2024-01-31T23:59:59Z
    TS_MINUTE = "ts_minute"  # account data: 2024-01-31 23:59 (UTC, minute precision)

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self]


SQL_TYPES: dict[Kind, str] = {
    Kind.TEXT: "text",
    Kind.INT: "bigint",
    Kind.BOOL: "boolean",
    Kind.TS_ISO: "timestamptz",
    Kind.TS_MINUTE: "timestamptz",
}


# Types a JSON value may have for each kind; None (JSON null) is always allowed unless required.
PYTHON_TYPES: dict[Kind, type] = {
    Kind.TEXT: str,
    Kind.INT: int,
    Kind.BOOL: bool,
    Kind.TS_ISO: str,
    Kind.TS_MINUTE: str,
}

TIMESTAMP_PATTERNS: dict[Kind, re.Pattern[str]] = {
    Kind.TS_ISO: re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z\Z"),
    Kind.TS_MINUTE: re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d\Z"),
}


# Values Spotify never writes are refused (README "What an import does"). A stream's end time lies between
# Spotify's founding and tomorrow (a day of clock skew); play times are never negative.
EARLIEST_TIME = datetime(2006, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
TIME_FORMATS: dict[Kind, str] = {Kind.TS_ISO: "%Y-%m-%dT%H:%M:%SZ", Kind.TS_MINUTE: "%Y-%m-%d %H:%M"}
EPOCH_MS_ABOVE = 100_000_000_000
"""An epoch value above this is milliseconds, below it seconds (as stg_spotify__extended_streams reads them)."""


def time_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The earliest and latest end time a stream may have, as of `now`."""
    return EARLIEST_TIME, (now or datetime.now(UTC)) + FUTURE_TOLERANCE


@dataclass(frozen=True)
class Field:
    key: str
    kind: Kind
    required: bool = False
    non_negative: bool = False
    """A duration: a negative value is refused."""
    epoch: bool = False
    """Epoch seconds or milliseconds; 0 (and null) mean unknown, anything else must lie in time_window()."""

    @property
    def column(self) -> str:
        return _snake(self.key)


@dataclass(frozen=True)
class ExportFormat:
    name: str
    table: str
    fields: tuple[Field, ...]
    signature: frozenset[str]
    """Keys whose presence in a record identifies the format."""
    description: str
    content: str
    """What the rows are: 'mixed' (extended history holds music, podcasts, audiobooks) or one type."""
    key_index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_index", {f.key: i for i, f in enumerate(self.fields)})

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.column for f in self.fields)

    @property
    def time_field(self) -> Field:
        """The record's end-of-stream timestamp (every format has exactly one)."""
        return next(f for f in self.fields if f.kind in TIMESTAMP_PATTERNS)

    def matches(self, keys: set[str]) -> bool:
        return self.signature <= keys


PERSONAL_KEYS = frozenset({"username", "user_agent_decrypted", "ip_addr", "ip_addr_decrypted"})


def is_personal(key: str) -> bool:
    """Personal fields are never stored: the known ones and anything named ip_addr*."""
    return key in PERSONAL_KEYS or key.startswith("ip_addr")


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


EXTENDED = ExportFormat(
    name="extended",
    table="extended_streams",
    description="Extended streaming history (endsong_N.json, Streaming_History_Audio_*/Video_*.json)",
    content="mixed",
    signature=frozenset({"ts", "ms_played"}),
    fields=(
        Field("ts", Kind.TS_ISO, required=True),
        Field("platform", Kind.TEXT),
        Field("ms_played", Kind.INT, required=True, non_negative=True),
        Field("conn_country", Kind.TEXT),
        Field("master_metadata_track_name", Kind.TEXT),
        Field("master_metadata_album_artist_name", Kind.TEXT),
        Field("master_metadata_album_album_name", Kind.TEXT),
        Field("spotify_track_uri", Kind.TEXT),
        Field("episode_name", Kind.TEXT),
        Field("episode_show_name", Kind.TEXT),
        Field("spotify_episode_uri", Kind.TEXT),
        Field("audiobook_title", Kind.TEXT),
        Field("audiobook_uri", Kind.TEXT),
        Field("audiobook_chapter_uri", Kind.TEXT),
        Field("audiobook_chapter_title", Kind.TEXT),
        Field("reason_start", Kind.TEXT),
        Field("reason_end", Kind.TEXT),
        Field("shuffle", Kind.BOOL),
        Field("skipped", Kind.BOOL),
        Field("offline", Kind.BOOL),
        Field("offline_timestamp", Kind.INT, epoch=True),
        Field("incognito_mode", Kind.BOOL),
    ),
)

ACCOUNT_MUSIC = ExportFormat(
    name="account_music",
    table="account_music_streams",
    description="Account data, music (StreamingHistoryN.json, StreamingHistory_music_N.json)",
    content="music",
    signature=frozenset({"endTime", "artistName", "trackName", "msPlayed"}),
    fields=(
        Field("endTime", Kind.TS_MINUTE, required=True),
        Field("artistName", Kind.TEXT),
        Field("trackName", Kind.TEXT),
        Field("msPlayed", Kind.INT, required=True, non_negative=True),
    ),
)

ACCOUNT_PODCAST = ExportFormat(
    name="account_podcast",
    table="account_podcast_streams",
    description="Account data, podcasts (StreamingHistory_podcast_N.json)",
    content="podcast",
    signature=frozenset({"endTime", "podcastName", "episodeName", "msPlayed"}),
    fields=(
        Field("endTime", Kind.TS_MINUTE, required=True),
        Field("podcastName", Kind.TEXT),
        Field("episodeName", Kind.TEXT),
        Field("msPlayed", Kind.INT, required=True, non_negative=True),
    ),
)

ACCOUNT_AUDIOBOOK = ExportFormat(
    name="account_audiobook",
    table="account_audiobook_streams",
    description="Account data, audiobooks (StreamingHistory_audiobook_N.json)",
    content="audiobook",
    signature=frozenset({"endTime", "audiobookName", "chapterName", "msPlayed"}),
    fields=(
        Field("endTime", Kind.TS_MINUTE, required=True),
        Field("audiobookName", Kind.TEXT),
        Field("chapterName", Kind.TEXT),
        Field("authorName", Kind.TEXT),
        Field("msPlayed", Kind.INT, required=True, non_negative=True),
    ),
)

FORMATS: tuple[ExportFormat, ...] = (EXTENDED, ACCOUNT_MUSIC, ACCOUNT_PODCAST, ACCOUNT_AUDIOBOOK)
FORMATS_BY_NAME = {f.name: f for f in FORMATS}


def detect(keys: set[str]) -> ExportFormat | None:
    """The format whose signature the record's keys contain, if any."""
    for fmt in FORMATS:
        if fmt.matches(keys):
            return fmt
    return None


def extended_generation(keys: set[str]) -> str:
    """v1 carries username/ip_addr_decrypted/user_agent_decrypted, v3 adds audiobook fields, v2 neither."""
    if keys & {"username", "ip_addr_decrypted", "user_agent_decrypted"}:
        return "v1"
    if any(k.startswith("audiobook_") for k in keys):
        return "v3"
    return "v2"


HISTORY_FILE_NAME = re.compile(r"(endsong|streaming_?history)[^/]*\.json\Z", re.IGNORECASE)


def looks_like_history_file(name: str) -> bool:
    """Names Spotify gives listening-history files; such files are never skipped silently."""
    return bool(HISTORY_FILE_NAME.search(name.rsplit("/", 1)[-1]))


def file_variant(name: str) -> str:
    """Audio / video / endsong / account, from the file name (informational only)."""
    base = name.rsplit("/", 1)[-1].lower()
    if base.startswith("endsong"):
        return "endsong"
    if "video" in base:
        return "video"
    if "audio" in base:
        return "audio"
    return "account" if base.startswith("streaminghistory") else "other"
