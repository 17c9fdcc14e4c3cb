// The Ferris console: packages, runs, step output (live while a step runs; where each secret came from), Run
// with the package's parameters form and rerun, events, scripts' secret writes, over the
// server's API as the logged-in user. Text goes into the page with textContent only (never as
// HTML); the token stays in this tab's sessionStorage.

const TERMINAL = new Set(["Succeeded", "Failed", "Cancelled"]);
const STEP_TERMINAL = new Set(["Succeeded", "Failed", "Skipped"]);
const $ = (id) => document.getElementById(id);
let refresh = null;
let following = null; // the AbortController of the step output followed live, stopped at each redraw
let turn = 0; // which route() draws: only the newest (an older one may finish after it)

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function authorization() {
  const token = sessionStorage.getItem("ferris-token");
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), ...authorization() };
  if (options.body !== undefined || options.raw !== undefined) headers["Content-Type"] = "application/json";
  const body = options.raw !== undefined ? options.raw : options.body === undefined ? undefined : JSON.stringify(options.body);
  const response = await fetch(path, { method: options.method, headers, body });
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try { message = JSON.parse(text).error; } catch (e) { /* plain text */ }
    throw new ApiError(response.status, message);
  }
  return response.headers.get("Content-Type")?.startsWith("application/json") ? JSON.parse(text) : text;
}

const ns = (namespace) => `/api/v1/namespaces/${encodeURIComponent(namespace)}`;

function show(...nodes) {
  if (refresh) { clearTimeout(refresh); refresh = null; }
  if (following) { following.abort(); following = null; }
  $("login").hidden = true;
  $("view").replaceChildren(...nodes);
  requestAnimationFrame(() => setTimeout(scrollable));  // after the first paint: measuring forces a layout
}

function failed(error) {
  if (error.status === 401) {
    sessionStorage.removeItem("ferris-token");
    $("view").replaceChildren();
    $("login").hidden = false;
    return;
  }
  show(el("p", { class: "error", id: "error", text: error.message }));
}

