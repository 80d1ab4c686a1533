// history.top_tracks (items may carry more, e.g. the album of the most played release: shown when present)
View.start((data) => drawBars("Top tracks", data, data.items || [],
  (item) => [fmt.name(item.track), [fmt.name(item.artist), item.album].filter(Boolean).join(" · ")],
  "tracks", data.unique_tracks));
