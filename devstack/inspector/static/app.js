// The inspector page: one EventSource on /api/stream, state kept in a Map, rendered with
// plain DOM calls (textContent only, never innerHTML with data: hits are untrusted input).
"use strict";

const OUTCOME_LABELS = {
  delivered: "delivered", dry_run: "dry run", skipped: "skipped", rejected: "rejected",
  retrying: "retrying", dead_lettered: "dead-lettered", invalid_envelope: "invalid envelope",
  pending: "pending",
};

const state = {
  hits: new Map(),          // hit id -> hit (as the server sends it)
  vendors: [],
  outcomes: [],
  selected: null,
  open: new Set(),          // keys of <details> the user opened, kept across re-renders
  filters: { q: "", event: "", vendor: "", outcome: "" },
};

const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function fmtTime(seconds) {
  if (!seconds) return "—";
  const d = new Date(seconds * 1000);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function outcomeOf(event, vendor) {
  const v = event.vendors[vendor];
  return (v && v.outcome) || "pending";
}

function vendorsOf(event) {
  const names = [...state.vendors];
  for (const name of Object.keys(event.vendors)) if (!names.includes(name)) names.push(name);
  return names;
}

function badge(outcome, extra) {
  return h("span", { class: `badge outcome-${outcome}`, "data-outcome": outcome, ...extra }, OUTCOME_LABELS[outcome] || outcome);
}

// -- filters ----------------------------------------------------------------------------

function eventMatches(event) {
  const f = state.filters;
  if (f.event && event.event_name !== f.event) return false;
  if (f.q) {
    const q = f.q.toLowerCase();
    const ids = [event.event_id, event.client_id].filter(Boolean).map((s) => String(s).toLowerCase());
    if (!ids.some((s) => s.includes(q))) return false;
  }
  if (f.vendor && f.outcome) return outcomeOf(event, f.vendor) === f.outcome;
  if (f.vendor) return vendorsOf(event).includes(f.vendor);
  if (f.outcome) return vendorsOf(event).some((v) => outcomeOf(event, v) === f.outcome);
  return true;
}

function filtersActive() {
  const f = state.filters;
  return Boolean(f.q || f.event || f.vendor || f.outcome);
}

function hitMatches(hit) {
  if (!filtersActive()) return true;
  return hit.events.some(eventMatches);
}

// -- rendering --------------------------------------------------------------------------

let scheduled = false;
function render() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    renderFilters();
    renderList();
    renderDetail();
  });
}

function renderFilters() {
  const names = new Set();
  for (const hit of state.hits.values()) for (const e of hit.events) if (e.event_name) names.add(e.event_name);
  syncOptions($("filter-event"), [...names].sort(), "all events", (n) => n);
  const vendors = new Set(state.vendors);
  for (const hit of state.hits.values()) for (const e of hit.events) for (const v of Object.keys(e.vendors)) vendors.add(v);
  syncOptions($("filter-vendor"), [...vendors], "all vendors", (n) => n);
  syncOptions($("filter-outcome"), [...state.outcomes, "pending"], "any outcome", (n) => OUTCOME_LABELS[n] || n);
}

function syncOptions(select, values, allLabel, label) {
  const current = [...select.options].map((o) => o.value).slice(1);
  if (current.join("\u0000") === values.join("\u0000")) return;
  const chosen = select.value;
  select.replaceChildren(h("option", { value: "" }, allLabel), ...values.map((v) => h("option", { value: v }, label(v))));
  select.value = values.includes(chosen) ? chosen : "";
}

function sortedHits() {
  return [...state.hits.values()].sort((a, b) => (b.time || 0) - (a.time || 0));
}

function renderList() {
  const all = sortedHits();
  const shown = all.filter(hitMatches);
  const events = all.reduce((n, hit) => n + hit.events.length, 0);
  $("count-hits").textContent = all.filter((hit) => !hit.orphan).length;
  $("count-events").textContent = events;
  $("empty").hidden = all.length > 0;
  $("filter-summary").textContent = filtersActive() ? `${shown.length} of ${all.length} shown` : "";
  // Until the user picks one, the newest request is shown in the details.
  if (!state.hits.has(state.selected) && shown.length) state.selected = shown[0].id;
  $("hit-list").replaceChildren(...shown.map(hitRow));
}

