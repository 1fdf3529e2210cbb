// The dashboard: polls /dashboard/state and renders it. Every value is set as text
// (textContent), never as HTML: reasons come from a model and names from chain data.
"use strict";

const POLL_MS = 1000;
let filter = "";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function when(ts) {
  return ts ? new Date(ts * 1000).toLocaleTimeString() : "—";
}

function fill(tableId, rows, cells) {
  const body = document.querySelector(`#${tableId} tbody`);
  const fresh = document.createElement("tbody");
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const c of cells(row)) tr.appendChild(c);
    fresh.appendChild(tr);
  }
  body.replaceWith(fresh);
}

function flows(step) {
  if (!step.flows) return step.summary || "";
  try { return typeof step.flows === "string" ? step.flows : JSON.stringify(step.flows); } catch (e) { return ""; }
}

function render(state) {
  document.getElementById("instance").textContent = state.instance;
  document.getElementById("updated").textContent = "updated " + when(state.now);
  fill("agents", state.agents, (a) => [
    el("td", a.name, "mono"),
    el("td", a.paused ? "paused" : a.running ? "running" : (a.last_status || "idle"),
       a.running ? "running" : "status-" + (a.last_status || "")),
    el("td", a.schedule),
    el("td", when(a.next_run_at)),
    el("td", a.steps),
    el("td", a.failures),
    el("td", a.last_error || a.last_status || ""),
    el("td", a.here ? "this instance" : (a.holder || "—"), "mono"),
  ]);
  const select = document.getElementById("agent-filter");
  const names = state.agents.map((a) => a.name);
  if (select.options.length !== names.length + 1) {
    while (select.options.length > 1) select.remove(1);
    for (const n of names) select.add(new Option(n, n));
  }
  const steps = state.steps.filter((s) => !filter || s.agent === filter);
  fill("steps", steps, (s) => [
    el("td", when(s.created_at)),
    el("td", s.agent, "mono"),
    el("td", s.action || "—"),
    el("td", s.reason || s.error || ""),
    el("td", s.status, "status-" + s.status),
    el("td", s.rule ? `${s.rule}: ${s.verdict || ""}` : (s.verdict || "")),
    el("td", flows(s)),
    el("td", s.tx_hash || "", "mono"),
  ]);
  const rules = Object.entries(state.refusals).sort((a, b) => b[1] - a[1]);
  fill("refusals", rules, ([rule, n]) => [el("td", rule, "mono"), el("td", n)]);
  fill("rounds", state.oracle_rounds, (r) => [
    el("td", r.request_id),
    el("td", r.status, "status-" + r.status),
    el("td", r.prompt),
    el("td", r.answers.map((a) => `${a.node}: ${a.value} (model ${String(a.model_id || "?").slice(0, 10)})`).join("\n"), "mono"),
    el("td", r.result || ""),
  ]);
  document.body.dataset.steps = String(state.steps.length);
}

async function poll() {
  try {
    const r = await fetch("/dashboard/state", { cache: "no-store" });
    if (r.ok) render(await r.json());
    else document.getElementById("updated").textContent = `state unavailable (${r.status})`;
  } catch (e) {
    document.getElementById("updated").textContent = "service unreachable; retrying";
  }
  setTimeout(poll, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("agent-filter").addEventListener("change", (e) => { filter = e.target.value; });
  poll();
});
