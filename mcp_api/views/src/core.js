// The view's side of the MCP Apps protocol (io.modelcontextprotocol/ui, 2026-01-26), spoken
// directly over postMessage JSON-RPC: ui/initialize -> ui/notifications/initialized, then the
// host's tool-input, tool-result and host-context-changed; size-changed back when the page grows.
const View = (() => {
  const PROTOCOL_VERSION = "2026-01-26";
  const root = document.documentElement;
  const main = document.getElementById("view");
  const pending = new Map();
  let nextId = 1;
  let draw = null;
  let input = {};
  let context = {};
  let lastSize = "";

  const post = (message) => window.parent.postMessage({ jsonrpc: "2.0", ...message }, "*");
  const notify = (method, params) => post({ method, params });
  function request(method, params) {
    const id = nextId++;
    post({ id, method, params });
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }

  function applyContext(changed) {
    context = { ...context, ...changed };
    if (changed.theme === "light" || changed.theme === "dark") {
      root.dataset.theme = changed.theme;
      root.style.colorScheme = changed.theme;
    }
    const variables = (changed.styles && changed.styles.variables) || {};
    for (const [name, value] of Object.entries(variables)) {
      // Host fonts and any value that would load a file are left out: the view loads nothing.
      if (name.startsWith("--") && typeof value === "string" && !/url\s*[(]/i.test(value)) {
        root.style.setProperty(name, value);
      }
    }
    const dims = changed.containerDimensions;
    if (dims && dims.maxWidth) root.style.maxWidth = dims.maxWidth + "px";
  }

  function reportSize() {
    const width = Math.ceil(window.innerWidth);
    const height = Math.ceil(document.body.getBoundingClientRect().height);
    const size = width + "x" + height;
    if (size !== lastSize) {
      lastSize = size;
      notify("ui/notifications/size-changed", { width, height });
    }
  }

  function show(nodes, state) {
    main.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
    document.body.dataset.state = state;
  }

  function message(text, isError) {
    show([h("p", { class: isError ? "message error" : "message", role: isError ? "alert" : "status" }, text)],
      isError ? "error" : "waiting");
  }

  function resultData(result) {
    if (result.structuredContent && typeof result.structuredContent === "object") return result.structuredContent;
    // Hosts that drop structuredContent still pass the text, which is the same JSON.
    for (const block of result.content || []) {
      if (block && block.type === "text") {
        try { return JSON.parse(block.text); } catch (e) { /* not JSON */ }
      }
    }
    return null;
  }

  function onResult(result) {
    const data = resultData(result || {});
    if (result.isError || !data) {
      const text = ((result.content || []).find((b) => b && b.type === "text") || {}).text;
      message(text || "The tool returned no data to draw.", true);
      return;
    }
    try {
      show(draw(data, input, context), "ready");
    } catch (err) {
      message("Could not draw this answer: " + err.message, true);
    }
  }

  function onMessage(event) {
    if (event.source !== window.parent) return;
    const m = event.data;
    if (!m || m.jsonrpc !== "2.0") return;
    if (m.method === undefined) {
      const waiting = pending.get(m.id);
      if (waiting) {
        pending.delete(m.id);
        if (m.error) waiting.reject(m.error); else waiting.resolve(m.result);
      }
      return;
    }
    const params = m.params || {};
    switch (m.method) {
      case "ui/notifications/tool-input": input = params.arguments || {}; break;
      case "ui/notifications/tool-result": onResult(params); break;
      case "ui/notifications/host-context-changed": applyContext(params); break;
      case "ui/notifications/tool-cancelled": message("The tool call was cancelled.", true); break;
      case "ui/resource-teardown": case "ping": post({ id: m.id, result: {} }); break;
      default:
        if (m.id !== undefined) post({ id: m.id, error: { code: -32601, message: "Method not found" } });
    }
  }

  function start(drawFn) {
    draw = drawFn;
    window.addEventListener("message", onMessage);
    request("ui/initialize", {
      appInfo: { name: "spotify-history/" + document.body.dataset.view, version: "1.0.0" },
      appCapabilities: { availableDisplayModes: ["inline"] },
      protocolVersion: PROTOCOL_VERSION,
    }).then((result) => {
      applyContext((result && result.hostContext) || {});
      notify("ui/notifications/initialized", {});
      // Sizes are reported from now on (the observer fires once at the start), as the reference App client does.
      new ResizeObserver(reportSize).observe(document.body);
    }, (error) => message("The host refused to connect: " + (error.message || error), true));
  }

  return { start, locale: () => context.locale || undefined };
})();

// h("p", {class: "x", title: "…"}, "text", child…): elements from data without innerHTML, so names
// from the history can never become markup.
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "style") {
      for (const [prop, v] of Object.entries(value)) node.style.setProperty(prop.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()), v);
    }
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const WEEKDAYS = ["", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const fmt = {
  int: (n) => Number(n || 0).toLocaleString(View.locale(), { maximumFractionDigits: 0 }),
  dec: (n, digits) => Number(n || 0).toLocaleString(View.locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }),
  pct: (x) => fmt.dec((x || 0) * 100, 1) + "%",
  minutes: (m) => (m >= 600 ? fmt.dec(m / 60, 1) + " h" : fmt.dec(m, 1) + " min"),
  plays: (n) => fmt.int(n) + (n === 1 ? " play" : " plays"),
  hour: (hour) => String(hour).padStart(2, "0") + ":00",
  name: (s) => (s === null || s === undefined || s === "" ? "(unknown)" : String(s)),
};

// The heading every view starts with: title, the window named, and the tool's note if it has one.
function header(title, data) {
  const w = data.window || {};
  const zone = w.timezone || data.timezone;
  const span = w.start ? `${w.start} – ${w.end} · ${fmt.int(w.days)} ${w.days === 1 ? "day" : "days"}` : "";
  return [
    h("h1", {}, title),
    h("p", { class: "window" }, [span, zone ? `time zone ${zone}` : ""].filter(Boolean).join(" · ")),
    data.note ? h("p", { class: "note", role: "note" }, String(data.note)) : null,
  ];
}

function stat(key, value, label, raw) {
  return h("div", { class: "stat", "data-stat": key, "data-value": raw }, h("b", {}, value), h("span", {}, label));
}
