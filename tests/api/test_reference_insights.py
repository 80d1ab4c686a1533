"""The reference's insights (tests/reference.py, domain.md §3b) on hand-made streams: the corners the
corpus comparisons rely on the reference getting right. Pure Python, no database."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from export_files import extended_record
from reference import Reference
from reference_insights import all_sessions, discoveries, months, sessions, skips, streaks, top_albums

MINUTE = 60_000


def track(ts: str, ms: int, title: str, artist: str, album: str | None = "Album", **fields: Any) -> dict[str, Any]:
    return extended_record(
        ts,
        ms,
        master_metadata_track_name=title,
        master_metadata_album_artist_name=artist,
        master_metadata_album_album_name=album,
        spotify_track_uri=f"spotify:track:{artist}-{title}".replace(" ", ""),
        **fields,
    )


def account(end_time: str, ms: int, title: str, artist: str) -> dict[str, Any]:
    return {"endTime": end_time, "artistName": artist, "trackName": title, "msPlayed": ms}


def local(ref: Reference, value: datetime) -> datetime:
    return value.astimezone(ref.zone)


# -- sessions -------------------------------------------------------------------------------------


def test_a_session_across_local_midnight_belongs_to_the_day_it_started() -> None:
    # Europe/Berlin is UTC+1 in March: 23:45 → 00:20 local, one session of the 1st.
    ref = Reference.from_records(
        [
            track("2024-03-01T22:50:00Z", 5 * MINUTE, "One", "A"),  # 23:45-23:50 local
            track("2024-03-01T23:20:00Z", 5 * MINUTE, "Two", "A"),  # 00:15-00:20 local, gap 25 min
        ],
        "Europe/Berlin",
    )
    (session,) = all_sessions(ref)
    assert len(session.plays) == 2 and session.minutes == 10
    assert local(ref, session.start) == datetime(2024, 3, 1, 23, 45, tzinfo=ZoneInfo("Europe/Berlin"))
    assert local(ref, session.end).date() == date(2024, 3, 2)
    first, second = (
        sessions(ref, date(2024, 3, 1), date(2024, 3, 1), today=date(2024, 3, 5)),
        sessions(ref, date(2024, 3, 2), date(2024, 3, 2), today=date(2024, 3, 5)),
    )
    assert len(first.sessions) == 1 and first.minutes == 10 and first.median_minutes == 10
    assert second.sessions == [] and second.median_minutes is None and second.minutes == 0
    # …while the streak sees both local days (each holds a play).
    both = sessions(ref, date(2024, 3, 1), date(2024, 3, 2), today=date(2024, 3, 3))
    assert [(s.start, s.days) for s in both.streaks] == [(date(2024, 3, 1), 2)]
    assert both.current is not None and both.current.end == date(2024, 3, 2)  # ends yesterday
    assert both.days_with_plays == 2


def test_a_play_that_starts_before_the_previous_play_ends_stays_in_the_session() -> None:
    ref = Reference.from_records(
        [
            track("2024-05-01T10:00:00Z", 4 * MINUTE, "A1", "A"),  # 09:56-10:00
            track("2024-05-01T10:02:00Z", 10 * MINUTE, "B1", "B"),  # 09:52-10:02: a negative gap
            track("2024-05-01T10:35:00Z", 3 * MINUTE, "B2", "B"),  # 10:32: exactly 30 minutes later
            track("2024-05-01T11:09:00Z", 3 * MINUTE, "C1", "C"),  # 11:06: 31 minutes later, a new session
        ],
        "UTC",
    )
    first, second = all_sessions(ref)
    assert [s.item for s in first.plays] == ["A1", "B1", "B2"]
    assert first.start == datetime.fromisoformat("2024-05-01T09:56:00+00:00")  # its first play's start
    assert first.end == datetime.fromisoformat("2024-05-01T10:35:00+00:00")
    assert first.minutes == 17 and first.top_artist == "B"
    assert [s.item for s in second.plays] == ["C1"]
    got = sessions(ref, date(2024, 5, 1), date(2024, 5, 1), today=date(2024, 5, 1))
    assert [x.minutes for x in got.sessions] == [17, 3]  # most minutes first
    assert got.median_minutes == 10 and got.minutes == 20


def test_the_session_date_is_local_not_utc() -> None:
    # Pacific/Auckland is UTC+13 in January: 11:30Z on the 10th is 00:30 on the 11th there.
    ref = Reference.from_records([track("2024-01-10T11:30:00Z", 5 * MINUTE, "Late", "A")], "Pacific/Auckland")
    (session,) = all_sessions(ref)
    assert session.start.date() == date(2024, 1, 10)  # in UTC
    assert local(ref, session.start).date() == date(2024, 1, 11)  # 00:25 local
    assert sessions(ref, date(2024, 1, 10), date(2024, 1, 10), today=date(2024, 1, 20)).sessions == []
    assert len(sessions(ref, date(2024, 1, 11), date(2024, 1, 11), today=date(2024, 1, 20)).sessions) == 1


def test_top_artist_of_a_session_breaks_ties_by_minutes_then_name() -> None:
    ref = Reference.from_records(
        [
            track("2024-05-01T10:00:00Z", 2 * MINUTE, "x", "Zed"),
            track("2024-05-01T10:03:00Z", 2 * MINUTE, "y", "Abe"),
            track("2024-05-01T10:06:00Z", 1 * MINUTE, "z", "Max"),
            track("2024-05-01T10:08:00Z", 1 * MINUTE, "w", "Max"),
        ],
        "UTC",
    )
    (session,) = all_sessions(ref)
    assert session.top_artist == "Max"  # two plays
    (tied,) = all_sessions(Reference(list(ref.streams[:2]), "UTC"))
    assert tied.top_artist == "Abe"  # one play and 2 minutes each: the name


def test_streaks_are_clipped_to_the_window_and_current_ends_today_or_yesterday() -> None:
    days = [date(2024, 1, d) for d in (1, 2, 3, 4, 7, 8, 10)]
    assert [(s.start, s.end) for s in streaks(days, date(2024, 1, 3), date(2024, 1, 31))] == [
        (date(2024, 1, 3), date(2024, 1, 4)),
        (date(2024, 1, 7), date(2024, 1, 8)),
        (date(2024, 1, 10), date(2024, 1, 10)),
    ]
    ref = Reference.from_records(
        [track(f"{d.isoformat()}T12:00:00Z", 5 * MINUTE, f"t{d.day}", "A") for d in days], "UTC"
    )
    window = (date(2024, 1, 1), date(2024, 1, 31))
    got = sessions(ref, *window, today=date(2024, 1, 11))
    assert [(s.start, s.days) for s in got.longest_streaks] == [(date(2024, 1, 1), 4)]
    assert got.current is not None and (got.current.start, got.current.days) == (date(2024, 1, 10), 1)
    assert sessions(ref, *window, today=date(2024, 1, 12)).current is None  # ended two days before
    assert sessions(ref, *window, today=date(2024, 1, 10)).current == got.current  # ends today
    # a window that ends before yesterday has no current streak; a clipped run still can be current
    assert sessions(ref, date(2024, 1, 1), date(2024, 1, 8), today=date(2024, 1, 11)).current is None
    clipped = sessions(ref, date(2024, 1, 1), date(2024, 1, 3), today=date(2024, 1, 4)).current
    assert clipped is not None and (clipped.start, clipped.end) == (date(2024, 1, 1), date(2024, 1, 3))
    assert got.days_with_plays == 7


# -- discoveries ----------------------------------------------------------------------------------


def test_an_artist_first_heard_in_account_data_is_discovered_then_not_later_in_extended_data() -> None:
    ref = Reference.from_records(
        [
            account("2023-05-01 20:00", 3 * MINUTE, "Song", "X"),
            track("2024-02-01T20:00:00Z", 3 * MINUTE, "Song", "X"),  # the same song, later, extended
            track("2024-02-02T20:00:00Z", 3 * MINUTE, "Other", "X"),  # a new song of a known artist
            track("2024-02-03T20:00:00Z", 3 * MINUTE, "New", "Y"),
            track("2024-02-03T20:10:00Z", 3 * MINUTE, "New", "Y"),
            account("2024-02-04 20:00", 10_000, "Short", "Z"),  # not a play: never discovered
        ],
        "America/New_York",
    )
    early = discoveries(ref, date(2023, 5, 1), date(2023, 5, 31), "artist")
    assert (early.new_count, [d.name for d in early.items]) == (1, ["X"])
    assert early.items[0].first_played == datetime(2023, 5, 1, 16, 0, tzinfo=ZoneInfo("America/New_York"))
    assert (early.items[0].plays_in_window, early.items[0].plays_total) == (1, 3)
    assert early.by_month == [{"month": "2023-05", "new_artists": 1, "new_tracks": 1}]
    assert early.share_new == 1.0

    feb = discoveries(ref, date(2024, 1, 15), date(2024, 2, 29), "artist")
    assert [(d.name, d.plays_in_window, d.plays_total) for d in feb.items] == [("Y", 2, 2)]  # X is not new
    assert feb.by_month == [
        {"month": "2024-01", "new_artists": 0, "new_tracks": 0},
        {"month": "2024-02", "new_artists": 1, "new_tracks": 2},
    ]
    assert feb.share_new == round(2 / 4, 4)
    songs = discoveries(ref, date(2024, 1, 15), date(2024, 2, 29), "track")
    assert [(d.name, d.artist, d.plays_in_window) for d in songs.items] == [("New", "Y", 2), ("Other", "X", 1)]
    assert songs.share_new == round(3 / 4, 4)
    assert discoveries(ref, date(2022, 1, 1), date(2022, 1, 31)).share_new is None  # no plays


def test_the_first_play_is_the_earliest_whatever_the_order_of_the_files() -> None:
    ref = Reference.from_records(
        [track("2024-03-01T10:00:00Z", 3 * MINUTE, "S", "A"), account("2024-02-01 10:00", 3 * MINUTE, "S", "A")],
        "UTC",
    )
    (d,) = discoveries(ref, date(2024, 2, 1), date(2024, 2, 1), "track").items
    assert d.first_played.date() == date(2024, 2, 1) and (d.plays_in_window, d.plays_total) == (1, 2)


def test_months_of_a_window() -> None:
    assert months(date(2023, 11, 30), date(2024, 2, 1)) == ["2023-11", "2023-12", "2024-01", "2024-02"]
    assert months(date(2024, 5, 3), date(2024, 5, 3)) == ["2024-05"]


# -- albums ---------------------------------------------------------------------------------------


def test_top_albums_and_plays_without_album() -> None:
    ref = Reference.from_records(
        [
            track("2024-06-01T10:00:00Z", 3 * MINUTE, "a", "A", "Same name"),
            track("2024-06-01T10:05:00Z", 3 * MINUTE, "b", "A", "Same name"),
            track("2024-06-01T10:10:00Z", 3 * MINUTE, "a", "A", "Same name"),
            track("2024-06-01T10:15:00Z", 4 * MINUTE, "c", "B", "Same name"),  # another artist's album
            track("2024-06-01T10:20:00Z", 20_000, "d", "B", "Same name"),  # not a play
            account("2024-06-01 11:00", 3 * MINUTE, "a", "A"),  # account data: no album
        ],
        "UTC",
    )
    got = top_albums(ref, date(2024, 6, 1), date(2024, 6, 1))
    assert (got.total_plays, got.unique_albums, got.plays_without_album) == (5, 2, 1)
    assert [(a.album, a.artist, a.plays, a.minutes, a.songs, a.share) for a in got.items] == [
        ("Same name", "A", 3, 9, 2, 0.6),
        ("Same name", "B", 1, 4, 1, 0.2),
    ]


# -- skips ----------------------------------------------------------------------------------------


def test_skips_over_streams_with_skipped_null_and_fwdbtn() -> None:
    ts = "2024-06-01T10:{:02d}:00Z".format
    ref = Reference.from_records(
        [
            track(ts(0), 5_000, "S", "A", skipped=None, reason_end="fwdbtn"),  # skipped (null + fwdbtn)
            track(ts(1), 0, "S", "A", skipped=True, reason_end="trackdone"),  # skipped, 0 ms still a stream
            track(ts(2), 200_000, "S", "A", skipped=False, reason_end="fwdbtn"),  # not: skipped says no
            track(ts(3), 200_000, "S", "A", skipped=None, reason_end="trackdone", shuffle=True),  # known, kept
            track(ts(4), 200_000, "S", "A", skipped=None, reason_end=None, reason_start=None, shuffle=None),
            track(ts(5), 9_000, "S", "A", skipped=True, incognito_mode=True),  # incognito: not counted
            account("2024-06-01 10:06", 9_000, "S", "A"),  # no skip fields
            extended_record(ts(7), 9_000, master_metadata_track_name=None, spotify_track_uri=None,
                            episode_name="E", spotify_episode_uri="spotify:episode:E", skipped=True),  # podcast
        ],
        "UTC",
    )  # fmt: skip
    got = skips(ref, date(2024, 6, 1), date(2024, 6, 1), min_streams=4)
    assert (got.streams, got.skips, got.skip_rate) == (4, 2, 0.5)
    assert got.streams_without_skip_data == 2  # the extended row with neither field, the account row
    assert got.reason_end == {"fwdbtn": 2, "trackdone": 2}
    assert got.reason_start == {"trackdone": 4}
    assert got.shuffle_share == 0.25  # 1 of the 4 with shuffle known
    ((song),) = got.most_skipped
    assert (song.track, song.artist, song.streams, song.skips, song.skip_rate) == ("S", "A", 4, 2, 0.5)
    assert skips(ref, date(2024, 6, 1), date(2024, 6, 1), min_streams=5).most_skipped == []
    empty = skips(ref, date(2024, 6, 2), date(2024, 6, 2))
    assert (empty.streams, empty.skip_rate, empty.shuffle_share) == (0, None, None)


def test_a_stream_belongs_to_the_local_date_of_its_end() -> None:
    ref = Reference.from_records([track("2024-06-01T23:30:00Z", 5_000, "S", "A", skipped=True)], "Asia/Tokyo")
    assert skips(ref, date(2024, 6, 2), date(2024, 6, 2)).skips == 1
    assert skips(ref, date(2024, 6, 1), date(2024, 6, 1)).streams == 0


def test_most_skipped_ranks_by_rate_then_streams() -> None:
    records = []
    when = datetime(2024, 6, 1, 8, 0)
    for title, n, skipped in (("low", 6, 1), ("high", 5, 5), ("high-more", 7, 7), ("mid", 5, 3)):
        for i in range(n):
            when += timedelta(minutes=5)
            records.append(track(when.strftime("%Y-%m-%dT%H:%M:%SZ"), 5_000, title, "A", skipped=i < skipped))
    got = skips(Reference.from_records(records, "UTC"), date(2024, 6, 1), date(2024, 6, 1))
    assert [(s.track, s.skip_rate) for s in got.most_skipped] == [
        ("high-more", 1.0),
        ("high", 1.0),
        ("mid", 0.6),
        ("low", round(1 / 6, 4)),
    ]