function ago(iso) {
  // "3 min ago" or "in 2 h", with the absolute time (UTC) on hover and for screen readers' details.
  if (!iso) return el("span", { text: "" });
  const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const size = Math.abs(seconds);
  const [n, unit] = size < 60 ? [size, "s"] : size < 3600 ? [Math.round(size / 60), "min"]
    : size < 172800 ? [Math.round(size / 3600), "h"] : [Math.round(size / 86400), "days"];
  return el("time", { datetime: iso, title: iso, text: seconds > 0 ? `in ${n} ${unit}` : `${n} ${unit} ago` });
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  // SVG built from elements and text nodes only, as el() does for HTML: names never become markup.
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

const seconds = (from, to) => (Date.parse(to) - Date.parse(from)) / 1000;

function duration(total) {
  if (total === null || total === undefined || Number.isNaN(total)) return "—";
  if (total < 60) return `${total.toFixed(total < 10 ? 1 : 0)} s`;
  if (total < 3600) return `${Math.floor(total / 60)} min ${Math.round(total % 60)} s`;
  return `${Math.floor(total / 3600)} h ${Math.round((total % 3600) / 60)} min`;
}

function timeline(run) {
  // One bar per step from its start to its end (now, while it runs), after the time the run waited
  // for its pod; the scale is the run's whole life.
  const now = new Date().toISOString();
  const start = run.createdAt;
  const end = run.finishedAt || now;
  const total = Math.max(seconds(start, end), 0.001);
  const firstStep = run.steps.map((s) => s.startedAt).filter(Boolean).sort()[0];
  const bars = [{ label: "waiting for its pod", phase: "Waiting", from: start, to: firstStep || run.startedAt || end }];
  for (const step of run.steps) {
    if (step.startedAt) bars.push({ label: `${step.index + 1}: ${step.name}`, phase: step.phase, from: step.startedAt, to: step.finishedAt || end });
    else bars.push({ label: `${step.index + 1}: ${step.name}`, phase: step.phase, from: null, to: null });
  }
  const width = 720, label = 220, row = 26, scale = (width - label - 90) / total;
  const picture = svg("svg", { id: "timeline", class: "timeline", viewBox: `0 0 ${width} ${bars.length * row + 8}`, role: "img",
    "aria-label": `Timeline of run ${run.name}: ${bars.map((b) => `${b.label} ${b.from ? duration(seconds(b.from, b.to)) : b.phase}`).join("; ")}` });
  bars.forEach((bar, i) => {
    const y = i * row + 4;
    picture.append(svg("text", { x: 0, y: y + 15, class: "bar-label", text: bar.label.length > 30 ? `${bar.label.slice(0, 29)}…` : bar.label }));
    if (!bar.from) {
      picture.append(svg("text", { x: label, y: y + 15, class: "bar-note", text: bar.phase }));
      return;
    }
    const x = label + seconds(start, bar.from) * scale;
    const w = Math.max(seconds(bar.from, bar.to) * scale, 2);
    picture.append(svg("rect", { x, y, width: w, height: row - 8, rx: 3, class: `bar bar-${bar.phase}`, "data-step": bar.label },
      svg("title", { text: `${bar.label}: ${bar.phase}, ${duration(seconds(bar.from, bar.to))} (from ${bar.from})` })));
    picture.append(svg("text", { x: x + w + 6, y: y + 15, class: "bar-note", text: duration(seconds(bar.from, bar.to)) }));
  });
  return picture;
}

function quantile(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function durationsChart(runs) {
  // The last runs oldest to newest: a bar per run, its height the run's duration, its colour its outcome.
  const ended = runs.filter((r) => r.finishedAt && r.startedAt).reverse();
  const times = ended.map((r) => Math.max(seconds(r.startedAt, r.finishedAt), 0));
  const sorted = [...times].sort((a, b) => a - b);
  const succeeded = ended.filter((r) => r.phase === "Succeeded").length;
  const facts = ended.length
    ? `${ended.length} ended runs: ${Math.round((100 * succeeded) / ended.length)}% succeeded · p50 ${duration(quantile(sorted, 0.5))} · p95 ${duration(quantile(sorted, 0.95))}`
    : "No run has ended yet.";
  const width = 720, height = 120, most = Math.max(...times, 0.001), step = ended.length ? Math.min((width - 20) / ended.length, 28) : 0;
  const picture = svg("svg", { id: "durations", class: "durations", viewBox: `0 0 ${width} ${height + 6}`, role: "img",
    "aria-label": `Durations of the last runs, oldest first. ${facts}` });
  ended.forEach((r, i) => {
    const h = Math.max((times[i] / most) * height, 2);
    picture.append(svg("rect", { x: 10 + i * step, y: height - h + 2, width: Math.max(step - 2, 1), height: h,
      class: `bar bar-${r.phase}`, "data-run": r.name }, svg("title", { text: `${r.name}: ${r.phase}, ${duration(times[i])}` })));
  });
  return [el("p", { id: "durations-facts", text: facts }), picture];
}

function chainGraph(chains, namespace) {
  // Packages in columns by how far down a chain they start (a package nothing starts first), each
  // edge a FerrisTrigger; events from elsewhere on the left; a clock badge on scheduled packages.
  const sources = chains.sources.map((name) => ({ id: `events:${name}`, name, kind: "source" }));
  const packages = chains.packages.map((p) => ({ id: `run:${p.name}`, name: p.name, kind: "package", info: p }));
  const anyRun = chains.edges.some((e) => e.fromKind === "run" && e.from === "*")
    ? [{ id: "run:*", name: "any run's end", kind: "source" }] : [];
  const nodes = [...sources, ...anyRun, ...packages];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const edges = chains.edges.map((e) => ({ ...e, source: `${e.fromKind}:${e.from}`, target: `run:${e.to}` }))
    .filter((e) => byId.has(e.source) && byId.has(e.target));
  const depth = new Map(nodes.map((n) => [n.id, n.kind === "source" ? 0 : 1]));
  for (let round = 0; round < nodes.length; round++) {  // longest path, cycles cut after as many rounds as nodes
    let moved = false;
    for (const e of edges) {
      const want = Math.min(depth.get(e.source) + 1, nodes.length);
      if (e.source !== e.target && depth.get(e.target) < want) { depth.set(e.target, want); moved = true; }
    }
    if (!moved) break;
  }
  const columns = new Map();
  for (const n of nodes) {
    const d = depth.get(n.id);
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d).push(n);
  }
  const boxW = 180, boxH = 34, gapX = 90, gapY = 22;
  const order = [...columns.keys()].sort((a, b) => a - b);
  const place = new Map();
  order.forEach((d, ci) => columns.get(d).forEach((n, ri) => place.set(n.id, { x: 10 + ci * (boxW + gapX), y: 10 + ri * (boxH + gapY) })));
  const width = 20 + order.length * (boxW + gapX), height = 20 + Math.max(...[...columns.values()].map((c) => c.length), 1) * (boxH + gapY);
  // A group, not an image: its packages are links a keyboard reaches.
  const picture = svg("svg", { id: "chain-graph", class: "chains", width, height, viewBox: `0 0 ${width} ${height}`, role: "group",
    "aria-label": `Chains of ${namespace}: ${edges.map((e) => `${e.from} starts ${e.to} through ${e.trigger}`).join("; ") || "no triggers"}` },
  svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }))));
  for (const e of edges) {
    const a = place.get(e.source), b = place.get(e.target);
    const x1 = a.x + boxW, y1 = a.y + boxH / 2, x2 = b.x, y2 = b.y + boxH / 2;
    const path = e.source === e.target
      ? `M ${a.x + boxW - 30} ${a.y} C ${a.x + boxW} ${a.y - 30}, ${a.x + boxW + 30} ${a.y}, ${a.x + boxW} ${a.y + 10}`
      : `M ${x1} ${y1} C ${x1 + gapX / 2} ${y1}, ${x2 - gapX / 2} ${y2}, ${x2} ${y2}`;
    picture.append(svg("path", { d: path, class: `edge${e.suspended ? " suspended" : ""}${e.join ? " join" : ""}`, "marker-end": "url(#arrow)",
      "data-trigger": e.trigger, "data-from": e.from, "data-to": e.to },
    svg("title", { text: `${e.trigger}${e.join ? " (join)" : ""}${e.suspended ? " (suspended)" : ""}: ${e.on ? `on ${e.on}, ` : ""}${e.filter}` })));
  }
  for (const n of nodes) {
    const at = place.get(n.id);
    const group = svg("g", { class: `node node-${n.kind}`, "data-node": n.name, transform: `translate(${at.x},${at.y})` });
    const label = n.name.length > 22 ? `${n.name.slice(0, 21)}…` : n.name;
    const box = svg("rect", { width: boxW, height: boxH, rx: n.kind === "source" ? 17 : 5 });
    if (n.kind === "package") {
      const link = svg("a", { href: `#/ns/${encodeURIComponent(namespace)}/packages/${encodeURIComponent(n.name)}` }, box,
        svg("text", { x: 10, y: 22, text: label }), svg("title", { text: n.name }));
      group.append(link);
      if (n.info.crons.length) {
        group.append(svg("g", { class: `clock${n.info.suspended ? " suspended" : ""}`, "data-clock": n.name, transform: `translate(${boxW - 18},17)` },
          svg("circle", { r: 9 }), svg("path", { d: "M 0 -6 L 0 0 L 4 3" }),
          svg("title", { text: `scheduled: ${n.info.crons.join(" | ")}${n.info.suspended ? " (suspended)" : ""}${n.info.nextScheduleTime ? `, next ${n.info.nextScheduleTime}` : ""}` })));
      }
    } else {
      group.append(box, svg("text", { x: 12, y: 22, text: label }), svg("title", { text: n.kind === "source" && n.id.startsWith("events:") ? `events: ${n.name}` : n.name }));
    }
    picture.append(group);
  }
  return picture;
}

