// HIE console. Plain script, no build step: it reads the live feed (/api/events) and the
// documented API, and draws the production, the messages and their traces.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
};
const svg = (tag, attrs = {}) => {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};
const when = (us) => (us ? new Date(us / 1000).toLocaleString() : "");

async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const csrf = sessionStorage.getItem("hie-csrf");
  if (csrf && method !== "GET") init.headers["X-CSRF-Token"] = csrf;
  const r = await fetch(path, init);
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (_) { json = { error: text }; }
  if (!r.ok) throw new Error((json && json.error) || `${r.status}`);
  return json;
}

// ---- theme and views ------------------------------------------------------------------
const THEMES = ["system", "light", "dark"];
function applyTheme(t) {
  if (t === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  $("#theme").title = `Theme: ${t} (t)`;
}
applyTheme(localStorage.getItem("hie-theme") || "system");
$("#theme").addEventListener("click", () => {
  const now = localStorage.getItem("hie-theme") || "system";
  const next = THEMES[(THEMES.indexOf(now) + 1) % THEMES.length];
  localStorage.setItem("hie-theme", next);
  applyTheme(next);
});
const VIEWS = ["production", "messages", "queues", "config", "packs"];
function show(view) {
  for (const b of document.querySelectorAll("nav [data-view]")) b.setAttribute("aria-pressed", String(b.dataset.view === view));
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== view;
  if (view === "messages") $("#q-control-id").focus();
  if (view === "production") requestAnimationFrame(drawEdges);
  if (view === "queues") loadQueues();
  if (view === "config") loadVersions();
  if (view === "packs") loadPacks();
}
for (const b of document.querySelectorAll("nav [data-view]")) b.addEventListener("click", () => show(b.dataset.view));
document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, select, textarea")) return;
  if (e.key === "/") { e.preventDefault(); show("messages"); }
  if (e.key === "Escape") { $("#item-panel").hidden = true; $("#message").hidden = true; $("#trace").hidden = true; }
});

// ---- production: the diagram, live ----------------------------------------------------
let production = null;
let selected = null;
const lastCounts = new Map(); // item -> [processed, at ms]
const rates = new Map();

function render(p) {
  production = p;
  $("#production-name").textContent = p.name || "";
  const state = $("#production-state");
  state.textContent = p.state;
  const lag = p.index_lag || {};
  $("#journal").textContent = `${p.durability} · journal ${p.journal_writable ? "writable" : "NOT WRITABLE"}` +
    (lag.records ? ` · search index ${lag.records} behind` : "");
  const now = Date.now();
  for (const it of p.items) {
    const prev = lastCounts.get(it.name);
    if (prev && now > prev[1]) rates.set(it.name, ((it.processed - prev[0]) * 1000) / (now - prev[1]));
    lastCounts.set(it.name, [it.processed, now]);
  }
  const columns = [["service", "Services"], ["process", "Processes"], ["operation", "Operations"]];
  const diagram = $("#diagram");
  const focused = document.activeElement && document.activeElement.dataset.item;
  diagram.replaceChildren(...columns.map(([kind, title]) => {
    const col = el("div", { class: "column", role: "group", "aria-label": title }, el("h2", { text: title }));
    for (const it of p.items.filter((i) => i.kind === kind)) col.append(itemBox(it));
    return col;
  }));
  diagram.append(svg("svg", { class: "edges", "aria-hidden": "true" }));
  if (focused) { const b = diagram.querySelector(`[data-item="${CSS.escape(focused)}"]`); if (b) b.focus(); }
  requestAnimationFrame(drawEdges);
  if (selected) fillPanel(p.items.find((i) => i.name === selected));
  if (!$("#view-queues").hidden) queueRows(p);
}

function itemBox(it) {
  const rate = rates.get(it.name);
  const b = el("button", { type: "button", class: "item", role: "listitem", "data-item": it.name, "data-state": it.state,
    "data-testid": `item-${it.name}` },
    el("span", { class: "name", text: it.name }),
    el("span", { class: "state", text: it.state }), " ",
    el("span", { class: "numbers", text: `· queue ${it.queue_depth} · ${rate === undefined ? "–" : rate.toFixed(1)}/s` }));
  if (it.errors) b.append(" ", el("span", { class: "errors", text: `· ${it.errors} errors` }));
  b.title = `${it.class} (${it.state}${it.state_note ? ": " + it.state_note : ""})`;
  b.addEventListener("click", () => { selected = it.name; fillPanel(it); loadSettings(it.name); $("#item-panel").hidden = false; });
  return b;
}

