"""The MCP Apps views in a real browser: Debian's Chromium, driven by Playwright, loads each view
(the HTML served by MCP resources/read) into a test host page (tests/views/view_host.html) that plays
the host's side of the protocol with a real tool result from the test database (called through
the MCP client), then switches the theme. Asserts the drawn numbers against the result, that the
page made no network request, that the view reports its size and fits 360 px; saves screenshots
under test-output/views/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import World, live_server, world
from test_api_mcp import run

from mcp_api.tools import TOOLS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "the view tests need Chromium: `apt-get install chromium` (Debian; .ci/run installs it)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Frame, Page, sync_playwright  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "views"
HOST_URL = "http://view-host.test/"
HOST_PAGE = (Path(__file__).parent / "view_host.html").read_text(encoding="utf-8")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

LISTENER = "efrrowini"  # extended export 2022-2026, Europe/Berlin
CALLS: dict[str, dict[str, Any]] = {
    "history.listening_heatmap": {"start": "2024-01-01", "end": "2024-12-31"},
    "history.top_artists": {"start": "2024-01-01", "end": "2024-12-31", "limit": 10},
    "history.top_tracks": {"start": "2024-01-01", "end": "2024-12-31", "limit": 10},
    "history.coverage": {"start": "2022-01-01", "end": "2024-12-31", "limit": 8},
    "history.taste_summary": {"start": "2024-01-01", "end": "2024-12-31"},
}


class Call:
    def __init__(self, tool: str, args: dict[str, Any], result: dict[str, Any], html: str) -> None:
        self.tool, self.args, self.result, self.html = tool, args, result, html

    @property
    def data(self) -> dict[str, Any]:
        return self.result["structuredContent"]  # type: ignore[no-any-return]

    @property
    def view(self) -> str:
        return TOOLS[self.tool].view.name  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def calls(home: Path) -> dict[str, Call]:
    """Each tool called once through the MCP client, and each view read by resources/read."""
    data: World = world()

    async def work(session: Any) -> dict[str, Call]:
        out = {}
        for tool, args in CALLS.items():
            result = await session.call_tool(tool, args)
            assert result.is_error is False, result.content
            read = await session.read_resource(TOOLS[tool].view.uri)  # type: ignore[union-attr]
            dumped = result.model_dump(mode="json", by_alias=True, exclude_none=True)
            out[tool] = Call(tool, args, dumped, read.contents[0].text)
        return out

    with live_server() as base:
        return run(base, data[LISTENER].key, work)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def browser(calls: dict[str, Call]) -> Iterator[Browser]:
    # Requests `calls` so that the MCP client's asyncio.run is over before Playwright's loop starts.
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Host:
    """The harness page in one browser tab, with every request and console message recorded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests: list[str] = []
        self.console: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.console.append(m.text))
        page.route("**/*", self._route)
        page.goto(HOST_URL)

    def _route(self, route: Any) -> None:
        if route.request.url == HOST_URL:
            route.fulfill(status=200, content_type="text/html", body=HOST_PAGE)
        else:
            route.abort()

    def show(self, call: Call, result: dict[str, Any] | None = None, width: int = 600, theme: str = "light") -> Frame:
        self.page.evaluate(
            "([html, tool, input, result, width, theme]) => showView(html, tool, input, result, width, theme)",
            [call.html, call.tool, call.args, result or call.result, width, theme],
        )
        # showView cleared hostLog: `initialized` comes from the new document (the old one, or the
        # iframe's first about:blank, must not be mistaken for it), then wait for it to draw.
        self.page.wait_for_function("hostLog.some(m => m.method === 'ui/notifications/initialized')")
        self.page.frame_locator("#view").locator("body[data-view]:not([data-state=waiting])").wait_for()
        frame = self.page.query_selector("#view").content_frame()  # type: ignore[union-attr]
        assert frame is not None
        return frame

    def settle_size(self, frame: Frame) -> int:
        """Wait until the host has sized the iframe to the view's height (from size-changed)."""
        height = int(frame.evaluate("Math.ceil(document.body.getBoundingClientRect().height)"))
        self.page.wait_for_function(f"document.getElementById('view').style.height === '{height}px'")
        return height

    def outside_requests(self) -> list[str]:
        return [u for u in self.requests if u != HOST_URL]


@pytest.fixture
def host(browser: Browser) -> Iterator[Host]:
    page = browser.new_page(viewport={"width": 640, "height": 900})
    try:
        yield Host(page)
    finally:
        page.close()


