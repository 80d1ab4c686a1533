// Ranked horizontal bars, shared by top artists and top tracks: the bar is plays against the top
// item, the label says plays; share of all plays and (on hover or tap) minutes below it.
function drawBars(title, data, items, describe, uniqueLabel, uniqueCount) {
  const total = data.total_plays || 0;
  const top = Math.max(1, ...items.map((i) => i.plays || 0));
  const list = h("ol", { class: "bars", "aria-label": title },
    items.map((item, index) => {
      const share = typeof item.share === "number" ? item.share : (total ? item.plays / total : 0);
      const [name, by] = describe(item);
      const li = h("li", {
        "data-plays": item.plays, "data-minutes": item.minutes, "data-share": share,
        title: `${name}: ${fmt.plays(item.plays)} · ${fmt.minutes(item.minutes)} · ${fmt.pct(share)} of all plays`,
      },
        h("div", { class: "row" },
          h("span", { class: "rank" }, String(index + 1)),
          h("span", { class: "label" }, h("span", { class: "name" }, name), by ? h("span", { class: "by" }, " · " + by) : null),
          h("span", { class: "value" }, fmt.plays(item.plays))),
        h("div", { class: "bar", "aria-hidden": "true" }, h("span", { style: { width: (100 * item.plays / top).toFixed(2) + "%" } })),
        h("div", { class: "more" },
          h("span", { class: "share" }, fmt.pct(share) + " of all plays"),
          h("span", { class: "minutes" }, " · " + fmt.minutes(item.minutes))));
      li.addEventListener("click", () => li.classList.toggle("open"));
      return li;
    }));
  return [
    ...header(title, data),
    h("div", { class: "stats" },
      stat("total_plays", fmt.int(total), "plays in the window", total),
      stat("unique", fmt.int(uniqueCount), uniqueLabel, uniqueCount)),
    items.length ? list : h("p", { class: "message" }, "No plays in this window."),
  ];
}
