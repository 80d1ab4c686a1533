// history.top_artists
View.start((data) => drawBars("Top artists", data, data.items || [], (item) => [fmt.name(item.artist), null],
  "artists", data.unique_artists));