def luminance(css_color: str) -> float:
    r, g, b = (int(x) for x in re.findall(r"\d+", css_color)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def number(text: str) -> float:
    found = re.search(r"-?[\d,]+(?:\.\d+)?", text)
    assert found, text
    return float(found.group(0).replace(",", ""))


# -- what each view must draw ------------------------------------------------------------------------


def check_heatmap(frame: Frame, data: dict[str, Any]) -> None:
    cells = frame.eval_on_selector_all(
        "td[data-plays]",
        "els => els.map(e => [+e.dataset.weekday, +e.dataset.hour, +e.dataset.plays, e.classList.contains('peak'),"
        " e.textContent])",
    )
    assert len(cells) == 168
    assert {(w, h): p for w, h, p, _, _ in cells} == {(c["weekday"], c["hour"]): c["plays"] for c in data["cells"]}
    assert all(number(text) == plays for _, _, plays, _, text in cells)  # the count, readable as text
    peak = data["peak"]
    assert peak is not None and peak["plays"] > 0
    assert [(w, h, p) for w, h, p, is_peak, _ in cells if is_peak] == [(peak["weekday"], peak["hour"], peak["plays"])]
    assert data["timezone"] in frame.inner_text("body")
    assert number(frame.inner_text("[data-stat=total_plays] b")) == data["total_plays"]
    frame.hover("td.peak")  # hover (or tap) tells the count
    assert f"{peak['plays']:,} plays" in frame.inner_text(".detail")


def check_bars(frame: Frame, data: dict[str, Any], name_key: str) -> None:
    items = frame.eval_on_selector_all(
        "ol.bars > li",
        "els => els.map(e => ({name: e.querySelector('.name').textContent, value: e.querySelector('.value')"
        ".textContent, plays: +e.dataset.plays, share: e.querySelector('.share').textContent, title: e.title,"
        " width: parseFloat(e.querySelector('.bar span').style.width)}))",
    )
    expected = data["items"]
    assert len(items) == len(expected) > 0
    for drawn, item in zip(items, expected, strict=True):
        assert drawn["name"] == item[name_key]
        assert drawn["value"] == f"{item['plays']:,} plays"  # the bar's label
        share = item.get("share", item["plays"] / data["total_plays"])
        assert abs(number(drawn["share"]) - 100 * share) <= 0.051
        assert abs(number(drawn["title"].split(" · ")[1]) - item["minutes"]) <= 0.051  # minutes on hover
        assert abs(drawn["width"] - 100 * item["plays"] / expected[0]["plays"]) < 0.01
    assert items[0]["width"] == 100
    assert number(frame.inner_text("[data-stat=total_plays] b")) == data["total_plays"]
    window = data["window"]
    assert f"{window['start']} – {window['end']}" in frame.inner_text(".window")


def check_coverage(frame: Frame, data: dict[str, Any]) -> None:
    gaps = frame.eval_on_selector_all(
        ".gap-list li", "els => els.map(e => [e.dataset.start, e.dataset.end, +e.dataset.days, e.textContent])"
    )
    assert data["gaps"], "pick a window with gaps"
    assert [(s, e, d) for s, e, d, _ in gaps] == [(g["start"], g["end"], g["days"]) for g in data["gaps"]]
    assert all(s in text and f"{d} day" in text for s, _, d, text in gaps)
    assert frame.locator(".lane.gaps .span").count() == len(data["gaps"])  # drawn on the timeline too
    lanes = frame.eval_on_selector_all(
        ".lane[data-source]", "els => els.map(e => [e.dataset.source, +e.dataset.plays])"
    )
    assert dict(lanes) == {k: v["plays"] for k, v in data["by_source"].items()}
    with_plays = [k for k, v in data["by_source"].items() if v["plays"]]
    assert frame.locator(".lane[data-source] .span").count() == len(with_plays) > 0
    assert frame.get_attribute("[data-stat=days_with_plays]", "data-value") == str(data["days_with_plays"])
    if data["gap_count"] > len(data["gaps"]):
        assert f"{data['gap_count'] - len(data['gaps']):,} shorter gaps" in frame.inner_text("body")


def check_taste(frame: Frame, data: dict[str, Any]) -> None:
    def stat(key: str) -> str:
        return frame.inner_text(f"[data-stat={key}] b")

    assert number(stat("plays")) == data["plays"] > 0
    assert number(stat("unique_artists")) == data["unique_artists"]
    assert number(stat("unique_tracks")) == data["unique_tracks"]
    minutes = stat("minutes")
    assert abs(number(minutes) - (data["minutes"] / 60 if minutes.endswith(" h") else data["minutes"])) <= 0.051
    assert abs(number(stat("repeat_rate")) - 100 * data["repeat_rate"]) <= 0.051
    weekday = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"][data["peak_weekday"] - 1]
    assert stat("peak") == f"{weekday[:3]} {data['peak_hour']:02d}:00"
    lists = frame.eval_on_selector_all(
        "ol.top",
        "els => els.map(ol => [...ol.querySelectorAll('li')].map(li => li.querySelector('.name').textContent))",
    )
    assert lists == [[a["artist"] for a in data["top_artists"][:5]], [t["track"] for t in data["top_tracks"][:5]]]
    mix = frame.eval_on_selector_all(".mix-legend li", "els => els.map(e => [e.dataset.content, +e.dataset.minutes])")
    assert dict(mix) == {k: v for k, v in data["minutes_by_content"].items() if v > 0}


CHECKS = {
    "history.listening_heatmap": check_heatmap,
    "history.top_artists": lambda f, d: check_bars(f, d, "artist"),
    "history.top_tracks": lambda f, d: check_bars(f, d, "track"),
    "history.coverage": check_coverage,
    "history.taste_summary": check_taste,
}


@pytest.mark.parametrize("tool", list(CALLS))
def test_view_draws_the_tool_result(tool: str, host: Host, calls: dict[str, Call]) -> None:
    call = calls[tool]
    frame = host.show(call)
    assert frame.get_attribute("body", "data-state") == "ready", frame.inner_text("body")
    CHECKS[tool](frame, call.data)

    # The protocol: initialize first, initialized after the host's answer, sizes reported.
    log = host.page.evaluate("hostLog")
    methods = [m.get("method") for m in log]
    assert methods[:2] == ["ui/initialize", "ui/notifications/initialized"]
    assert log[0]["params"]["protocolVersion"] == "2026-01-26"
    assert "ui/notifications/size-changed" in methods
    height = host.settle_size(frame)
    assert height > 150

    # Light, then the host switches to dark.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert frame.get_attribute("html", "data-theme") == "light"
    light = frame.evaluate("getComputedStyle(document.body).backgroundColor")
    assert luminance(light) > 0.8
    host.page.locator("#view").screenshot(path=SCREENSHOTS / f"{call.view}-light.png")
    host.page.evaluate("setTheme('dark')")
    frame.wait_for_selector("html[data-theme=dark]")
    dark = frame.evaluate("getComputedStyle(document.body).backgroundColor")
    assert luminance(dark) < 0.2
    text_color = frame.evaluate("getComputedStyle(document.body).color")
    assert luminance(text_color) > 0.8
    host.page.locator("#view").screenshot(path=SCREENSHOTS / f"{call.view}-dark.png")

    # Readable at 360 px: nothing wider than the frame.
    narrow = host.show(call, width=360)
    CHECKS[tool](narrow, call.data)
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 360
    host.settle_size(narrow)
    host.page.locator("#view").screenshot(path=SCREENSHOTS / f"{call.view}-360.png")

    assert host.outside_requests() == []
    assert not [m for m in host.console if "Content Security Policy" in m]


def test_views_tolerate_extra_fields_and_show_the_note(host: Host, calls: dict[str, Call]) -> None:
    for tool, call in calls.items():
        data = {
            **call.data,
            "note": f"Only part of this window is stored ({tool}).",
            "history": {"first_play": "2022-01-01T00:00:00Z", "last_play": "2024-12-31T00:00:00Z", "plays": 1},
        }
        if "items" in data:
            data["items"] = [
                {**i, "releases": 2, "track_uri": None, "album": f"Album {n}"} for n, i in enumerate(data["items"])
            ]
        frame = host.show(call, result={**call.result, "structuredContent": data})
        assert frame.get_attribute("body", "data-state") == "ready", (tool, frame.inner_text("body"))
        assert frame.inner_text("[role=note]") == data["note"]
        CHECKS[tool](frame, data)
        if tool == "history.top_tracks":  # the album of the most played release, when the result has it
            assert frame.inner_text("ol.bars > li:first-child .by") == f" · {data['items'][0]['artist']} · Album 0"
    assert host.outside_requests() == []


def test_a_tool_error_is_shown(host: Host, calls: dict[str, Call]) -> None:
    call = calls["history.top_artists"]
    error = {"content": [{"type": "text", "text": "limit: must be at most 50"}], "isError": True}
    frame = host.show(call, result=error)
    assert frame.get_attribute("body", "data-state") == "error"
    assert frame.inner_text("[role=alert]") == "limit: must be at most 50"


def test_text_only_results_still_draw(host: Host, calls: dict[str, Call]) -> None:
    """Hosts that pass only the text content: it is the same JSON, so the view draws from it."""
    call = calls["history.listening_heatmap"]
    frame = host.show(call, result={"content": call.result["content"]})
    check_heatmap(frame, call.data)


def test_host_style_variables_are_applied(host: Host, calls: dict[str, Call]) -> None:
    """The host's style variables win over the view's defaults; one that would load a file is ignored."""
    frame = host.show(calls["history.top_artists"])
    host.page.evaluate(
        "setContext({styles: {variables: {'--color-background-primary': 'rgb(250, 240, 230)',"
        " '--font-sans': 'x, url(fonts.test/x.woff2)'}}})"
    )
    frame.wait_for_function("getComputedStyle(document.body).backgroundColor === 'rgb(250, 240, 230)'")
    assert "url" not in frame.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--font-sans')")
    assert host.outside_requests() == []