function table(headings, rows) {
  // In a box of its own that scrolls sideways when the table is wider than the window.
  return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { text: h })))),
    el("tbody", {}, ...rows)));
}

function scrollable() {
  // A box that scrolls is reached by Tab (and named), so that a keyboard can scroll it too.
  for (const box of document.querySelectorAll("#view .table-wrap, #view .graph")) {
    if (box.scrollWidth > box.clientWidth || box.scrollHeight > box.clientHeight) {
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", box.previousElementSibling?.textContent || "table");
    }
  }
}

async function packagesView(draw, namespace) {
  const [packages, rights] = await Promise.all([api(`${ns(namespace)}/packages`), api(`${ns(namespace)}/permissions`)]);
  const rows = packages.items.map((p) => el("tr", { "data-package": p.name },
    el("td", {}, el("a", { href: `#/ns/${namespace}/packages/${p.name}`, text: p.name })),
    el("td", { text: p.ready ? "Ready" : (p.reason || "not ready") }),
    el("td", { class: "secret-names", text: p.secrets.names.join(", ") || "—" }),
    el("td", { text: p.lastRun?.name || "" }),
    el("td", { class: "next-run", title: p.schedule ? `${p.schedule.crons.join(" | ")} (${p.schedule.timeZone})` : "",
      text: !p.schedule ? "—" : p.schedule.suspend ? "suspended" : (p.schedule.nextScheduleTime || "…") })));
  draw(el("h1", { text: `Packages in ${namespace}` }),
    table(["Package", "Ready", "Secrets (names)", "Last run", "Next run"], rows),
    el("p", { class: "muted", text: rights.createRuns ? "You may start runs here." : "You may read, not start, runs here." }),
    ...(rights.listRuns ? [el("p", {}, el("a", { id: "runs-link", href: `#/ns/${namespace}/runs`, text: "Runs" }),
      " of every package, filtered by phase, trigger and time")] : []),
    ...(rights.listTriggers ? [el("p", {}, el("a", { id: "chains-link", href: `#/ns/${namespace}/chains`, text: "Chains" }),
      ": which package's end starts which, as a graph")] : []),
    ...(rights.listEvents ? [el("p", {}, el("a", { id: "events-link", href: `#/ns/${namespace}/events`, text: "Events" }),
      " sent here, and the runs they started")] : []),
    ...(rights.listSecretWrites ? [el("p", {}, el("a", { id: "secrets-link", href: `#/ns/${namespace}/secrets`,
      text: "Secret writes" }), " by scripts into the project's and the platform's secrets")] : []));
}

async function overviewView(draw, query) {
  // Where am I: the namespaces this user may read (the server asks the cluster, as the user, about
  // each), what runs and waits in them now, what failed lately, and what is scheduled next.
  const remembered = localStorage.getItem("ferris-namespace");
  const asked = new URLSearchParams();
  if (remembered) asked.set("prefer", remembered);
  if (query.get("from")) asked.set("from", query.get("from"));
  const seen = await api(`/api/v1/overview?${asked}`);
  const count = (n) => el("td", { class: "count", text: n === null ? "—" : String(n) });
  const rows = seen.namespaces.map((n) => el("tr", { "data-namespace": n.name },
    el("td", {}, el("a", { href: `#/ns/${encodeURIComponent(n.name)}`, text: n.name })),
    count(n.packages), count(n.running), count(n.queued), count(n.failed), count(n.succeeded)));
  const runRows = (runs, at) => runs.map((r) => el("tr", { "data-run": `${r.namespace}/${r.name}` },
    el("td", { text: r.namespace }),
    el("td", {}, el("a", { href: `#/ns/${encodeURIComponent(r.namespace)}/runs/${encodeURIComponent(r.name)}`, text: r.name })),
    el("td", { text: r.package }), el("td", { class: `phase-${r.phase}`, text: r.phase }),
    el("td", { text: r.reason || "" }), el("td", {}, ago(r[at]))));
  const section = (id, title, runs, at, when) => [el("h2", { text: title }), runs.length
    ? el("div", { id }, table(["Namespace", "Run", "Package", "Phase", "Reason", when], runRows(runs, at)))
    : el("p", { id, class: "muted", text: "None." })];
  const nodes = [el("h1", { text: "Your namespaces" })];
  if (rows.length) {
    nodes.push(el("div", { id: "namespaces" }, table(["Namespace", "Packages", "Running", "Queued", "Failed (24 h)",
      "Succeeded (24 h)"], rows)));
  } else {
    nodes.push(el("p", { id: "namespaces", text: "You may read Ferris objects in none of the namespaces checked. Type a namespace above if you know one." }));
  }
  if (seen.unchecked) {
    nodes.push(el("p", { class: "muted" }, `${seen.unchecked} more namespaces hold Ferris objects and were not checked yet: `,
      el("a", { id: "check-more", href: `#/?from=${seen.next}`, text: "check the next ones" })));
  }
  nodes.push(...section("overview-running", "Running now", seen.running, "startedAt", "Started"),
    ...section("overview-queued", "Queued", seen.queued, "createdAt", "Created"),
    ...section("overview-failed", "Failed in the last 24 hours", seen.failed, "finishedAt", "Ended"),
    el("h2", { text: "Next scheduled runs" }), seen.scheduled.length
      ? el("div", { id: "overview-scheduled" }, table(["Namespace", "Package", "When"], seen.scheduled.map((s) => el("tr", {},
        el("td", { text: s.namespace }),
        el("td", {}, el("a", { href: `#/ns/${encodeURIComponent(s.namespace)}/packages/${encodeURIComponent(s.package)}`, text: s.package })),
        el("td", {}, ago(s.at))))))
      : el("p", { id: "overview-scheduled", class: "muted", text: "None." }));
  draw(...nodes);
}

