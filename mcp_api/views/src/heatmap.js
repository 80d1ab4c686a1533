// history.listening_heatmap: the 7 × 24 grid as a real table (readable by screen readers as data),
// coloured by plays, the peak outlined; hover, focus or tap a cell for its count.
function level(plays, max) {
  return plays > 0 && max > 0 ? 0.15 + 0.85 * (plays / max) : 0;
}

function drawHeatmap(data) {
  const cells = new Map((data.cells || []).map((c) => [c.weekday * 100 + c.hour, c.plays]));
  const max = Math.max(0, ...cells.values());
  const peak = data.peak;
  const detail = h("p", { class: "detail", "aria-live": "polite" }, "Hover or tap a cell for its plays.");
  const describe = (day, hour, plays) => `${WEEKDAYS[day]} ${fmt.hour(hour)}–${fmt.hour((hour + 1) % 24)}: ${fmt.plays(plays)}`;

  const head = h("tr", {}, h("td", { class: "corner" }), Array.from({ length: 24 }, (_, hour) =>
    h("th", { scope: "col", abbr: fmt.hour(hour) }, hour % 3 === 0 ? String(hour) : h("span", { class: "sr" }, String(hour)))));
  const rows = [1, 2, 3, 4, 5, 6, 7].map((day) => h("tr", {},
    h("th", { scope: "row", abbr: WEEKDAYS[day] }, WEEKDAYS[day].slice(0, 3)),
    Array.from({ length: 24 }, (_, hour) => {
      const plays = cells.get(day * 100 + hour) || 0;
      const isPeak = peak && peak.weekday === day && peak.hour === hour;
      return h("td", {
        class: isPeak ? "peak" : null, tabindex: "-1", title: describe(day, hour, plays) + (isPeak ? " (peak)" : ""),
        "data-weekday": day, "data-hour": hour, "data-plays": plays, style: { "--level": level(plays, max).toFixed(3) },
      }, h("span", { class: "sr" }, fmt.plays(plays) + (isPeak ? ", the peak" : "")));
    })));
  const table = h("table", { class: "heat" },
    h("caption", { class: "sr" }, `Plays per weekday (rows) and local hour (columns), ${data.timezone}`),
    h("thead", {}, head), h("tbody", {}, rows));
  const pick = (event) => {
    const td = event.target.closest("td[data-plays]");
    if (td) detail.textContent = td.title;
  };
  table.addEventListener("pointerover", pick);
  table.addEventListener("click", pick);
  table.addEventListener("focusin", pick);

  const legend = h("div", { class: "legend", "aria-hidden": "true" }, "0",
    [0, 0.15, 0.43, 0.72, 1].map((l) => h("i", { style: { "--level": String(l) } })), "max " + fmt.plays(max));
  return [
    ...header("When you listen", data),
    h("div", { class: "stats" },
      stat("total_plays", fmt.int(data.total_plays), "plays", data.total_plays),
      stat("peak", peak ? `${WEEKDAYS[peak.weekday].slice(0, 3)} ${fmt.hour(peak.hour)}` : "–",
        peak ? `peak · ${fmt.plays(peak.plays)}` : "no plays", peak ? `${peak.weekday}-${peak.hour}` : "")),
    table, detail, legend,
  ];
}

View.start(drawHeatmap);
