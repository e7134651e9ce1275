// PgMultiMaster dashboard: read-only view of GET api/cluster (see docs/monitoring-contract.md).
// Plain ES2020, no dependencies. All data is inserted with textContent / setAttribute, never innerHTML.
"use strict";

const POLL_MS = 2000;
const WINDOW_MS = 10 * 60 * 1000;   // charts show the last 10 minutes
const BUCKET_MS = 5000;             // history samples are ~5 s apart
const MAX_LIST = 20;
const STATES = ["streaming", "catching_up", "holding", "starting", "backing_off", "down", "slot_lost"];
const SVG_NS = "http://www.w3.org/2000/svg";

const TOKEN_KEY = "pgmm.token";
const live = { prev: null, tx: [], conflicts: [] };   // rates measured between polls
const rendered = {};                                  // section -> last input signature
let loaded = false;
let timer = null, polling = false;
let token = takeToken();

// ---------- access token ----------
// Given once in the address as #token=... (a fragment never reaches the server, its logs or a proxy's) or, in old
// links, ?token=...; kept for this tab only and taken out of the address bar, so it is not bookmarked or shared.
// Every API call sends it as a Bearer header: the worker accepts it nowhere else.
function takeToken() {
  const query = new URLSearchParams(location.search);
  const given = new URLSearchParams(location.hash.slice(1)).get("token") || query.get("token");
  if (given) {
    remember(given);
    query.delete("token");
    const search = query.toString();
    history.replaceState(null, "", location.pathname + (search ? `?${search}` : ""));
    return given;
  }
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}
function remember(value) {
  try { sessionStorage.setItem(TOKEN_KEY, value); } catch { /* storage disabled: the token lasts until the page is left */ }
}
function tokenForm() {
  const input = el("input", { type: "password", id: "token-input", placeholder: "access token", autocomplete: "off", "aria-label": "access token" });
  const form = el("form", { class: "token-form" }, input, el("button", { type: "submit" }, "use"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!input.value.trim()) return;
    token = input.value.trim();
    remember(token);
    poll();
  });
  return form;
}

// ---------- DOM helpers ----------
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  setAttrs(e, attrs);
  if (text != null) e.textContent = String(text);
  return e;
}
function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v != null && v !== false) e.setAttribute(k, String(v));
  }
}
const $ = (id) => document.getElementById(id);
function replace(target, ...children) { target.replaceChildren(...children.flat().filter((c) => c != null)); }

// ---------- formatting ----------
const pad = (n) => String(n).padStart(2, "0");
function fmtClock(d) { return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`; }
function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  const today = new Date().toDateString() === d.toDateString();
  return (today ? "" : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `) + fmtClock(d);
}
function timeEl(iso) { return el("time", { datetime: iso, title: iso ? `${iso} (UTC)` : null }, fmtTime(iso)); }
function fmtBytes(b) {
  if (b == null) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = Number(b), i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}