async function secretWritesView(draw, namespace) {
  const page = await api(`${ns(namespace)}/secretwrites?limit=100`);
  const rows = page.items.map((w) => el("tr", { "data-write": String(w.seq) },
    el("td", { text: w.at || "" }),
    el("td", {}, el("a", { href: `#/ns/${namespace}/runs/${w.run}`, text: w.run })),
    el("td", { text: w.package }), el("td", { class: "scope", text: w.scope }), el("td", { class: "secret-name", text: w.name }),
    el("td", { text: w.version === null ? "—" : String(w.version) }),
    el("td", { class: w.outcome === "written" ? "outcome" : "outcome error", text: w.outcome }),
    el("td", { text: w.outcome === "written" ? "" : w.message })));
  draw(el("h1", { text: `Secret writes in ${namespace}` }),
    table(["Time", "Run", "Package", "Scope", "Name", "Version", "Outcome", "Why"], rows),
    el("p", { class: "muted", text: "Newest first. Names only: values are never shown. A scope's writers decide which packages may write it." }));
}

async function eventsView(draw, namespace) {
  const page = await api(`${ns(namespace)}/events?limit=100`);
  const runLinks = (e) => !e.routed ? [el("span", { class: "muted", text: "not routed yet" })]
    : e.runs.length ? e.runs.flatMap((r, i) => [i ? " " : "", el("a", { class: "event-run", href: `#/ns/${namespace}/runs/${r}`, text: r })])
      : [el("span", { class: "muted", text: "—" })];
  const rows = page.items.map((e) => el("tr", { "data-event": String(e.seq) },
    el("td", { text: String(e.seq) }), el("td", { class: "event-type", text: e.type }),
    el("td", { text: e.source }), el("td", { text: e.sentBy }), el("td", { text: e.receivedAt || "" }),
    el("td", {}, ...runLinks(e)),
    el("td", { class: "error", text: e.refused.map((r) => `${r.trigger}: ${r.reason}`).join("; ") })));
  draw(el("h1", { text: `Events in ${namespace}` }),
    table(["#", "Type", "Source", "Sent by", "Received", "Runs", "Refused"], rows),
    el("p", { class: "muted", text: "Newest first. A run's end is an event too; FerrisTriggers decide which events start runs." }));
}

function paramsForm(pkg) {
  const schema = pkg.paramsSchema || { properties: {} };
  const fields = Object.entries(schema.properties || {});
  const inputs = {};
  const fieldset = el("fieldset", { id: "params-form" }, el("legend", { text: "Parameters" }));
  for (const [name, field] of fields) {
    // A secret param is typed each time, in a password field: its value was never kept.
    const current = field.secret ? undefined : pkg.params?.[name] ?? field.default;
    const widget = field.widget || (field.type === "string" ? (field.enum ? "select" : "text")
      : { integer: "int", number: "float", boolean: "checkbox", array: "multiselect", file: "file" }[field.type]);
    let input;
    // A file param's file is sent with the run (base64), kept encrypted; the run shows its name and size.
    if (widget === "file") input = el("input", { type: "file", name, ...(field.accept ? { accept: field.accept.join(",") } : {}) });
    else if (widget === "textarea") input = el("textarea", { name, rows: "3" });
    else if (widget === "select" || widget === "multiselect") {
      input = el("select", { name, ...(widget === "multiselect" ? { multiple: "" } : {}) },
        ...(field.enum || field.items?.enum || []).map((c) => el("option", { value: String(c), text: String(c) })));
    } else if (widget === "radio") {
      input = el("span", { "data-radio": name }, ...(field.enum || []).map((c) => el("label", {},
        el("input", { type: "radio", name, value: String(c), ...(c === current ? { checked: "" } : {}) }), ` ${c}`)));
    } else if (widget === "checkbox") input = el("input", { type: "checkbox", name, ...(current ? { checked: "" } : {}) });
    else input = el("input", { name, type: field.secret ? "password" : widget === "int" || widget === "float" ? "number" : "text",
      ...(field.secret ? { autocomplete: "off" } : {}), ...(widget === "float" ? { step: "any" } : {}) });
    if (current !== undefined && input.tagName !== "SPAN" && input.type !== "checkbox" && input.type !== "file") {
      if (input.multiple) for (const o of input.options) o.selected = current.includes(o.value);
      else input.value = String(current);
    }
    inputs[name] = { input, field, widget };
    fieldset.append(el("label", {}, `${field.title || name}${(schema.required || []).includes(name) ? " *" : ""} `, input));
  }
  const extra = el("textarea", { id: "params-json", rows: "3", placeholder: "more params as JSON, e.g. {\"key\": 1}" });
  if (!fields.length) fieldset.append(el("label", {}, "Params (JSON) ", extra));
  const read = () => {
    const params = fields.length ? {} : (extra.value.trim() ? JSON.parse(extra.value) : {});
    for (const [name, { input, field, widget }] of Object.entries(inputs)) {
      if (widget === "radio") {
        const chosen = input.querySelector("input:checked");
        if (chosen) params[name] = chosen.value;
      } else if (widget === "checkbox") params[name] = input.checked;
      else if (widget === "file") continue;
      else if (widget === "multiselect") params[name] = [...input.selectedOptions].map((o) => o.value);
      else if (input.value !== "") params[name] = field.type === "integer" ? parseInt(input.value, 10)
        : field.type === "number" ? parseFloat(input.value) : input.value;
    }
    return params;
  };
  const files = async () => {
    const chosen = {};
    for (const [name, { input, widget }] of Object.entries(inputs)) {
      const file = widget === "file" ? input.files[0] : undefined;
      if (!file) continue;
      const url = await new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.onerror = () => reject(new Error(`cannot read ${file.name}`));
        reader.readAsDataURL(file);
      });
      chosen[name] = { name: file.name, content: url.slice(url.indexOf(",") + 1) };
    }
    return chosen;
  };
  return { fieldset, read, files };
}