function hitRow(hit) {
  const statusClass = hit.status >= 400 ? "bad" : hit.status >= 200 ? "good" : "neutral";
  const title = hit.orphan
    ? h("span", { class: "muted" }, "event without a logged request")
    : h("span", { class: "path" }, `${hit.method || ""} ${hit.path || ""}`);
  const events = hit.events.map((event) =>
    h("div", { class: "row-event" + (filtersActive() && !eventMatches(event) ? " dimmed" : ""), "data-event-id": event.event_id || "" },
      h("span", { class: "event-name" }, event.event_name || "(unnamed)"),
      h("span", { class: "row-vendors" },
        vendorsOf(event).map((vendor) => {
          const outcome = outcomeOf(event, vendor);
          return h("span", { class: "vendor-chip" },
            h("span", { class: "vendor-name" }, vendor),
            badge(outcome, { "data-vendor": vendor, title: `${vendor}: ${OUTCOME_LABELS[outcome] || outcome}` }));
        }),
      ),
    ),
  );
  const problems = [];
  if (hit.error) problems.push(h("span", { class: "badge outcome-rejected" }, hit.error));
  if (hit.rejected && hit.rejected.length) problems.push(h("span", { class: "badge outcome-retrying" }, `${hit.rejected.length} line(s) rejected`));
  return h("article", {
      class: "hit-row" + (hit.id === state.selected ? " selected" : "") + (hit.orphan ? " orphan" : ""),
      "data-hit-id": hit.id, tabindex: "0",
      onclick: () => { state.selected = hit.id; render(); },
      onkeydown: (e) => { if (e.key === "Enter") { state.selected = hit.id; render(); } },
    },
    h("div", { class: "row-head" },
      h("span", { class: "time" }, fmtTime(hit.time)),
      title,
      hit.debug ? h("span", { class: "badge debug" }, "debug") : null,
      problems,
      hit.status ? h("span", { class: `status ${statusClass}` }, hit.status) : null,
    ),
    events,
  );
}

function detailsBlock(key, summary, body, openByDefault) {
  const el = h("details", { "data-key": key }, h("summary", {}, summary), body);
  el.open = state.open.has(key) || (openByDefault && !state.open.has("closed:" + key));
  el.addEventListener("toggle", () => {
    if (el.open) { state.open.add(key); state.open.delete("closed:" + key); }
    else { state.open.delete(key); state.open.add("closed:" + key); }
  });
  return el;
}

function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

function kvTable(entries) {
  if (!entries.length) return h("p", { class: "muted" }, "none");
  return h("table", { class: "kv" }, h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))));
}

function queryPairs(query) {
  if (!query) return [];
  return [...new URLSearchParams(query).entries()];
}

