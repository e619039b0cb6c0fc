// crewtrace ui: the little the pages do in the browser. Every string that
// comes from a session record is put in the page with textContent, never
// as HTML; the Content-Security-Policy allows this file and no inline script.
"use strict";

// Session page: a click (or Enter) on a waterfall span shows its details.
function initWaterfall() {
  const wf = document.getElementById("waterfall");
  if (!wf) return;
  let current = null;
  function show(g) {
    const d = document.getElementById("span-" + g.dataset.span);
    if (!d) return;
    if (current) current.hidden = true;
    wf.querySelectorAll("g.span.selected").forEach((s) => s.classList.remove("selected"));
    g.classList.add("selected");
    d.hidden = false;
    current = d;
    const attrs = d.querySelector(".jaeger-attrs");
    if (attrs && !attrs.dataset.loaded) {
      attrs.dataset.loaded = "1";
      loadAttributes(attrs);
    }
  }
  wf.querySelectorAll("g.span").forEach((g) => {
    g.addEventListener("click", () => show(g));
    g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); show(g); } });
  });
}

// Fills a span's detail with all its attributes and events, which the viewer
// reads from Jaeger on the page's behalf.
async function loadAttributes(box) {
  const note = box.querySelector(".note");
  function text(v) { return typeof v === "string" ? v : JSON.stringify(v); }
  function list(kvs) {
    const dl = document.createElement("dl");
    kvs.forEach((kv) => {
      const dt = document.createElement("dt");
      dt.textContent = kv.key;
      const dd = document.createElement("dd");
      dd.textContent = text(kv.value);
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    return dl;
  }
  try {
    const res = await fetch("/api/traces/" + encodeURIComponent(box.dataset.trace) + "/spans/" + encodeURIComponent(box.dataset.span),
      { credentials: "same-origin", headers: { Accept: "application/json" } });
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || res.statusText);
    note.remove();
    box.appendChild(list(data.attributes));
    data.events.forEach((ev) => {
      const h = document.createElement("h5");
      h.textContent = "event at " + ev.time;
      box.appendChild(h);
      box.appendChild(list(ev.attributes));
    });
    box.classList.add("loaded");
  } catch (e) {
    note.textContent = "Jaeger did not answer: " + e.message;
    box.classList.add("failed");
  }
}

// Sessions page: poll the API with the page's filters and put sessions that
// landed since the page loaded at the top of the table.
function initPolling() {
  const table = document.getElementById("sessions");
  if (!table || !table.dataset.poll) return;
  const url = table.dataset.poll;
  const every = Math.max(1000, parseInt(table.dataset.pollMs, 10) || 5000);
  const body = table.tBodies[0];
  const seen = new Set();
  body.querySelectorAll("tr.session").forEach((tr) => seen.add(tr.dataset.id));
  let added = 0;

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  function fmtDuration(ms) {
    if (ms < 1) return Math.round(ms * 1000) + " µs";
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(2) + " s";
    if (ms < 3600000) return (ms / 60000).toFixed(1) + " min";
    return (ms / 3600000).toFixed(1) + " h";
  }
  function cut(s, n) { return s.length <= n ? s : s.slice(0, n - 1) + "…"; }
  function row(s) {
    const tr = document.createElement("tr");
    tr.className = "session new";
    tr.dataset.id = s.session_id;
    const name = cell(tr, "", "name");
    const a = document.createElement("a");
    a.href = "/sessions/" + encodeURIComponent(s.session_id);
    a.textContent = cut(s.name, 80);
    a.title = s.name;
    name.appendChild(a);
    const st = cell(tr, "", "state");
    const badge = document.createElement("span");
    badge.className = "st st-" + String(s.end_state).toLowerCase().replace(/[^a-z]/g, "");
    badge.textContent = s.end_state;
    st.appendChild(badge);
    if (s.end_reason) {
      const r = document.createElement("span");
      r.className = "reason";
      r.textContent = " " + cut(s.end_reason, 80);
      st.appendChild(r);
    }
    cell(tr, String(s.start).replace("T", " ").replace(/\.\d+/, "").replace("Z", ""));
    cell(tr, fmtDuration(s.duration_ms), "num");
    cell(tr, String(s.agents), "num");
    cell(tr, String(s.llm_calls), "num");
    cell(tr, String(s.tool_calls), "num");
    cell(tr, String(s.tokens.total), "num");
    cell(tr, String(s.errors), s.errors ? "num has-errors" : "num");
    cell(tr, s.service);
    const tags = cell(tr, "", "tags");
    (s.tags || []).forEach((t) => {
      const sp = document.createElement("span");
      sp.className = "tag";
      sp.textContent = cut(t, 80);
      tags.appendChild(sp);
      tags.appendChild(document.createTextNode(" "));
    });
    return tr;
  }
  async function poll() {
    try {
      const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!res.ok) return;
      const data = await res.json();
      const fresh = data.sessions.filter((s) => !seen.has(s.session_id));
      if (fresh.length === 0) return;
      const empty = body.querySelector("tr.empty");
      if (empty) empty.remove();
      // The API answers newest first: insert oldest first, each at the top.
      for (let i = fresh.length - 1; i >= 0; i--) {
        seen.add(fresh[i].session_id);
        body.insertBefore(row(fresh[i]), body.firstChild);
      }
      added += fresh.length;
      const note = document.getElementById("new-note");
      note.textContent = added + " new session" + (added === 1 ? "" : "s") + " since the page loaded";
      note.hidden = false;
    } catch (e) {
      // The viewer may be restarting: try again at the next tick.
    } finally {
      setTimeout(poll, every);
    }
  }
  setTimeout(poll, every);
}

document.addEventListener("DOMContentLoaded", () => {
  initWaterfall();
  initPolling();
});