async function packageView(draw, namespace, name) {
  const rights = await api(`${ns(namespace)}/permissions`);
  const [pkg, page, chains] = await Promise.all([api(`${ns(namespace)}/packages/${encodeURIComponent(name)}`),
    api(`${ns(namespace)}/runs?package=${encodeURIComponent(name)}&limit=50`),
    rights.listTriggers ? api(`${ns(namespace)}/chains`).catch(() => null) : Promise.resolve(null)]);
  const nodes = [el("h1", { text: `Package ${name}` })];
  if (pkg.description) nodes.push(el("p", { id: "description", text: pkg.description }));
  nodes.push(el("p", { text: `${pkg.ready ? "Ready" : "Not ready: " + (pkg.message || pkg.reason)} · secrets version ${pkg.secrets.version}` }),
    el("p", {}, "Secrets: ", el("span", { class: "secret-names", text: pkg.secrets.names.join(", ") || "none" })));
  nodes.push(...secretsByScope(pkg, page.items[0]));
  if (rights.createRuns) {
    const form = paramsForm(pkg);
    const error = el("p", { class: "error", id: "run-error" });
    const button = el("button", { id: "run", type: "submit", text: "Run" });
    nodes.push(el("form", { id: "run-form", onsubmit: async (event) => {
      event.preventDefault();
      try {
        const files = await form.files();
        const body = { package: name, params: form.read(), ...(Object.keys(files).length ? { files } : {}) };
        const created = await api(`${ns(namespace)}/runs`, { method: "POST", body });
        location.hash = `#/ns/${namespace}/runs/${created.name}`;
      } catch (e) { error.textContent = e.message; }
    } }, form.fieldset, button, error));
  } else if (Object.keys(pkg.params || {}).length) {
    nodes.push(el("h2", { text: "Default parameters" }), table(["Name", "Value"], Object.entries(pkg.params).map(([k, v]) =>
      el("tr", {}, el("td", { text: k }), el("td", {}, el("code", { text: JSON.stringify(v) }))))));
  }
  if (rights.uploadSecrets && !pkg.secretsSource) nodes.push(uploadForm(namespace, name));
  if (pkg.schedule) nodes.push(...scheduleSection(namespace, name, pkg.schedule));
  if (chains) nodes.push(...chainsAround(namespace, name, chains));
  nodes.push(el("h2", { text: "Durations" }), ...durationsChart(page.items));
  nodes.push(el("h2", { text: "Runs" }), runsTable(namespace, page.items.slice(0, 20)));
  nodes.push(el("h2", { text: "Scripts" }), ...scriptsSection(namespace, pkg));
  draw(...nodes);
}

function secretsByScope(pkg, lastRun) {
  // Where each secret comes from, as the last run read them (the package's own, the project's,
  // the platform's), with the version of each scope; names only.
  const sources = Object.entries(lastRun?.secretSources || {});
  if (!sources.length) return [];
  const versions = { package: pkg.secrets.version, ...(lastRun.scopeVersions || {}) };
  return [el("h2", { text: "Secrets by scope" }),
    table(["Name", "Scope", "Version"], sources.map(([secret, scope]) => el("tr", { "data-secret": secret },
      el("td", { text: secret }), el("td", { class: "secret-scope", text: scope }),
      el("td", { text: versions[scope] === undefined ? "—" : String(versions[scope]) })))),
    el("p", { class: "muted", text: `As run ${lastRun.name} read them.` })];
}

function chainsAround(namespace, name, chains) {
  const describe = (e, other) => el("li", { "data-trigger": e.trigger },
    ...(other === null ? [] : [other.kind === "run" && other.name !== "*" ? el("a", { href: `#/ns/${namespace}/packages/${encodeURIComponent(other.name)}`, text: other.name })
      : el("span", { text: other.name === "*" ? "the end of any run" : `events: ${other.name}` }), " "]),
    el("span", { class: "muted", text: `through ${e.trigger}${e.on ? ` on ${e.on}` : ""}${e.join ? " (join)" : ""}${e.suspended ? " (suspended)" : ""}: ${e.filter}` }));
  const around = { startedBy: chains.edges.filter((e) => e.to === name),
    starts: chains.edges.filter((e) => e.fromKind === "run" && (e.from === name || e.from === "*")) };
  return [el("h2", { text: "Started by" }), around.startedBy.length
    ? el("ul", { id: "started-by" }, ...around.startedBy.map((e) => describe(e, { kind: e.fromKind, name: e.from })))
    : el("p", { id: "started-by", class: "muted", text: "No trigger starts it." }),
  el("h2", { text: "Its runs' ends start" }), around.starts.length
    ? el("ul", { id: "starts" }, ...around.starts.map((e) => describe(e, { kind: "run", name: e.to })))
    : el("p", { id: "starts", class: "muted", text: "Nothing." })];
}