function renderDetail() {
  const panel = $("detail");
  const hit = state.hits.get(state.selected);
  if (!hit) {
    panel.replaceChildren(h("div", { class: "placeholder muted" }, "Select a request to see its raw hit, its events and each vendor's request and response."));
    return;
  }
  // Keep the reader's place while the same request updates; start at the top of another.
  const scroll = panel.dataset.hitId === hit.id ? panel.scrollTop : 0;
  panel.dataset.hitId = hit.id;
  const head = h("div", { class: "detail-head" },
    h("h2", {}, hit.orphan ? "Event without a logged request" : `${hit.method} ${hit.path}`),
    h("div", { class: "meta" },
      hit.status ? h("span", {}, "status ", h("strong", {}, hit.status)) : null,
      hit.accepted !== null && hit.accepted !== undefined ? h("span", {}, "accepted ", h("strong", {}, hit.accepted)) : null,
      h("span", {}, "at ", h("strong", {}, fmtTime(hit.time))),
      hit.request_id ? h("span", {}, "request ", h("code", {}, hit.request_id)) : null,
      hit.debug ? h("span", { class: "badge debug" }, "debug") : null,
    ),
    hit.orphan ? h("p", { class: "muted" }, "Vendors reported this event, but collect's line for its request was not seen (sent before the inspector started, or replayed from the dead-letter topic).") : null,
  );
  const sections = [head];
  if (hit.error) sections.push(h("p", { class: "error" }, `Refused: ${hit.error}`));
  if (hit.rejected && hit.rejected.length) {
    sections.push(h("div", { class: "rejected" }, h("h3", {}, "Rejected lines"),
      h("table", { class: "grid" }, h("thead", {}, h("tr", {}, h("th", {}, "line"), h("th", {}, "reason"), h("th", {}, "detail"))),
        h("tbody", {}, hit.rejected.map((r) => h("tr", {}, h("td", {}, r.line), h("td", {}, r.reason), h("td", {}, r.detail || "")))))));
  }
  hit.events.forEach((event) => sections.push(eventCard(hit, event)));
  if (hit.raw) {
    const lines = (hit.raw.body || "").split("\n").filter((l) => l.trim());
    const body = hit.raw.json !== undefined
      ? [h("h4", {}, "Body (JSON)"), json(hit.raw.json)]
      : [h("h4", {}, `Body (${lines.length} line${lines.length === 1 ? "" : "s"})`),
         lines.length ? lines.map((line, i) => detailsBlock(`${hit.id}:raw:${i}`, `line ${i}`, kvTable(queryPairs(line)), lines.length <= 3)) : h("p", { class: "muted" }, "empty")];
    sections.push(h("section", { class: "card raw-card" }, detailsBlock(`${hit.id}:raw`, "Raw hit", h("div", {},
      h("h4", {}, "Query"), kvTable(queryPairs(hit.raw.query)), body,
    ), true)));
  } else if (!hit.orphan) {
    sections.push(h("p", { class: "muted small" }, "Raw hit not logged: run collect with LOG_HITS=1 (make run does)."));
  }
  panel.replaceChildren(...sections);
  panel.scrollTop = scroll;
}