function fmtSeconds(s) {
  if (s == null) return "–";
  const a = Math.abs(s);
  if (a < 1) return `${Math.round(s * 1000)} ms`;
  if (a < 60) return `${s.toFixed(a < 10 ? 2 : 1)} s`;
  if (a < 3600) return `${Math.floor(a / 60)} m ${Math.floor(a % 60)} s`;
  return `${Math.floor(a / 3600)} h ${Math.floor((a % 3600) / 60)} m`;
}
function ago(iso, now) {
  const t = Date.parse(iso);
  if (isNaN(t)) return "";
  const s = Math.max(0, Math.round((now - t) / 1000));
  return ` (${s < 60 ? `${s} s` : fmtSeconds(s)} ago)`;
}
function fmtNum(n) { return n == null ? "–" : Number(n).toLocaleString("en-US"); }
function fmtRate(r) { return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2); }
function fmtValue(v) {
  if (v === undefined) return "";
  if (v === null) return "null";
  return typeof v === "string" ? v : JSON.stringify(v);
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// ---------- polling ----------
async function poll() {
  if (polling) return;   // one poll at a time, even when the token form asks for one at once
  polling = true;
  clearTimeout(timer);
  let res = null, data = null;
  try {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    res = await fetch("api/cluster", { headers, cache: "no-store" });
    if (res.ok) data = await res.json();
  } catch (err) {
    console.warn("poll failed", err);
    const what = res ? "worker sent an unreadable answer" : "worker unreachable";
    showBanner(loaded ? `${what} — showing the last data received` : what, "error");
  }
  try {
    if (res && (res.status === 401 || res.status === 403)) {
      showBanner(token ? "the access token was refused: paste the right one" : "access token required: paste it here", "error", tokenForm);
    } else if (res && !res.ok) {
      showBanner(`worker answered HTTP ${res.status} ${res.statusText}${loaded ? " — showing the last data received" : ""}`, "warn");
    } else if (data) {
      render(data);
      hideBanner();
      $("status-line").textContent = `updated ${fmtClock(new Date())}`;
      if (!loaded) { loaded = true; document.body.dataset.loaded = "true"; }
    }
  } catch (err) {
    console.error("render failed", err);
    showBanner(`dashboard error: ${err && err.message}`, "error");
  }
  polling = false;
  timer = setTimeout(poll, POLL_MS);
}
// extra: a function making more content (the token form). An unchanged banner is left alone, so the next poll does
// not wipe what is being typed into it.
function showBanner(text, kind, extra) {
  const b = $("banner");
  const sig = `${kind}:${text}`;
  if (!b.hidden && b.dataset.sig === sig) return;
  b.dataset.sig = sig;
  replace(b, text, extra ? extra() : null);
  b.className = `banner banner-${kind}`;
  b.hidden = false;
}
function hideBanner() { $("banner").hidden = true; }

// Renders a section only when its input changed (keeps text selection and avoids flicker).
function section(name, input, fn) {
  const sig = JSON.stringify(input);
  if (rendered[name] === sig) return;
  fn(input);
  rendered[name] = sig;   // only after success, so a failed render is retried on the next poll
}

function render(data) {
  const nodes = [...(data.nodes || [])].sort((a, b) => String(a.node).localeCompare(String(b.node)));
  const links = nodes.flatMap((n) => [...(n.links || [])].sort((a, b) => String(a.target).localeCompare(String(b.target))));
  $("cluster-name").textContent = data.cluster || "";
  $("served-by").textContent = data.servedBy || "–";
  replace($("generated-at"), timeEl(data.generatedAt));
  document.title = `PgMultiMaster · ${data.cluster || ""}`;
  recordLive(data, nodes);
  section("topology", nodes.map((n) => [n.node, n.worker, n.reachable, n.links]), () => renderTopology(nodes, links));
  section("links", [data.maxWalRetainedBytes, links], ([max, l]) => renderLinks(l, max));
  renderCharts(nodes);
  section("nodes", [data.generatedAt, nodes.map(({ links: _l, history: _h, recentConflicts: _c, recentDeadLetters: _d, ...rest }) => rest)],
    () => renderNodes(nodes, data.generatedAt));
  const tag = (key) => nodes.flatMap((n) => (n[key] || []).map((x) => ({ ...x, node: n.node })))
    .sort((a, b) => (Date.parse(b.at) || 0) - (Date.parse(a.at) || 0) || b.id - a.id).slice(0, MAX_LIST);
  // Monitoring:ShowRowValues false: the worker sent no rows or keys; say so instead of showing empty tables.
  const hidden = data.rowValues === "hidden";
  section("conflicts", [hidden, tag("recentConflicts")], ([h, list]) => renderConflicts(list, h));
  section("deadLetters", [hidden, tag("recentDeadLetters")], ([h, list]) => renderDeadLetters(list, h));
}

// ---------- topology ----------
function renderTopology(nodes, links) {
  const extra = Math.min(4, Math.max(0, nodes.length - 3));   // bigger canvas for bigger meshes
  const W = 760 + extra * 130, H = nodes.length > 2 ? 460 + extra * 90 : 240, R = 44;
  const cx = W / 2, cy = H / 2 + (nodes.length === 3 ? 30 : 0);   // a triangle sits lower to look centred
  const pos = new Map();
  nodes.forEach((n, i) => {
    if (nodes.length === 1) { pos.set(n.node, { x: cx, y: cy }); return; }
    const a = nodes.length === 2 ? Math.PI * i : -Math.PI / 2 + (2 * Math.PI * i) / nodes.length;
    const rx = nodes.length === 2 ? W / 2 - R - 140 : W / 2 - R - 110, ry = H / 2 - R - 12;   // an ellipse uses the wide box
    pos.set(n.node, { x: cx + rx * Math.cos(a), y: cy + ry * Math.sin(a) });
  });
  const root = $("topology");
  root.setAttribute("viewBox", `0 0 ${W} ${H}`);
  root.style.maxWidth = `${W}px`;
  const defs = svg("defs");
  for (const s of STATES) {
    const m = svg("marker", { id: `arrow-${s}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    m.append(svg("path", { d: "M0,0 L10,5 L0,10 z", class: `arrowhead st-${s}` }));
    defs.append(m);
  }
  const edges = svg("g"), labels = svg("g"), circles = svg("g");
  for (const l of links) {
    const p = pos.get(l.source), q = pos.get(l.target);
    if (!p || !q || p === q) continue;
    // Curve to the right of the travel direction: A->B and B->A bend to opposite sides.
    const dx = q.x - p.x, dy = q.y - p.y, len = Math.hypot(dx, dy);
    const nx = -dy / len, ny = dx / len, bend = Math.min(50, len * 0.18);
    const c = { x: (p.x + q.x) / 2 + nx * bend, y: (p.y + q.y) / 2 + ny * bend };
    const edge = (from, r) => { const ex = c.x - from.x, ey = c.y - from.y, d = Math.hypot(ex, ey); return { x: from.x + (ex / d) * r, y: from.y + (ey / d) * r }; };
    const a = edge(p, R + 2), b = edge(q, R + 4);
    const state = STATES.includes(l.state) ? l.state : "starting";
    const g = svg("g", { class: `link st-${state}`, "data-edge": `${l.source}->${l.target}` });
    g.append(svg("title", {}, `${l.source} → ${l.target}: ${l.state}${l.lastError ? "\n" + l.lastError : ""}`));
    g.append(svg("path", { d: `M${a.x},${a.y} Q${c.x},${c.y} ${b.x},${b.y}`, class: "edge", "marker-end": `url(#arrow-${state})` }));
    edges.append(g);
    // label on the curve, pushed a little outwards; with many nodes nearer the source so crossing diagonals don't collide
    const t = nodes.length > 3 ? 0.3 : 0.5, u = 1 - t;
    const mx = u * u * a.x + 2 * u * t * c.x + t * t * b.x + nx * 12, my = u * u * a.y + 2 * u * t * c.y + t * t * b.y + ny * 12;
    const text = l.lagSeconds == null && l.lagBytes == null ? l.state : `${fmtSeconds(l.lagSeconds)} · ${fmtBytes(l.lagBytes)}`;
    const w = text.length * 6.8 + 10;
    const lg = svg("g", { class: `edge-label st-${state}` });
    lg.append(svg("rect", { x: mx - w / 2, y: my - 9, width: w, height: 18, rx: 4 }));
    lg.append(svg("text", { x: mx, y: my + 4, "text-anchor": "middle" }, text));
    labels.append(lg);
  }
  for (const n of nodes) {
    const p = pos.get(n.node);
    const up = n.worker === "up";
    const cls = `node ${up ? "node-up" : "node-down"}${n.reachable === false ? " node-unreachable" : ""}`;
    const g = svg("g", { class: cls, "data-topology-node": n.node });
    g.append(svg("title", {}, `${n.node}: worker ${n.worker}${n.reachable === false ? ", database unreachable" : ""}${n.error ? "\n" + n.error : ""}`));
    g.append(svg("circle", { cx: p.x, cy: p.y, r: R }));
    g.append(svg("text", { x: p.x, y: p.y - 2, "text-anchor": "middle", class: "node-name" }, n.node));
    g.append(svg("text", { x: p.x, y: p.y + 14, "text-anchor": "middle", class: "node-worker" },
      n.reachable === false ? "unreachable" : `worker ${n.worker || "?"}`));
    circles.append(g);
  }
  replace(root, defs, edges, circles, labels);
  if (!$("legend").childElementCount)
    replace($("legend"), STATES.map((s) => el("span", { class: `legend-item st-${s}` }, el("i"), s)));
}

// ---------- links table ----------
function renderLinks(links, maxWalRetained) {
  // Monitoring:MaxWalRetainedBytes: a slot holding more WAL puts its source's disk at risk (a target down too long?).
  const over = (l) => maxWalRetained != null && l.walRetainedBytes != null && l.walRetainedBytes > maxWalRetained;
  const rows = links.map((l) => el("tr", { "data-link": `${l.source}->${l.target}`, class: `st-${l.state}` },
    el("td", { class: "link-name" }, `${l.source} → ${l.target}`),
    el("td", { class: "state" }, el("span", { class: `badge st-${l.state}` }, l.state)),
    el("td", { class: "num", title: l.clockSkewSeconds != null ? `clock skew ${fmtSeconds(l.clockSkewSeconds)}` : null }, fmtSeconds(l.lagSeconds)),
    el("td", { class: "num", title: l.lagBytes != null ? `${l.lagBytes} bytes` : null }, fmtBytes(l.lagBytes)),
    el("td", over(l)
      ? { class: "num bad wal-over", title: `over Monitoring:MaxWalRetainedBytes (${fmtBytes(maxWalRetained)}): is ${l.target} down for good? pgmm node remove ${l.target} --force releases it` }
      : { class: "num" }, fmtBytes(l.walRetainedBytes)),
    el("td", { class: "mono" }, l.confirmedLsn || "–"),
    el("td", { class: "num" }, fmtNum(l.transactionsApplied)),
    el("td", { class: "num" }, fmtNum(l.rowsApplied)),
    el("td", { class: "num" }, fmtNum(l.conflicts)),
    el("td", { class: l.parked ? "num warn" : "num" }, fmtNum(l.parked)),
    el("td", { class: "num" }, fmtNum(l.retries)),
    el("td", { class: "last-error" }, l.lastError
      ? [el("span", { class: "error-text" }, l.lastError), " ", el("span", { class: "muted" }, "at ", timeEl(l.lastErrorAt))]
      : el("span", { class: "muted" }, "–"))));
  replace($("links-body"), rows.length ? rows : el("tr", {}, el("td", { colspan: 12, class: "empty" }, "no links")));
}

// ---------- charts ----------
// History samples are cumulative per node: rate = delta / dt between consecutive samples, then summed
// across nodes per 5 s bucket. Counter resets (worker restart) give negative deltas and are clamped to 0.
function historyRates(nodes, field) {
  const total = new Map();
  for (const n of nodes) {
    const h = (n.history || []).map((s) => ({ t: Date.parse(s.at), v: s[field] })).filter((s) => !isNaN(s.t) && s.v != null);
    const perBucket = new Map();
    for (let i = 1; i < h.length; i++) {
      const dt = (h[i].t - h[i - 1].t) / 1000;
      if (dt <= 0) continue;
      const bucket = Math.round(h[i].t / BUCKET_MS) * BUCKET_MS;
      const [sum, cnt] = perBucket.get(bucket) || [0, 0];
      perBucket.set(bucket, [sum + Math.max(0, h[i].v - h[i - 1].v) / dt, cnt + 1]);
    }
    for (const [b, [sum, cnt]] of perBucket) total.set(b, (total.get(b) || 0) + sum / cnt);
  }
  return [...total].map(([t, v]) => ({ t, v })).sort((a, b) => a.t - b.t);
}

// Live points: between two polls, delta of the links' cumulative counters over the generatedAt delta.
function recordLive(data, nodes) {
  const at = Date.parse(data.generatedAt) || Date.now();
  const totals = {};
  for (const n of nodes) totals[n.node] = (n.links || []).reduce((acc, l) =>
    ({ tx: acc.tx + (l.transactionsApplied || 0), conflicts: acc.conflicts + (l.conflicts || 0) }), { tx: 0, conflicts: 0 });
  const prev = live.prev;
  if (prev && at > prev.at) {
    const dt = (at - prev.at) / 1000;
    for (const key of ["tx", "conflicts"]) {
      let sum = 0;
      for (const [node, cur] of Object.entries(totals)) if (prev.totals[node]) sum += Math.max(0, cur[key] - prev.totals[node][key]);
      live[key].push({ t: at, v: sum / dt });
      live[key] = live[key].filter((p) => p.t > at - WINDOW_MS);
    }
  }
  if (!prev || at > prev.at) live.prev = { at, totals };
}

function renderCharts(nodes) {
  const series = (field, key) => {
    const hist = historyRates(nodes, field);
    const lastHist = hist.length ? hist[hist.length - 1].t : -Infinity;
    const pts = hist.concat(live[key].filter((p) => p.t > lastHist));
    const end = pts.length ? pts[pts.length - 1].t : 0;
    return pts.filter((p) => p.t >= end - WINDOW_MS);
  };
  const tx = series("transactions", "tx"), cf = series("conflicts", "conflicts");
  section("chart-tx", tx, () => drawChart($("chart-throughput"), tx, "tx/s"));
  section("chart-cf", cf, () => drawChart($("chart-conflicts"), cf, "conflicts/s"));
}

function drawChart(container, pts, unit) {
  const body = container.querySelector(".chart-body");
  if (pts.length < 2) { replace(body, el("div", { class: "empty" }, "no data yet")); return; }
  const W = 600, H = 170, L = 8, Rt = 8, T = 22, B = 22;
  const t1 = pts[pts.length - 1].t, t0 = Math.max(pts[0].t, t1 - WINDOW_MS);
  const vals = pts.map((p) => p.v), max = Math.max(...vals), min = Math.min(...vals);
  const top = max > 0 ? max * 1.15 : 1;
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - Rt);
  const y = (v) => T + (1 - v / top) * (H - T - B);
  const line = pts.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "img", "aria-label": `${unit} over time` });
  root.append(
    svg("line", { x1: L, x2: W - Rt, y1: y(max), y2: y(max), class: "gridline" }),
    svg("line", { x1: L, x2: W - Rt, y1: y(0), y2: y(0), class: "axis" }),
    svg("path", { d: `${line} L${x(t1)},${y(0)} L${x(pts[0].t)},${y(0)} Z`, class: "area" }),
    svg("path", { d: line, class: "line" }),
    svg("text", { x: W - Rt, y: 12, "text-anchor": "end", class: "axis-label" }, `min ${fmtRate(min)} · max ${fmtRate(max)} ${unit}`),
    svg("text", { x: L, y: H - 5, class: "axis-label" }, `−${fmtSeconds((t1 - t0) / 1000)} (${fmtClock(new Date(t0))})`),
    svg("text", { x: W - Rt, y: H - 5, "text-anchor": "end", class: "axis-label" }, fmtClock(new Date(t1))));
  const current = el("div", { class: "chart-current" }, el("strong", {}, fmtRate(pts[pts.length - 1].v)), ` ${unit} now`);
  replace(body, current, root);
}

// ---------- nodes ----------
function renderNodes(nodes, generatedAt) {
  const now = Date.parse(generatedAt) || Date.now();   // server clock: immune to browser clock skew
  replace($("nodes"), nodes.map((n) => {
    const up = n.worker === "up";
    return el("div", { class: `card node-card ${up ? "node-up" : "node-down"}`, "data-node-card": n.node },
      el("div", { class: "card-head" }, el("strong", { class: "mono" }, n.node),
        el("span", { class: `badge worker-${up ? "up" : "down"}` }, `worker ${n.worker || "?"}`)),
      el("dl", {},
        el("dt", {}, "worker seen"), el("dd", {}, timeEl(n.workerSeenAt), el("span", { class: "muted" }, ago(n.workerSeenAt, now))),
        el("dt", {}, "started"), el("dd", {}, timeEl(n.startedAt)),
        el("dt", {}, "dead letters"), el("dd", { class: n.deadLetters ? "warn" : null }, fmtNum(n.deadLetters)),
        el("dt", {}, "tombstones"), el("dd", {}, fmtNum(n.tombstones)),
        el("dt", {}, "database"), el("dd", { class: n.reachable === false ? "bad" : "good" }, n.reachable === false ? "unreachable" : "reachable")),
      n.error ? el("div", { class: "node-error error-text" }, n.error) : null);
  }));
}

// ---------- conflicts ----------
function rowTable(row, otherKeys, classify) {
  if (row == null) return el("div", { class: "empty" }, "(no row)");
  const keys = otherKeys.filter((k) => k in row);
  return el("table", { class: "kv" }, el("tbody", {}, keys.map((k) => {
    const info = classify(k) || {};
    return el("tr", { class: info.cls || null, "data-column": k },
      el("th", {}, k), el("td", { class: "mono" }, fmtValue(row[k])),
      info.tag ? el("td", { class: "origin" }, info.tag) : null);
  })));
}

const HIDDEN = "row values hidden (Monitoring:ShowRowValues is false); pgmm conflicts and pgmm dead-letter show them";
function hiddenNote() { return el("div", { class: "empty values-hidden" }, HIDDEN); }

function renderConflicts(list, hidden) {
  if (!list.length) { replace($("conflicts"), el("div", { class: "empty" }, "no conflicts recorded")); return; }
  replace($("conflicts"), list.map((c) => {
    const local = c.localRow, remote = c.remoteRow, kept = c.keptRow;
    const keys = [...new Set([local, remote, kept].flatMap((r) => (r ? Object.keys(r) : [])))];
    const differs = (k) => local != null && remote != null && !same(local[k], remote[k]);
    const diffCls = (k) => (differs(k) ? { cls: "diff" } : null);
    const keptCls = (k) => {
      if (!kept) return null;
      const fromL = local != null && same(kept[k], local[k]), fromR = remote != null && same(kept[k], remote[k]);
      if (fromL && fromR) return { cls: differs(k) ? "diff" : null, tag: "" };
      if (fromL) return { cls: "from-local", tag: "local" };
      if (fromR) return { cls: "from-remote", tag: "remote" };
      return { cls: "from-neither", tag: "neither" };
    };
    return el("article", { class: "card conflict", "data-conflict-id": c.id, "data-node": c.node },
      el("div", { class: "card-head" },
        el("span", { class: "conflict-id mono" }, `#${c.id}`),
        el("span", { class: "conflict-type badge" }, c.type),
        el("span", { class: "conflict-table mono" }, c.table),
        el("span", { class: "muted" }, timeEl(c.at))),
      el("div", { class: "facts" },
        fact("resolved on", c.node), fact("from", c.source), fact("rule", c.rule), fact("resolution", c.resolution, "conflict-resolution"),
        hidden ? null : fact("key", c.key == null ? "–" : JSON.stringify(c.key), "mono")),
      hidden ? hiddenNote() : el("div", { class: "rows3" },
        el("div", { class: "rowpanel panel-local" }, el("h4", {}, "local"), rowTable(local, keys, diffCls)),
        el("div", { class: "rowpanel panel-remote" }, el("h4", {}, "remote"), rowTable(remote, keys, diffCls)),
        el("div", { class: "rowpanel panel-kept" }, el("h4", {}, "kept"), rowTable(kept, keys, keptCls))));
  }));
}
function fact(label, value, cls) {
  return el("span", { class: "fact" }, el("span", { class: "muted" }, `${label} `), el("span", { class: cls || null }, value ?? "–"));
}

// ---------- dead letters ----------
function renderDeadLetters(list, hidden) {
  if (!list.length) { replace($("dead-letters"), el("div", { class: "empty" }, "no dead letters")); return; }
  replace($("dead-letters"), list.map((d) => el("article", { class: "card dead-letter", "data-dead-letter-id": d.id, "data-node": d.node },
    el("div", { class: "card-head" },
      el("span", { class: "mono" }, `#${d.id}`),
      el("span", { class: "badge op" }, d.operation),
      el("span", { class: "dead-letter-table mono" }, d.table),
      el("span", { class: "muted" }, timeEl(d.at))),
    el("div", { class: "facts" },
      fact("parked on", d.node), fact("from", d.source), fact("conflict", d.conflictType ?? "–"),
      fact("attempts", fmtNum(d.attempts)), hidden ? null : fact("key", d.key == null ? "–" : JSON.stringify(d.key), "mono")),
    el("div", { class: "dead-letter-error error-text" },
      el("div", { class: "dead-letter-reason" }, el("strong", {}, "reason: "), d.reason || "–"),
      d.lastError ? el("div", { class: "dead-letter-last-error" }, el("strong", {}, "last error: "), d.lastError) : null),
    hidden ? hiddenNote() : el("pre", { class: "json" }, d.row == null ? "(no row)" : JSON.stringify(d.row, null, 2)))));
}

poll();