function scriptsSection(namespace, pkg) {
  // Each script read-only, with line numbers (an ordered list: the numbers are not copied with the text).
  return (pkg.scriptSources || []).map((script) => {
    const summary = el("summary", { text: `${script.name}${script.step ? "" : " (a file beside the steps)"}` });
    if (script.content === null && !script.configMap) {  // parts of a large file, joined in order
      const parts = script.configMapParts.map((ref) => `${ref.name} (key ${ref.key})`).join(", ");
      return el("details", { class: "script", "data-script": script.name }, summary,
        el("p", { class: "muted", text: `${script.configMapParts.length} parts, joined in order, from ConfigMaps ${parts}.` }));
    }
    if (script.content === null) {
      const ref = script.configMap;
      return el("details", { class: "script", "data-script": script.name }, summary, el("p", { class: "muted" },
        `From ConfigMap ${ref.name}, key ${ref.key}: `, el("code", { text: `kubectl get configmap ${ref.name} -n ${namespace} -o jsonpath='{.data.${ref.key}}'` })));
    }
    const lines = script.content.replace(/\n$/, "").split("\n");
    return el("details", { class: "script", "data-script": script.name, ...(script.step ? { open: "" } : {}) }, summary,
      el("ol", { class: "source" }, ...lines.map((line) => el("li", {}, el("code", { text: line })))));
  });
}

async function chainsView(draw, namespace) {
  const chains = await api(`${ns(namespace)}/chains`);
  draw(el("h1", { text: `Chains in ${namespace}` }),
    el("p", { class: "muted", text: "Each arrow is a FerrisTrigger (its filter on hover); a clock marks a scheduled package. Click a package to open it." }),
    el("div", { class: "graph" }, chainGraph(chains, namespace)),
    el("h2", { text: "Triggers" }), chains.edges.length ? table(["Trigger", "From", "To", "Filter"], chains.edges.map((e) =>
      el("tr", { "data-edge": `${e.trigger}:${e.from}:${e.to}` }, el("td", { text: e.trigger }),
        el("td", { text: e.fromKind === "run" ? (e.from === "*" ? "any run's end" : `${e.from}'s end${e.on ? ` (${e.on})` : ""}`) : `events: ${e.from}` }),
        el("td", { text: e.to }), el("td", { text: e.filter })))) : el("p", { class: "muted", text: "No trigger here." }));
}

