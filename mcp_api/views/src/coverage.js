// history.coverage: a timeline of the window with one lane per source (its first to last play) and
// a lane of the gaps (runs of days without plays), the gaps also listed.
const SOURCE_NAMES = { extended: "Extended export", account: "Account export", api: "Spotify API" };
const DAY_MS = 86400000;
const dayNumber = (iso) => Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10)) / DAY_MS;

function localDate(timestamp, zone) {
  try {
    // en-CA formats as YYYY-MM-DD.
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
      .format(new Date(timestamp));
  } catch (e) {
    return String(timestamp).slice(0, 10);
  }
}

function drawCoverage(data) {
  const w = data.window;
  const first = dayNumber(w.start);
  const days = Math.max(1, data.days_in_window || w.days);
  const place = (startIso, endIso) => {
    const from = Math.max(0, dayNumber(startIso) - first);
    const to = Math.min(days, dayNumber(endIso) - first + 1);
    return { left: (100 * from / days).toFixed(3) + "%", width: (100 * Math.max(0, to - from) / days).toFixed(3) + "%" };
  };
  const lanes = Object.entries(data.by_source || {}).map(([source, s]) => {
    const name = SOURCE_NAMES[source] || source;
    const span = s.first_play ? [localDate(s.first_play, w.timezone), localDate(s.last_play, w.timezone)] : null;
    return h("div", { class: "lane", "data-source": source, "data-plays": s.plays, "data-days": s.days_with_plays },
      h("div", { class: "what" }, h("b", {}, name),
        h("span", { class: "muted" }, s.plays ? `${fmt.plays(s.plays)} on ${fmt.int(s.days_with_plays)} days` +
          (span ? ` · ${span[0]} – ${span[1]}` : "") : "no plays")),
      h("div", { class: "track", role: "img", "aria-label": span ? `${name}: plays from ${span[0]} to ${span[1]}` : `${name}: no plays` },
        span ? h("div", { class: "span", style: place(span[0], span[1]) }) : null));
  });
  const gaps = data.gaps || [];
  const gapLane = h("div", { class: "lane gaps" },
    h("div", { class: "what" }, h("b", {}, "Gaps"),
      h("span", { class: "muted" }, `${fmt.int(data.gap_count)} runs · ${fmt.int(data.gap_days)} days without plays`)),
    h("div", { class: "track", role: "img", "aria-label": `${fmt.int(gaps.length)} longest gaps drawn` },
      gaps.map((g) => h("div", { class: "span", title: `${g.start} – ${g.end}: ${g.days} days`, style: place(g.start, g.end) }))));
  const unlisted = (data.gap_count || 0) - gaps.length;
  const poll = data.last_successful_poll;
  return [
    ...header("How complete the history is", data),
    h("div", { class: "stats" },
      stat("days_with_plays", `${fmt.int(data.days_with_plays)} / ${fmt.int(data.days_in_window)}`, "days with plays", data.days_with_plays),
      stat("plays", fmt.int(data.plays), "plays", data.plays),
      stat("gap_days", fmt.int(data.gap_days), "days in gaps", data.gap_days)),
    h("div", { class: "timeline" }, lanes, gapLane, h("div", { class: "axis", "aria-hidden": "true" }, h("span", {}, w.start), h("span", {}, w.end))),
    h("h2", {}, gaps.length ? (unlisted > 0 ? `The ${gaps.length} longest gaps` : "Gaps") : "Gaps"),
    gaps.length
      ? h("ol", { class: "gap-list" }, gaps.map((g) => h("li", { "data-start": g.start, "data-end": g.end, "data-days": g.days },
        g.start === g.end ? g.start : `${g.start} – ${g.end}`, h("span", { class: "muted" }, ` · ${g.days} ${g.days === 1 ? "day" : "days"}`))))
      : h("p", { class: "muted" }, "No gaps: every day of the window has plays."),
    unlisted > 0 ? h("p", { class: "muted" }, `…and ${fmt.int(unlisted)} shorter gaps not listed.`) : null,
    h("p", { class: "muted" }, poll ? `Last successful poll of Spotify: ${localDate(poll, w.timezone)}` : "Spotify's API has not been polled for this listener."),
  ];
}

View.start(drawCoverage);