function eventCard(hit, event) {
  const key = `${hit.id}:${event.event_id}`;
  const rows = vendorsOf(event).map((vendor) => {
    const v = event.vendors[vendor] || {};
    const outcome = outcomeOf(event, vendor);
    const attempts = v.attempts || [];
    return h("tr", { class: "vendor-row", "data-vendor": vendor },
      h("td", { class: "vendor-name" }, vendor),
      h("td", {}, badge(outcome), v.debug ? h("span", { class: "badge debug", title: "sent as a debug/test event (test_event_code, debug_mode)" }, "debug") : null),
      h("td", { class: "reason" }, v.reason || (outcome === "pending" ? "waiting for the vendor…" : ""),
        v.detail ? h("div", { class: "muted small" }, v.detail) : null,
        v.dead_letter ? h("div", { class: "muted small" }, `in the dead-letter topic (message ${v.dead_letter.message_id})`) : null),
      h("td", {}, v.http_status ?? ""),
      h("td", {}, attempts.length || ""),
    );
  });
  const exchanges = vendorsOf(event).filter((vendor) => event.vendors[vendor]).map((vendor) => {
    const v = event.vendors[vendor];
    const attempts = v.attempts || [];
    return detailsBlock(`${key}:${vendor}`, h("span", {}, h("strong", {}, vendor), " ", badge(outcomeOf(event, vendor)), " request, response and attempts"), h("div", { class: "exchange" },
      v.vendor_event ? h("h4", {}, "Event after this vendor's privacy rules") : null,
      v.vendor_event ? json(v.vendor_event) : null,
      h("h4", {}, "Request sent" + (v.outcome === "dry_run" ? " (dry run: not sent, no credentials)" : "")),
      v.request ? json(v.request) : h("p", { class: "muted small" }, "not logged (vendors log it on dry runs, for debug events, and on every attempt with LOG_REQUESTS=1)"),
      h("h4", {}, "Response"),
      v.response ? json(v.response) : h("p", { class: "muted small" }, v.outcome === "dry_run" ? "none: nothing was sent" : "not logged"),
      h("h4", {}, "Attempts"),
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["#", "time", "outcome", "reason", "HTTP", "latency"].map((t) => h("th", {}, t)))),
        h("tbody", {}, attempts.map((a) => h("tr", {},
          h("td", {}, a.attempt ?? ""), h("td", {}, fmtTime(a.time)), h("td", {}, badge(a.outcome || "pending")),
          h("td", {}, a.reason || ""), h("td", {}, a.http_status ?? ""), h("td", {}, a.latency_ms !== undefined ? `${a.latency_ms} ms` : ""))))),
    ), false);
  });
  const attributes = event.attributes ? Object.entries(event.attributes) : [];
  return h("section", { class: "event-card", "data-event-id": event.event_id || "" },
    h("div", { class: "event-head" },
      h("h3", {}, event.event_name || "(unnamed event)"),
      h("span", { class: "ids" },
        h("span", {}, "event_id ", h("code", { class: "event-id" }, event.event_id || "—")),
        h("span", {}, "client_id ", h("code", { class: "client-id" }, event.client_id || "—")),
        event.measurement_id ? h("span", {}, h("code", {}, event.measurement_id)) : null),
    ),
    h("table", { class: "grid vendors" },
      h("thead", {}, h("tr", {}, ["vendor", "outcome", "reason", "HTTP", "attempts"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows)),
    exchanges,
    event.event ? detailsBlock(`${key}:normalized`, "Normalized event", json(event.event), false) : null,
    detailsBlock(`${key}:attributes`, "Message attributes", kvTable(attributes), false),
  );
}

// -- data -------------------------------------------------------------------------------

function applySnapshot(snapshot) {
  state.vendors = snapshot.vendors || [];
  state.outcomes = snapshot.outcomes || [];
  if (snapshot.collect_url) {
    $("empty-curl").textContent = `curl -X POST '${snapshot.collect_url}/g/collect?v=2&tid=G-TEST&cid=1.2&en=page_view&dl=https%3A%2F%2Fexample.com%2F'`;
  }
  state.hits = new Map((snapshot.hits || []).map((hit) => [hit.id, hit]));
  render();
}

function setConnection(name, label) {
  const el = $("connection");
  el.className = `connection ${name}`;
  el.dataset.state = name;
  el.textContent = label;
}

function connect() {
  // The per-run token make run printed in the page's URL (devstack/inspector/server.py).
  const token = new URLSearchParams(location.search).get("token") || "";
  const stream = new EventSource("/api/stream?token=" + encodeURIComponent(token));
  stream.addEventListener("open", () => setConnection("live", "live"));
  stream.addEventListener("error", () => setConnection("connecting", "reconnecting…"));
  stream.addEventListener("snapshot", (e) => applySnapshot(JSON.parse(e.data)));
  stream.addEventListener("hit", (e) => {
    const hit = JSON.parse(e.data);
    state.hits.set(hit.id, hit);
    render();
  });
  stream.addEventListener("remove", (e) => {
    const { id } = JSON.parse(e.data);
    state.hits.delete(id);
    if (state.selected === id) state.selected = null;
    render();
  });
}

function bindFilters() {
  const bind = (id, key, event) => $(id).addEventListener(event, (e) => { state.filters[key] = e.target.value.trim(); render(); });
  bind("filter-search", "q", "input");
  bind("filter-event", "event", "change");
  bind("filter-vendor", "vendor", "change");
  bind("filter-outcome", "outcome", "change");
  $("filter-clear").addEventListener("click", () => {
    state.filters = { q: "", event: "", vendor: "", outcome: "" };
    for (const id of ["filter-search", "filter-event", "filter-vendor", "filter-outcome"]) $(id).value = "";
    render();
  });
}

bindFilters();
connect();