function scheduleSection(namespace, name, schedule) {
  // Skipping and backfilling change the package or make runs as the user: the CLI does them with
  // the user's own credentials (the server may not rewrite packages), so the page shows the commands.
  const facts = [["Crons", `${schedule.crons.join(" | ")} (${schedule.timeZone})`],
    ["Next run", schedule.suspend ? "suspended" : (schedule.nextScheduleTime || "…")],
    ["The five after now", (schedule.nextTimes || []).join(", ") || "none"],
    ["Starts after its time", `${schedule.offsetSeconds || 0} s`],
    ["Skipped times", schedule.skip.join(", ") || "none"],
    ["Missed", String(schedule.missedCount || 0)]];
  return [el("h2", { text: "Schedule" }),
    el("dl", { id: "schedule" }, ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
    el("p", { class: "muted" }, "Skip the next run: ",
      el("code", { id: "skip-command", text: `ferris schedules skip ${name} --next -n ${namespace}` }),
      " · make past runs: ", el("code", { text: `ferris schedules backfill ${name} --from TIME --to TIME -n ${namespace}` }))];
}

function uploadForm(namespace, name) {
  // The file goes from this page to the server and into the vault; the page keeps no copy.
  const file = el("input", { type: "file", id: "secrets-file", accept: ".json,application/json" });
  const result = el("p", { id: "upload-result" });
  return el("form", { id: "upload-form", onsubmit: async (event) => {
    event.preventDefault();
    if (!file.files.length) return;
    try {
      const stored = await api(`${ns(namespace)}/packages/${encodeURIComponent(name)}/secrets`,
        { method: "PUT", raw: await file.files[0].text() });
      file.value = "";
      result.className = "";
      result.textContent = `Stored ${stored.count} secrets at version ${stored.version}: ${stored.names.join(", ")}`;
    } catch (e) { result.className = "error"; result.textContent = e.message; }
  } }, el("h2", { text: "Upload secrets" }), el("label", {}, "secrets.json ", file),
  el("button", { type: "submit", id: "upload", text: "Upload" }), result);
}

const PHASES = ["Pending", "Running", "Succeeded", "Failed", "Cancelled"];
const TRIGGERS = ["Manual", "Schedule", "Retry", "Event"];
const FILTERS = ["package", "phase", "trigger", "since", "until", "order"];

async function runsView(draw, namespace, query) {
  // Filters and the page live in the URL: a link to this view shows the same runs to whoever may read them.
  const wanted = new URLSearchParams();
  for (const key of [...FILTERS, "continue"]) if (query.get(key)) wanted.set(key, query.get(key));
  wanted.set("limit", query.get("limit") || "50");
  const page = await api(`${ns(namespace)}/runs?${wanted}`);
  const choice = (name, label, options) => el("label", {}, `${label} `, el("select", { name, id: `filter-${name}` },
    el("option", { value: "", text: "any" }),
    ...options.map((o) => el("option", { value: o, text: o, ...(query.get(name) === o ? { selected: "" } : {}) }))));
  const text = (name, label, placeholder) => el("label", {}, `${label} `,
    el("input", { name, id: `filter-${name}`, placeholder, value: query.get(name) || "" }));
  const form = el("form", { id: "runs-filter", onsubmit: (event) => {
    event.preventDefault();
    const chosen = new URLSearchParams();
    for (const key of FILTERS) {
      const value = form.querySelector(`[name=${key}]`).value.trim();
      if (value) chosen.set(key, value);
    }
    location.hash = `#/ns/${namespace}/runs?${chosen}`;
  } }, text("package", "Package", "any"), choice("phase", "Phase", PHASES), choice("trigger", "Trigger", TRIGGERS),
  text("since", "Since", "2026-12-01T00:00:00Z"), text("until", "Until", "2026-12-31T00:00:00Z"),
  el("label", {}, "Order ", el("select", { name: "order", id: "filter-order" },
    ...[["newest", "newest first"], ["oldest", "oldest first"]].map(([value, label]) =>
      el("option", { value, text: label, ...(query.get("order") === value ? { selected: "" } : {}) })))),
  el("button", { type: "submit", id: "filter", text: "Show" }));
  const filters = new URLSearchParams();
  for (const key of [...FILTERS, "limit"]) if (query.get(key)) filters.set(key, query.get(key));
  const paging = [];
  const oldest = query.get("order") === "oldest";
  if (query.get("continue")) paging.push(el("a", { id: "first-page", href: `#/ns/${namespace}/runs?${filters}`, text: oldest ? "Oldest" : "Newest" }));
  if (page.continue) {
    const next = new URLSearchParams(filters);
    next.set("continue", page.continue);
    paging.push(el("a", { id: "older", href: `#/ns/${namespace}/runs?${next}`, text: oldest ? "Newer runs" : "Older runs" }));
  }
  draw(el("h1", { text: `Runs in ${namespace}` }), form,
    page.items.length ? runsTable(namespace, page.items) : el("p", { id: "no-runs", text: "No run matches." }),
    el("p", { class: "paging" }, ...paging.flatMap((link, i) => (i ? [" · ", link] : [link]))));
}

function runsTable(namespace, runs) {
  return table(["Run", "Trigger", "Attempt", "Phase", "Reason", "Created", "Took"], runs.map((r) => el("tr", {},
    el("td", {}, el("a", { href: `#/ns/${namespace}/runs/${r.name}`, text: r.name })),
    el("td", { class: "trigger", text: r.trigger || "" }),
    el("td", { class: "attempt", text: r.maxAttempts > 1 || r.attempt > 1 ? `${r.attempt}/${r.maxAttempts}` : "" }),
    el("td", { class: `phase-${r.phase}`, text: r.phase }), el("td", { text: r.reason || "" }),
    el("td", {}, ago(r.createdAt)),
    el("td", { class: "took", text: r.startedAt && r.finishedAt ? duration(seconds(r.startedAt, r.finishedAt)) : "" }))));
}

async function runView(draw, namespace, name) {
  let run;
  try {
    run = await api(`${ns(namespace)}/runs/${encodeURIComponent(name)}`);
  } catch (e) {
    if (e.status !== 404) throw e;
    // Just created: the operator has not recorded it yet. Look again shortly.
    if (draw(el("h1", { text: `Run ${name}` }), el("p", { id: "run-phase", text: "Starting" }))) {
      refresh = setTimeout(() => route().catch(failed), 1000);
    }
    return;
  }
  const rights = await api(`${ns(namespace)}/permissions`);
  const logPath = (step) => `${ns(namespace)}/runs/${encodeURIComponent(name)}/steps/${step.index}/log`;
  // The running step's output is followed as it comes (below); the others are read whole.
  const live = rights.getLog && run.phase === "Running" ? run.steps.find((s) => s.phase === "Running") : undefined;
  const outputs = await Promise.all(run.steps.map((s) => s === live ? Promise.resolve("")
    : rights.getLog ? api(logPath(s)).catch((e) => `(${e.message})`)
      : Promise.resolve("(you may not read the output)")));
  const nodes = [el("h1", { text: `Run ${name}` }),
    el("p", {}, "Package ", el("a", { href: `#/ns/${namespace}/packages/${run.package}`, text: run.package }), " · ",
      el("span", { id: "run-phase", class: `phase-${run.phase}`, text: run.phase }), ` ${run.reason || ""} ${run.message || ""}`)];
  if (run.maxAttempts > 1 || run.attempt > 1) {
    // A chain of attempts (the package's spec.retries): this one's place, and the one before.
    const attempt = el("p", { id: "run-attempt", text: `Attempt ${run.attempt} of ${run.maxAttempts}` });
    if (run.retryOf) attempt.append(" · retry of ", el("a", { href: `#/ns/${namespace}/runs/${run.retryOf}`, text: run.retryOf }));
    nodes.push(attempt);
  }
  nodes.push(el("h2", { text: "Timeline" }), timeline(run));
  const sources = Object.entries(run.secretSources || {});
  if (sources.length) {
    nodes.push(el("h2", { text: "Secrets read" }), table(["Name", "From"], sources.map(([name, scope]) =>
      el("tr", { "data-secret": name }, el("td", { text: name }), el("td", { class: "secret-scope", text: scope })))));
  }
  const pres = run.steps.map((step, i) => el("pre", { class: "step-output", text: outputs[i],
    ...(step === live ? { id: "live-output", "aria-live": "polite" } : {}) }));
  run.steps.forEach((step, i) => nodes.push(el("h2", { text: `Step ${step.index + 1}: ${step.name} — ${step.phase}`
    + (step.exitCode === null ? "" : ` (exit ${step.exitCode})`) }), pres[i]));
  const handed = Object.entries(run.outputs || {});
  if (handed.length) {
    nodes.push(el("h2", { text: "Outputs" }), table(["Name", "Value"], handed.map(([name, value]) =>
      el("tr", { "data-output": name }, el("td", { text: name }),
        el("td", {}, el("code", { class: "output-value", text: JSON.stringify(value) }))))));
  }
  if (rights.cancelRuns && !TERMINAL.has(run.phase)) {
    const error = el("p", { class: "error", id: "cancel-error" });
    nodes.push(el("p", {}, el("button", { id: "cancel", type: "button", text: "Cancel run", onclick: async () => {
      try {
        await api(`${ns(namespace)}/runs/${encodeURIComponent(name)}/cancel`, { method: "POST", body: {} });
        route().catch(failed);
      } catch (e) { error.textContent = e.message; }
    } }), error));
  }
  if (rights.createRuns && TERMINAL.has(run.phase)) {
    // Run again, with the params this run started with, editable in the package's form.
    const pkg = await api(`${ns(namespace)}/packages/${encodeURIComponent(run.package)}`).catch(() => null);
    const form = paramsForm({ ...(pkg || {}), params: run.params || {} });
    if (!pkg?.paramsSchema) form.fieldset.querySelector("#params-json").value = JSON.stringify(run.params || {});
    const error = el("p", { class: "error", id: "rerun-error" });
    // From a step: only where the package's author allows it; the steps before it are skipped.
    const from = el("select", { id: "from-step" }, ...run.steps.map((s) =>
      el("option", { value: String(s.index + 1), text: `${s.index + 1}: ${s.name}` })));
    const start = pkg?.allowRerunFromStep ? [el("label", {}, "Start at step ", from)] : [];
    nodes.push(el("form", { id: "rerun-form", onsubmit: async (event) => {
      event.preventDefault();
      const body = { params: form.read() };
      if (start.length && from.value !== "1") body.fromStep = Number(from.value);
      try {
        const created = await api(`${ns(namespace)}/runs/${encodeURIComponent(name)}/rerun`, { method: "POST", body });
        location.hash = `#/ns/${namespace}/runs/${created.name}`;
      } catch (e) { error.textContent = e.message; }
    } }, el("h2", { text: "Run again" }), form.fieldset, ...start,
    el("button", { id: "rerun", type: "submit", text: "Run again" }), error));
  }
  const going = !TERMINAL.has(run.phase) || run.steps.some((s) => !STEP_TERMINAL.has(s.phase) && s.phase !== "Pending");
  if (!draw(...nodes) || !going) return;
  if (live) {
    // Drawn again when the followed step ends (the server ends the stream), not every second and a half.
    follow(pres[run.steps.indexOf(live)], logPath(live)).then((ended) => ended && route().catch(failed));
  } else {
    refresh = setTimeout(() => route().catch(failed), 1500);
  }
}

async function follow(pre, path) {
  // A running step's output as the runner sends it (about a second apart), appended as text.
  // Cut off, it asks again from the characters shown (counted as the server counts them, in
  // code points): nothing twice, nothing lost. True when the server ended it (the step ended).
  const control = new AbortController();
  following = control;
  let shown = 0;
  for (let cuts = 0; cuts < 5 && !control.signal.aborted;) {
    try {
      const response = await fetch(`${path}?follow=true&offset=${shown}`, { headers: authorization(), signal: control.signal });
      if (!response.ok) { pre.append(`(${(await response.text()).slice(0, 200)})`); return false; }
      cuts = 0;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return !control.signal.aborted;
        pre.append(value);
        shown += [...value].length;
      }
    } catch (e) {
      if (control.signal.aborted) return false;
      cuts += 1;
      await new Promise((resolve) => setTimeout(resolve, 1000 * cuts));
    }
  }
  return !control.signal.aborted;
}