function drawEdges() {
  const diagram = $("#diagram");
  const layer = diagram.querySelector("svg.edges");
  if (!layer || !production || diagram.offsetParent === null) return;
  const base = diagram.getBoundingClientRect();
  layer.replaceChildren();
  for (const [from, to] of production.edges || []) {
    const a = diagram.querySelector(`[data-item="${CSS.escape(from)}"]`);
    const b = diagram.querySelector(`[data-item="${CSS.escape(to)}"]`);
    if (!a || !b) continue;
    const ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
    const x1 = ra.right - base.left, y1 = ra.top + ra.height / 2 - base.top;
    const x2 = rb.left - base.left, y2 = rb.top + rb.height / 2 - base.top;
    const mid = (x1 + x2) / 2;
    layer.append(svg("path", { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, "data-edge": `${from}>${to}` }));
  }
}
window.addEventListener("resize", () => requestAnimationFrame(drawEdges));

async function loadSettings(name) {
  const body = $("#item-settings tbody");
  try {
    const r = await api("GET", `/api/items/${encodeURIComponent(name)}/settings`);
    body.replaceChildren(...r.settings.map((s) => el("tr", { "data-setting": s.setting },
      el("td", { text: s.setting }), el("td", { text: s.value }), el("td", { class: "muted", text: s.source }))));
  } catch (e) { body.replaceChildren(el("tr", {}, el("td", { colspan: "3", text: `settings: ${e.message}` }))); }
}

function fillPanel(it) {
  if (!it) return;
  $("#item-name").textContent = it.name;
  const facts = [["State", it.state + (it.state_note ? ` (${it.state_note})` : "")], ["Class", it.class],
    ["Pack", `${it.pack} ${it.pack_version}`], ["Adapter pack", it.adapter_pack ? `${it.adapter_pack} ${it.adapter_pack_version}` : "host"],
    ["Mode", `${it.execution_mode} × ${it.concurrency}`], ["Queue", `${it.queue_depth} (${it.in_flight} in flight)`],
    ["Processed", it.processed], ["Errors", it.errors], ["Retries", it.retries], ["Started", when(it.started_us)]];
  $("#item-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
  $("#item-facts").dataset.state = it.state;
}
for (const action of ["pause", "resume", "restart"]) {
  $(`#item-${action}`).addEventListener("click", async () => {
    if (!selected) return;
    try {
      const r = await api("POST", `/api/items/${encodeURIComponent(selected)}/${action}`);
      $("#item-result").textContent = `${selected}: ${r.state}`;
    } catch (e) { $("#item-result").textContent = `${action} failed: ${e.message}`; }
  });
}

// ---- sign-in: a token for an HttpOnly session cookie; writes carry the CSRF token -------
let feed = null;
function signedIn(me) {
  if (me.csrf) sessionStorage.setItem("hie-csrf", me.csrf); else sessionStorage.removeItem("hie-csrf");
  $("#who").textContent = `${me.name} (${me.role})`;
  $("#signout").hidden = !me.csrf;
  $("#signin").hidden = true;
  $("#view-production").hidden = false;
  if (!feed) {
    feed = new EventSource("/api/events");
    feed.addEventListener("production", (e) => render(JSON.parse(e.data)));
    feed.onerror = () => { $("#production-state").textContent = "reconnecting"; };
  }
}
function signIn() {
  if (feed) { feed.close(); feed = null; }
  $("#view-production").hidden = true;
  $("#view-messages").hidden = true;
  $("#signin").hidden = false;
  $("#production-state").textContent = "signed out";
  $("#signin-token").focus();
}
$("#signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    signedIn(await api("POST", "/api/session", { token: $("#signin-token").value }));
    $("#signin-token").value = "";
    $("#signin-result").textContent = "";
  } catch (err) { $("#signin-result").textContent = `sign-in refused: ${err.message}`; }
});
$("#signout").addEventListener("click", async () => {
  try { await api("DELETE", "/api/session"); } catch (_) { /* signed out either way */ }
  sessionStorage.removeItem("hie-csrf");
  $("#who").textContent = "";
  $("#signout").hidden = true;
  signIn();
});
api("GET", "/api/session").then(signedIn, signIn);

