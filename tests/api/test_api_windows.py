"""Window arguments: `days` vs `start`/`end` in the listener's zone, and every bad combination is a
clear 400 in all doors (never a 500)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from api_support import World, make_app
from fastapi.testclient import TestClient

from mcp_api.tools import common as windows

# -- windows.resolve, no database -------------------------------------------------------------------

EVENING_UTC = datetime(2024, 3, 9, 22, 30, tzinfo=UTC)  # already Sunday the 10th in Tokyo, still the 9th in LA


@pytest.mark.parametrize(
    ("zone", "today"),
    [("Asia/Tokyo", date(2024, 3, 10)), ("America/Los_Angeles", date(2024, 3, 9)), ("UTC", date(2024, 3, 9))],
)
def test_days_count_back_from_today_in_the_listeners_zone(zone: str, today: date) -> None:
    w = windows.resolve(7, None, None, zone, EVENING_UTC)
    assert (w.end, w.days, w.timezone) == (today, 7, zone)
    assert (w.end - w.start).days == 6


def test_the_default_is_the_last_90_days_today_included() -> None:
    w = windows.resolve(None, None, None, "UTC", EVENING_UTC)
    assert (w.start, w.end, w.days) == (date(2023, 12, 11), date(2024, 3, 9), 90)


def test_one_day() -> None:
    w = windows.resolve(1, None, None, "UTC", EVENING_UTC)
    assert w.start == w.end == date(2024, 3, 9)


def test_start_and_end_are_inclusive_local_dates() -> None:
    w = windows.resolve(None, date(2024, 2, 1), date(2024, 2, 29), "Europe/Berlin", EVENING_UTC)
    assert (w.start, w.end, w.days) == (date(2024, 2, 1), date(2024, 2, 29), 29)
    assert len(w.dates()) == 29


def test_start_alone_runs_until_today() -> None:
    w = windows.resolve(None, date(2024, 3, 1), None, "Asia/Tokyo", EVENING_UTC)
    assert (w.start, w.end) == (date(2024, 3, 1), date(2024, 3, 10))


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        (7, date(2024, 1, 1), None, "days cannot be combined with start/end"),
        (7, None, date(2024, 1, 1), "days cannot be combined with start/end"),
        (None, None, date(2024, 1, 1), "end needs start"),
        (None, date(2024, 2, 2), date(2024, 2, 1), "after end"),
        (None, date(1990, 1, 1), date(2024, 1, 1), "at most 10000 days"),
        (None, date(2030, 1, 1), None, "after today"),
    ],
)
def test_bad_combinations(days: int | None, start: date | None, end: date | None, message: str) -> None:
    with pytest.raises(windows.WindowError, match=message):
        windows.resolve(days, start, end, "UTC", EVENING_UTC)


# -- over HTTP: the same rules, as 400s -------------------------------------------------------------


@pytest.fixture(scope="module")
def client(data: World) -> Iterator[TestClient]:
    with TestClient(make_app()) as c:
        yield c


def test_all_time_runs_from_the_first_stored_play_to_today() -> None:
    w = windows.resolve(
        None, None, None, "UTC", EVENING_UTC, all_time=True, stored=(date(2008, 10, 7), date(2021, 5, 1))
    )
    assert (w.start, w.end) == (date(2008, 10, 7), date(2024, 3, 9))
    later = windows.resolve(
        None, None, None, "UTC", EVENING_UTC, all_time=True, stored=(date(2020, 1, 1), date(2025, 1, 1))
    )
    assert later.end == date(2025, 1, 1)  # a last play after today (clock skew) stays inside
    nothing = windows.resolve(None, None, None, "UTC", EVENING_UTC, all_time=True)
    assert nothing.start == nothing.end == date(2024, 3, 9)


# Argument errors in plain words: (arguments, what the error must say). None of them may show
# pydantic's internals (see test_bad_arguments_are_400_in_the_dispatcher).
BAD_ARGS: list[tuple[dict[str, Any], str]] = [
    ({"days": 7, "start": "2024-01-01"}, "days cannot be combined with start/end"),
    (
        {"days": 36500},
        "days must be a whole number between 1 and 10000 (about 27 years), not 36500; "
        "for the whole history use all_time: true",
    ),
    ({"all_time": True, "days": 30}, "all_time: true already covers the whole stored history"),
    ({"all_time": True, "start": "2024-01-01"}, "leave out days, start and end"),
    ({"all_time": "sometimes"}, "all_time must be true or false"),
    ({"start": "2024-02-02", "end": "2024-02-01"}, "after end"),
    ({"end": "2024-02-01"}, "end needs start"),
    ({"start": "2024-02-30"}, "start"),
    ({"start": "2024-13-01"}, "start"),
    ({"start": "01/02/2024"}, "YYYY-MM-DD"),
    ({"start": "2024-W05-1"}, "YYYY-MM-DD"),
    ({"start": "20240101"}, "YYYY-MM-DD"),
    ({"start": 1_700_000_000}, "YYYY-MM-DD"),
    ({"start": "2024-01-01T00:00:00"}, "YYYY-MM-DD"),
    ({"start": "1900-01-01", "end": "2024-01-01"}, "at most 10000 days (about 27 years); for the whole history"),
    ({"start": "2099-01-01"}, "after today"),
    ({"days": 0}, "days must be a whole number between 1 and 10000"),
    ({"days": -5}, "days must be a whole number between 1 and 10000"),
    ({"days": 10_001}, "days must be a whole number between 1 and 10000"),
    ({"days": "many"}, "days must be a whole number between 1 and 10000"),
    ({"days": 7.5}, "days must be a whole number between 1 and 10000"),
    ({"limit": 0}, "limit must be a whole number between 1 and 50"),
    ({"limit": 51}, "limit must be a whole number between 1 and 50"),
    ({"limit": "ten"}, "limit must be a whole number between 1 and 50"),
    ({"colour": "blue"}, "colour is not an argument of this tool; it takes days, start, end, all_time, limit, user_id"),
    ({"user_id": "Not A Name!"}, "user_id must be a numeric user id or a user name"),
    ({"user_id": 2**40}, "user_id must be a numeric user id or a user name"),
    ({"user_id": ["a"]}, "user_id must be a numeric user id or a user name"),
    ({"days": 0, "limit": 0}, "days must be a whole number between 1 and 10000"),
]
# What an assistant must never be shown: validator codes and pydantic's wording.
INTERNALS = ("constrained", ".none", "Input should", "Value error", "function-", "type=", "pydantic")


def check_error(body: dict[str, Any], message: str) -> None:
    assert body["success"] is False and body["error_type"] == "invalid_arguments"
    assert message in body["error"]
    assert not any(word in body["error"] for word in INTERNALS), body["error"]


@pytest.mark.parametrize(("args", "message"), BAD_ARGS, ids=[str(a) for a, _ in BAD_ARGS])
def test_bad_arguments_are_400_in_the_dispatcher(
    client: TestClient, data: World, args: dict[str, Any], message: str
) -> None:
    response = client.post(
        "/mcp/call", json={"tool": "history.top_artists", "args": args}, headers=data["efrrowini"].auth
    )
    assert response.status_code == 400, response.text
    check_error(response.json(), message)


# A query string has no lists, and digits there may be a user name (a 403, tested in test_api_auth).
QUERY_BAD_ARGS = [
    (a, m) for a, m in BAD_ARGS if not any(isinstance(v, list) for v in a.values()) and a.get("user_id") != 2**40
]


@pytest.mark.parametrize(("args", "message"), QUERY_BAD_ARGS, ids=[str(a) for a, _ in QUERY_BAD_ARGS])
def test_bad_arguments_are_400_in_the_gpt_actions(
    client: TestClient, data: World, args: dict[str, Any], message: str
) -> None:
    response = client.get("/v1/history/top-artists", params=args, headers=data["efrrowini"].auth)
    assert response.status_code == 400, response.text
    check_error(response.json(), message)


def test_both_argument_errors_are_named(client: TestClient, data: World) -> None:
    response = client.post(
        "/mcp/call",
        json={"tool": "history.top_artists", "args": {"days": 0, "limit": 0}},
        headers=data["efrrowini"].auth,
    )
    error = response.json()["error"]
    assert "days must be" in error and "limit must be a whole number between 1 and 50, not 0" in error


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"args": {}}',
        b'{"tool": 5}',
        b'{"tool": "history.top_artists", "args": [1]}',
        b'{"tool": "history.top_artists", "args": "days=5"}',
        b"\xff\xfe",
    ],
)
def test_malformed_calls_are_400(client: TestClient, data: World, body: bytes) -> None:
    response = client.post(
        "/mcp/call", content=body, headers={**data["efrrowini"].auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False


def test_an_unknown_tool_is_404(client: TestClient, data: World) -> None:
    response = client.post("/mcp/call", json={"tool": "history.everything", "args": {}}, headers=data["efrrowini"].auth)
    assert response.status_code == 404
    assert "GET /mcp/tools" in response.json()["error"]


def test_null_arguments_mean_the_default(client: TestClient, data: World) -> None:
    listener = data["efrrowini"]
    response = client.post(
        "/mcp/call",
        json={"tool": "history.top_artists", "args": {"days": None, "start": None, "user_id": None}},
        headers=listener.auth,
    )
    assert response.status_code == 200
    assert response.json()["result"]["window"]["days"] == 90
    no_args = client.post("/mcp/call", json={"tool": "history.top_artists"}, headers=listener.auth)
    assert no_args.json()["result"] == response.json()["result"]


def test_today_is_the_listeners_today(client: TestClient, data: World) -> None:
    """The clock says 2024-12-31 12:00 UTC: already 2025-01-01 in Auckland (UTC+13)."""
    result = client.post(
        "/mcp/call", json={"tool": "history.coverage", "args": {"days": 1}}, headers=data.empty.auth
    ).json()["result"]
    assert result["window"] == {"start": "2025-01-01", "end": "2025-01-01", "days": 1, "timezone": "Pacific/Auckland"}