async function route() {
  // Views await the API; a view routed to earlier may finish after a later one (a click, then
  // another before the first page came). Only the newest route draws, or reports its failure.
  const mine = ++turn;
  const draw = (...nodes) => mine === turn && (show(...nodes), true);
  try {
    return await routeTo(draw);
  } catch (e) {
    if (mine === turn) throw e;
  }
}

async function routeTo(draw) {
  const [path, search] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").map(decodeURIComponent);
  const query = new URLSearchParams(search || "");
  const namespace = parts[1] || localStorage.getItem("ferris-namespace") || "";
  if (namespace) { $("namespace").value = namespace; localStorage.setItem("ferris-namespace", namespace); }
  // Who is logged in, asked beside the view's own requests rather than before them.
  api("/api/v1/self").then((me) => { $("user").textContent = me.name; }).catch(() => {});
  $("logout").hidden = !sessionStorage.getItem("ferris-token");
  if (parts[0] !== "ns" || !namespace) return overviewView(draw, query);
  if (parts[2] === "packages" && parts[3]) return packageView(draw, namespace, parts[3]);
  if (parts[2] === "runs" && parts[3]) return runView(draw, namespace, parts[3]);
  if (parts[2] === "runs") return runsView(draw, namespace, query);
  if (parts[2] === "events") return eventsView(draw, namespace);
  if (parts[2] === "chains") return chainsView(draw, namespace);
  if (parts[2] === "secrets") return secretWritesView(draw, namespace);
  return packagesView(draw, namespace);
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("ferris-token", $("token").value.trim());
  $("token").value = "";
  route().catch((e) => { $("login-error").textContent = e.status === 401 ? "That token was not accepted." : e.message; failed(e); });
});
$("namespace-form").addEventListener("submit", (event) => {
  event.preventDefault();
  location.hash = `#/ns/${$("namespace").value.trim()}`;
});
$("logout").addEventListener("click", () => { sessionStorage.removeItem("ferris-token"); location.hash = "#/"; location.reload(); });
window.addEventListener("hashchange", () => route().catch(failed));
route().catch(failed);