// ---- messages ---------------------------------------------------------------------------
let oldest = null;
async function search(more) {
  const form = new FormData($("#search"));
  const q = new URLSearchParams();
  for (const k of ["control_id", "item", "source", "type", "status", "field", "value"]) if (form.get(k)) q.set(k, form.get(k).trim());
  if (form.get("window")) q.set("since", String(Math.floor(Date.now() / 1000) - Number(form.get("window"))));
  q.set("limit", "50");
  if (more && oldest) q.set("before", String(oldest));
  const body = $("#results tbody");
  try {
    const r = await api("GET", `/api/messages?${q}`);
    if (!more) body.replaceChildren();
    for (const m of r.messages) {
      const tr = el("tr", { tabindex: "0", "data-id": m.id, "data-testid": `message-${m.id}` },
        ...[m.id, when(m.created_us), m.source, m.target, m.doc_type, m.control_id, m.status].map((v) => el("td", { text: String(v ?? "") })));
      tr.addEventListener("click", () => openMessage(m.id));
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter") openMessage(m.id); });
      body.append(tr);
      oldest = m.id;
    }
    $("#more").hidden = r.messages.length < 50;
  } catch (e) { body.replaceChildren(el("tr", {}, el("td", { colspan: "7", text: `search failed: ${e.message}` }))); }
}
$("#search").addEventListener("submit", (e) => { e.preventDefault(); oldest = null; search(false); });
$("#more").addEventListener("click", () => search(true));

// The body, a segment per line, each field titled with its position (PID-5) on hover.
function hl7(text) {
  const pre = $("#message-body");
  pre.replaceChildren();
  if (text == null) return;
  for (const seg of text.split(/\r\n|\r|\n/).filter((s) => s.length)) {
    const name = seg.slice(0, 3);
    const fields = seg.split("|");
    const line = el("span", { class: "seg" });
    fields.forEach((f, i) => {
      const n = name === "MSH" ? i + 1 : i;
      if (i > 0) line.append("|");
      line.append(i === 0 ? el("span", { class: "f", title: name, text: f }) : el("span", { class: "f", title: `${name}-${n}`, text: f }));
    });
    pre.append(line);
  }
}

