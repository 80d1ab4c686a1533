// history.taste_summary: a compact card of the window.
function topList(label, items, describe) {
  return h("section", {},
    h("h2", {}, label),
    items.length
      ? h("ol", { class: "top" }, items.slice(0, 5).map((item) => {
        const [name, by] = describe(item);
        return h("li", { "data-plays": item.plays }, h("span", { class: "name" }, name), by ? h("span", { class: "by" }, " · " + by) : null,
          h("span", { class: "plays" }, " · " + fmt.plays(item.plays)));
      }))
      : h("p", { class: "muted" }, "No plays in this window."));
}

function drawTaste(data) {
  const mix = Object.entries(data.minutes_by_content || {}).filter(([, m]) => m > 0).sort((a, b) => b[1] - a[1]);
  const mixTotal = mix.reduce((sum, [, m]) => sum + m, 0);
  const peak = data.peak_weekday ? `${WEEKDAYS[data.peak_weekday].slice(0, 3)} ${data.peak_hour === null ? "" : fmt.hour(data.peak_hour)}` : "–";
  return [
    ...header("Your listening", data),
    h("div", { class: "stats" },
      stat("plays", fmt.int(data.plays), "plays", data.plays),
      stat("minutes", fmt.minutes(data.minutes), "in plays", data.minutes),
      stat("unique_artists", fmt.int(data.unique_artists), "artists", data.unique_artists),
      stat("unique_tracks", fmt.int(data.unique_tracks), "tracks", data.unique_tracks),
      stat("repeat_rate", data.repeat_rate === null ? "–" : fmt.pct(data.repeat_rate), "repeat rate", data.repeat_rate ?? ""),
      stat("peak", peak, "peak day and hour", `${data.peak_weekday ?? ""}-${data.peak_hour ?? ""}`),
      stat("days_with_plays", `${fmt.int(data.days_with_plays)} / ${fmt.int(data.days_in_window)}`, "days with plays", data.days_with_plays)),
    h("div", { class: "cols" },
      topList("Top artists", data.top_artists || [], (a) => [fmt.name(a.artist), null]),
      topList("Top tracks", data.top_tracks || [], (t) => [fmt.name(t.track), fmt.name(t.artist)])),
    h("h2", {}, "Content mix (all streams)"),
    mix.length
      ? [
        h("div", { class: "mix", role: "img", "aria-label": mix.map(([k, m]) => `${k} ${fmt.pct(m / mixTotal)}`).join(", ") },
          mix.map(([kind, m], i) => h("span", { class: "c" + Math.min(i, 4), title: `${kind}: ${fmt.minutes(m)}`, style: { width: (100 * m / mixTotal).toFixed(2) + "%" } }))),
        h("ul", { class: "mix-legend" }, mix.map(([kind, m], i) => h("li", { "data-content": kind, "data-minutes": m },
          h("i", { class: "c" + Math.min(i, 4) }), `${kind} ${fmt.minutes(m)} (${fmt.pct(m / mixTotal)})`))),
      ]
      : h("p", { class: "muted" }, "Nothing listened in this window."),
    (data.top_shows || []).length
      ? h("p", { class: "muted" }, "Top podcasts: " + data.top_shows.slice(0, 3).map((s) => `${fmt.name(s.show)} (${fmt.minutes(s.minutes)})`).join(", "))
      : null,
  ];
}

View.start(drawTaste);
