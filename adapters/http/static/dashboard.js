// The ordergate dashboard: renders the /events snapshots; Halt and Resume call the control API
// with the token the user typed (kept in this tab's sessionStorage only). No library.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "ordergate.token";

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "—" : String(text);
  if (cls) td.className = cls;
  return td;
}

function fill(tbodyId, rows, columns) {
  const body = $(tbodyId);
  body.replaceChildren(...rows.map((row) => {
    const tr = document.createElement("tr");
    for (const col of columns) {
      const value = typeof col === "function" ? col(row) : row[col];
      if (Array.isArray(value)) tr.appendChild(cell(value[0], value[1]));
      else tr.appendChild(cell(value));
    }
    return tr;
  }));
}

function time(iso) {
  return iso ? iso.replace("T", " ").slice(0, 19) : "";
}

function drawCurve(points) {
  const svg = $("curve");
  const values = points.map((p) => Number(p[1]));
  svg.replaceChildren();
  if (values.length < 2) return;
  const lo = Math.min(...values), hi = Math.max(...values);
  const span = hi - lo || 1;
  const coords = values.map((v, i) => {
    const x = (i / (values.length - 1)) * 600;
    const y = 150 - ((v - lo) / span) * 140;
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", coords.join(" "));
  svg.appendChild(line);
}

function render(s) {
  $("mode").textContent = `${s.mode} · ${s.operator_id} · ${time(s.now)}`;
  const state = $("trading-state");
  state.textContent = s.trading.state;
  state.className = `state ${s.trading.state}`;
  $("trading-reason").textContent = s.trading.reason || "";
  $("kill-switch").textContent = s.trading.kill_switch ? "ENGAGED" : "off";
  $("connection").textContent = s.connection.state;
  fill("breakers", s.breakers, ["name", (b) => [b.state, b.state], "reason"]);
  fill("positions", s.positions, ["instrument", "quantity", "avg_cost", "mark", "unrealized_pnl"]);
  fill("orders", s.orders, ["client_order_id", "instrument", "side", "type", "quantity", "filled", "status"]);
  fill("fills", s.fills.slice(0, 15), [(f) => time(f.ts), "client_order_id", "instrument", "side", "quantity", "price"]);
  fill("decisions", s.decisions.slice(0, 15), [
    (d) => time(d.ts), "client_order_id", "instrument", "side", "quantity",
    (d) => d.approved
      ? ["approved", "approved"]
      : [`denied: ${d.denials.map((x) => x.code).join(", ")}`, "denied"],
  ]);
  $("parity-match").textContent = s.parity.match;
  $("parity-mismatch").textContent = s.parity.mismatch;
  fill("parity", s.parity.recent_mismatches.slice(0, 15), [
    "signal_id", (m) => m.differences.join("; "),
  ]);
  $("equity").textContent = s.pnl.equity;
  $("realized").textContent = s.pnl.realized;
  $("unrealized").textContent = s.pnl.unrealized;
  $("cash").textContent = s.pnl.cash;
  drawCurve(s.curve);
}

function connect() {
  const source = new EventSource("/events");
  source.addEventListener("snapshot", (event) => {
    $("live").textContent = "live";
    $("live").className = "badge live";
    render(JSON.parse(event.data));
  });
  source.onerror = () => {
    $("live").textContent = "reconnecting…";
    $("live").className = "badge";
  };
}

async function control(endpoint) {
  const token = $("token").value.trim();
  if (!token) {
    $("control-result").textContent = "enter the control API token first";
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  const body = { operator: $("operator").value.trim() || "dashboard", reason: `dashboard ${endpoint}` };
  const answer = await fetch(`/${endpoint}`, {
    method: "POST",
    headers: { "Authorization": `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await answer.text();
  $("control-result").textContent = answer.ok ? `${endpoint}: done` : `${endpoint}: ${answer.status} ${text}`;
}

$("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
$("halt").addEventListener("click", () => control("halt"));
$("resume").addEventListener("click", () => control("resume"));
connect();