let current = null;
async function openMessage(id) {
  try {
    const m = await api("GET", `/api/messages/${id}`);
    current = m;
    $("#message").hidden = false;
    $("#message-id").textContent = String(m.id);
    const facts = [["Session", m.session_id], ["Source", m.source], ["Target", m.target], ["Status", m.status + (m.note ? ` (${m.note})` : "")],
      ["Type", m.doc_type], ["Control id", m.control_id], ["Created", when(m.created_us)], ["Processed", when(m.processed_us)], ["Size", m.body_size]];
    $("#message-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v ?? "") })]));
    if (m.body_withheld) { $("#message-body").textContent = m.body_withheld; $("#message-reply").textContent = ""; }
    else { hl7(m.body); $("#message-reply").textContent = m.reply || "(none)"; }
    $("#message-result").textContent = "";
    $("#editor").hidden = true;
    const targets = production ? production.items.filter((i) => i.kind !== "service").map((i) => i.name) : [];
    $("#resend-target").replaceChildren(...[m.target, ...targets.filter((t) => t !== m.target)].map((t) => el("option", { value: t, text: t })));
    $("#trace").hidden = true;
    $("#message").scrollIntoView({ block: "start" });
  } catch (e) { $("#message-result").textContent = `cannot open message ${id}: ${e.message}`; }
}
async function act(action, body) {
  if (!current) return;
  try {
    const r = await api("POST", `/api/messages/${current.id}/${action}`, body);
    $("#message-result").textContent = `${action}: ${JSON.stringify(r)}`;
  } catch (e) { $("#message-result").textContent = `${action} failed: ${e.message}`; }
}
$("#resend").addEventListener("click", () => {
  const to = $("#resend-target").value;
  act("resend", to && current && to !== current.target ? { target: to } : undefined);
});
$("#suspend").addEventListener("click", () => act("suspend"));
$("#edit").addEventListener("click", () => {
  if (!current || current.body == null) return;
  $("#edit-body").value = current.body.replace(/\r/g, "\n");
  $("#editor").hidden = false;
  $("#edit-body").focus();
});
$("#edit-cancel").addEventListener("click", () => { $("#editor").hidden = true; });
$("#edit-send").addEventListener("click", async () => {
  // HL7 segments end in CR: the textarea's lines become segments again.
  const body = $("#edit-body").value.replace(/\r\n|\n/g, "\r").replace(/\r+$/, "") + "\r";
  const to = $("#resend-target").value;
  await act("resend", to && to !== current.target ? { body, target: to } : { body });
  $("#editor").hidden = true;
});

// ---- visual trace: a column per item, numbered arrows in time order ----------------------
$("#open-trace").addEventListener("click", () => current && openTrace(current.session_id));
async function openTrace(sessionId) {
  const s = await api("GET", `/api/sessions/${sessionId}`);
  const hops = [...s.messages].sort((a, b) => a.created_us - b.created_us || a.id - b.id);
  const lanes = [];
  for (const h of hops) for (const n of [h.source, h.target]) if (n && !lanes.includes(n)) lanes.push(n);
  const t0 = hops.length ? hops[0].created_us : 0;
  const W = 170, top = 40, step = 34;
  const rows = hops.length + hops.filter((h) => h.has_reply).length;
  const area = $("#trace-svg");
  area.setAttribute("width", String(Math.max(lanes.length * W, 300)));
  area.setAttribute("height", String(top + (rows + 1) * step));
  const defs = svg("defs");
  const marker = svg("marker", { id: "head", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z" }));
  defs.append(marker);
  area.replaceChildren(defs);
  const x = (n) => lanes.indexOf(n) * W + W / 2;
  lanes.forEach((n) => {
    const label = svg("text", { x: String(x(n)), y: "20", "text-anchor": "middle", "data-lane": n });
    label.textContent = n;
    area.append(label, svg("line", { class: "lane", x1: String(x(n)), y1: "28", x2: String(x(n)), y2: String(top + (rows + 1) * step) }));
  });
  let y = top, number = 0;
  const arrow = (from, to, text, cls, id) => {
    y += step;
    number += 1;
    const a = svg("line", { class: `arrow ${cls}`, x1: String(x(from)), y1: String(y), x2: String(x(to)), y2: String(y), "data-hop": String(id) });
    const t = svg("text", { x: String((x(from) + x(to)) / 2), y: String(y - 6), "text-anchor": "middle", class: cls });
    t.textContent = `${number}. ${text}`;
    area.append(a, t);
  };
  for (const h of hops) {
    const ms = ((h.created_us - t0) / 1000).toFixed(1);
    const took = h.processed_us ? ` (${((h.processed_us - h.created_us) / 1000).toFixed(1)} ms)` : "";
    const err = h.status === "Error" || h.status === "Aborted";
    arrow(h.source, h.target, `${h.doc_type || "message"} #${h.id} +${ms} ms${took}${err ? " " + h.status : ""}`, err ? "error" : "", h.id);
    if (h.has_reply) arrow(h.target, h.source, `reply to #${h.id}`, "reply", h.id);
  }
  $("#trace-id").textContent = String(sessionId);
  $("#trace-elapsed").textContent = `${s.count} hops, ${s.elapsed_ms} ms`;
  $("#trace").hidden = false;
  $("#trace").scrollIntoView({ block: "start" });
}

// ---- queues, dead letters, alerts --------------------------------------------------------
function queueRows(p) {
  $("#queues tbody").replaceChildren(...p.items.map((it) => el("tr", { "data-testid": `queue-${it.name}` },
    ...[it.name, it.state, it.queue_depth, it.in_flight, it.queue_in_journal, it.errors, it.retries].map((v) => el("td", { text: String(v) })))));
}
async function loadQueues() {
  if (production) queueRows(production);
  try {
    const d = await api("GET", "/api/dead-letters?limit=100");
    $("#dead tbody").replaceChildren(...(d.messages || []).map((m) => {
      const tr = el("tr", { tabindex: "0" }, ...[m.id, when(m.created_us), m.target, m.control_id, m.status, m.note || ""].map((v) => el("td", { text: String(v ?? "") })));
      tr.addEventListener("click", () => { show("messages"); openMessage(m.id); });
      return tr;
    }));
    const a = await api("GET", "/api/alerts");
    $("#alerts").replaceChildren(...(a.alerts || []).map((x) => el("li", { text: `${when(x.at_us)} ${x.item}: ${x.text}` })));
  } catch (e) { $("#alerts").replaceChildren(el("li", { text: `cannot load: ${e.message}` })); }
}

// ---- config versions: diff any two, roll back ----------------------------------------------
async function loadVersions() {
  const r = await api("GET", "/api/config/versions");
  const list = [...(r.versions || [])].reverse();
  $("#versions tbody").replaceChildren(...list.map((v, i) => el("tr", { "data-testid": `version-${v.version}` },
    el("td", {}, el("input", { type: "radio", name: "a", value: String(v.version), "aria-label": `A: version ${v.version}`, ...(i === 1 || (list.length === 1 && i === 0) ? { checked: "" } : {}) })),
    el("td", {}, el("input", { type: "radio", name: "b", value: String(v.version), "aria-label": `B: version ${v.version}`, ...(i === 0 ? { checked: "" } : {}) })),
    ...[v.version + (v.version === r.current ? " (running)" : ""), v.applied_at, v.source, v.sha256.slice(0, 12)].map((x) => el("td", { text: String(x) })))));
}
const picked = (n) => { const e = document.querySelector(`#versions input[name="${n}"]:checked`); return e ? Number(e.value) : null; };

// The lines of `a` and `b` as a unified list: [" ", line], ["-", line], ["+", line] (LCS).
function lineDiff(a, b) {
  const n = a.length, m = b.length;
  const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = a[i] === b[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) { out.push([" ", a[i]]); i++; j++; } else if (L[i + 1][j] >= L[i][j + 1]) out.push(["-", a[i++]]); else out.push(["+", b[j++]]);
  }
  while (i < n) out.push(["-", a[i++]]);
  while (j < m) out.push(["+", b[j++]]);
  return out;
}
$("#diff").addEventListener("click", async () => {
  const a = picked("a"), b = picked("b");
  if (a === null || b === null) return;
  try {
    const [ta, tb] = await Promise.all([api("GET", `/api/config/versions/${a}`), api("GET", `/api/config/versions/${b}`)]);
    const lines = lineDiff(ta.text.split("\n"), tb.text.split("\n"));
    const changed = lines.filter(([k]) => k !== " ").length;
    $("#diff-out").replaceChildren(...lines.map(([k, l]) => el("span", { class: k === "+" ? "add" : k === "-" ? "del" : "same", text: `${k} ${l}\n` })));
    $("#config-result").textContent = `version ${a} → ${b}: ${changed} line(s) differ`;
  } catch (e) { $("#config-result").textContent = `diff failed: ${e.message}`; }
});
$("#rollback").addEventListener("click", () => {
  const a = picked("a");
  if (a === null) return;
  $("#rollback-confirm").textContent = `Confirm: roll back to version ${a}`;
  $("#rollback-confirm").hidden = false;
  $("#rollback-confirm").focus();
});
$("#rollback-confirm").addEventListener("click", async () => {
  const a = picked("a");
  $("#rollback-confirm").hidden = true;
  try {
    const r = await api("POST", `/api/config/rollback/${a}`);
    $("#config-result").textContent = `roll back to ${a}: ${r.outcome}`;
  } catch (e) { $("#config-result").textContent = `roll back failed: ${e.message}`; }
  loadVersions();
});

// ---- packs --------------------------------------------------------------------------------
async function loadPacks() {
  try {
    const r = await api("GET", "/api/plugins");
    $("#packs tbody").replaceChildren(...(r.loaded || []).map((p) => el("tr", { "data-testid": `pack-${p.name}` },
      ...[p.name, p.version, p.vendor || "", `${p.abi_version}.${p.abi_minor}`, (p.sha256 || "").slice(0, 12), (p.used_by || []).join(", ")]
        .map((v) => el("td", { text: String(v) })))));
    $("#packs-staged").textContent = `staged: ${(r.staged || []).join(", ") || "none"}`;
    $("#pack-events").replaceChildren(...(r.recent_reloads || []).map((e) => el("li", { text: JSON.stringify(e) })));
  } catch (e) { $("#packs-staged").textContent = `cannot load packs: ${e.message}`; }
}
