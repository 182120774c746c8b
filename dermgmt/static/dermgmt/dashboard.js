// The operator dashboard: renders /dashboard.json and polls it (docs/dashboard.md).
"use strict";

const esc = (value) =>
  String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (value, digits = 1) =>
  value === null || value === undefined
    ? "—"
    : Number(value).toLocaleString("en-US", {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      });
let zone; // the fleet's time zone, from the JSON
const clock = (iso) =>
  new Date(iso).toLocaleTimeString("en-GB", {
    hour: "2-digit",
    minute: "2-digit",
    timeZone: zone,
  });
const age = (seconds) =>
  seconds === null || seconds === undefined
    ? "never"
    : seconds < 90
      ? `${Math.round(seconds)} s ago`
      : `${Math.round(seconds / 60)} min ago`;

function tile(label, value, id) {
  return `<div><dt>${esc(label)}</dt><dd id="${id}">${esc(value)}</dd></div>`;
}

function renderFleet(fleet) {
  const imbalance = fleet.imbalance_kw;
  document.getElementById("fleet").innerHTML = [
    tile("Nameplate", `${num(fleet.nameplate_kw)} kW`, "fleet-nameplate"),
    tile("Available", `${num(fleet.available_kw)} kW`, "fleet-available"),
    tile("Commanded", `${num(fleet.command_kw)} kW`, "fleet-command"),
    tile(
      imbalance > 0 ? "Deficit" : "Surplus",
      `${num(Math.abs(imbalance))} kW`,
      "fleet-imbalance",
    ),
    tile("Batteries discharging", num(fleet.discharging, 0), "fleet-discharging"),
    tile(
      "Substations stale / stopped",
      `${fleet.stale} / ${fleet.cycles_stopped}`,
      "fleet-stale",
    ),
  ].join("");
}

function sparkline(values, low, high, label) {
  const points = [];
  const span = high - low || 1;
  values.forEach((v, i) => {
    if (v === null) return;
    const x = (i / Math.max(values.length - 1, 1)) * 200;
    const y = 32 - ((Math.min(Math.max(v, low), high) - low) / span) * 30;
    points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  return `<svg class="spark" viewBox="0 0 200 34" preserveAspectRatio="none" role="img" aria-label="${esc(label)}"><polyline fill="none" stroke="#1f4e79" stroke-width="1.5" vector-effect="non-scaling-stroke" points="${points.join(" ")}"/></svg>`;
}

function substationState(site) {
  if (!site.reading) return ["bad", "NO DATA"];
  if (site.reading.stale) return ["bad", "STALE"];
  if (!site.cycle.running) return ["bad", "CYCLE STOPPED"];
  const df = Math.abs(site.reading.frequency_hz - site.nominal_frequency_hz);
  const [lowV, highV] = site.range_a_pu;
  if (site.reading.voltage_pu < lowV || site.reading.voltage_pu > highV)
    return ["warn", "VOLTAGE"];
  if (df > site.deadband_hz) return ["warn", "RESPONDING"];
  return ["ok", "NORMAL"];
}

function renderSubstation(site) {
  const [state, label] = substationState(site);
  const r = site.reading;
  const f0 = site.nominal_frequency_hz;
  const [lowV, highV] = site.range_a_pu;
  const c = site.cycle;
  return `<article class="card ${state}" data-code="${esc(site.code)}" aria-label="${esc(site.name)}">
    <h3><a href="${esc(site.admin_url)}">${esc(site.name)}</a><span class="badge ${state}">${label}</span></h3>
    <dl class="measures">
      <div><dt>Frequency</dt><dd data-field="frequency">${r ? num(r.frequency_hz, 3) : "—"} Hz</dd>
        <dd class="band">${f0} ± ${num(site.deadband_hz, 3)} Hz</dd></div>
      <div><dt>Voltage</dt><dd data-field="voltage">${r ? num(r.voltage_pu, 3) : "—"} pu</dd>
        <dd class="band">Range A ${lowV}–${highV}</dd></div>
      <div><dt>Load</dt><dd data-field="load">${r ? num(r.load_kw) : "—"} kW</dd></div>
    </dl>
    ${sparkline(site.sparkline.frequency_hz, f0 - 0.1, f0 + 0.1, `${site.name}: frequency, last hour`)}
    ${sparkline(site.sparkline.voltage_pu, 0.93, 1.07, `${site.name}: voltage, last hour`)}
    <p class="meta">Last hour: frequency (top), voltage (bottom) · reading ${r ? age(r.age_s) : "never"} · cycle ${age(c.age_s)}${
      c.command_kw !== undefined
        ? ` · commanding ${num(c.command_kw)} kW of ${num(c.available_kw)} kW available · ${site.discharging} discharging`
        : ""
    }</p>
  </article>`;
}

function rows(tbody, items, cells, empty, columns) {
  document.querySelector(`${tbody} tbody`).innerHTML = items.length
    ? items.map((item) => `<tr>${cells(item).join("")}</tr>`).join("")
    : `<tr><td colspan="${columns}" class="empty">${esc(empty)}</td></tr>`;
}

function renderLists(data) {
  rows(
    "#alerts",
    data.alerts,
    (a) => [
      `<td><a href="${esc(a.admin_url)}">${clock(a.raised_at)}</a></td>`,
      `<td>${esc(a.substation)}</td>`,
      `<td>${esc(a.kind)}</td>`,
      `<td>${esc(a.severity)}</td>`,
      `<td>${esc(a.status)}</td>`,
    ],
    "No active alerts.",
    5,
  );
  rows(
    "#tasks",
    data.tasks,
    (t) => [
      `<td><a href="${esc(t.admin_url)}">${clock(t.created_at)}</a></td>`,
      `<td>${esc(t.asset)}</td>`,
      `<td>${esc(t.error_code)}</td>`,
      `<td>${esc(t.priority)}</td>`,
      `<td>${esc(t.status)}${t.assignee ? ` (${esc(t.assignee)})` : ""}</td>`,
    ],
    "No open tasks.",
    5,
  );
  rows(
    "#runs",
    data.runs,
    (run) => [
      `<td><a href="${esc(run.admin_url)}">${clock(run.started_at)}</a></td>`,
      `<td>${esc(run.substation)}</td>`,
      `<td>${esc(run.outcome_label)}</td>`,
      `<td class="n">${num(run.command_kw)} kW</td>`,
    ],
    "No runs yet.",
    4,
  );
}

function renderForecast(forecast, now) {
  const n = forecast.valid_at.length;
  const figure = document.getElementById("forecast");
  if (!n) {
    figure.innerHTML = `<p class="empty">No forecast yet.</p>`;
    return;
  }
  const series = [
    ["solar_kw", "#b35900", "6 4", "Solar forecast"],
    ["wind_kw", "#2f6f9f", "6 4", "Wind forecast"],
    ["actual_solar_kw", "#b35900", "", "Solar measured"],
    ["actual_wind_kw", "#2f6f9f", "", "Wind measured"],
  ];
  const all = series.flatMap(([k]) => forecast[k]).filter((v) => v !== null);
  const top = Math.max(1, ...all) * 1.1;
  const x = (i) => 40 + (i / Math.max(n - 1, 1)) * 540;
  const y = (v) => 190 - (v / top) * 170;
  const lines = series
    .map(([key, color, dash]) => {
      const pts = forecast[key]
        .map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`))
        .filter(Boolean);
      return `<polyline fill="none" stroke="${color}" stroke-width="2" stroke-dasharray="${dash}" points="${pts.join(" ")}"/>`;
    })
    .join("");
  const nowIndex = forecast.valid_at.findIndex((t) => new Date(t) > new Date(now));
  const marker =
    nowIndex > 0
      ? `<line x1="${x(nowIndex - 0.5)}" x2="${x(nowIndex - 0.5)}" y1="15" y2="190" stroke="#4a5560" stroke-dasharray="2 3"/><text x="${x(nowIndex - 0.5) + 4}" y="26" font-size="11" fill="#4a5560">now</text>`
      : "";
  const ticks = forecast.valid_at
    .map((t, i) =>
      i % 4 === 0
        ? `<text x="${x(i)}" y="208" font-size="11" text-anchor="middle" fill="#4a5560">${clock(t)}</text>`
        : "",
    )
    .join("");
  figure.innerHTML = `<svg viewBox="0 0 600 215" role="img" aria-label="Solar and wind output, 4 hours back and ahead, in kW">
      <line x1="40" x2="580" y1="190" y2="190" stroke="#c9d1d9"/>
      <text x="4" y="24" font-size="11" fill="#4a5560">${num(top, 0)} kW</text>
      <text x="4" y="190" font-size="11" fill="#4a5560">0</text>
      ${marker}${lines}${ticks}</svg>
    <figcaption class="legend">Dashed: forecast in force · solid: measured · orange: solar · blue: wind.</figcaption>`;
}

function render(data) {
  zone = data.time_zone;
  renderFleet(data.fleet);
  document.getElementById("substations").innerHTML = data.substations
    .map(renderSubstation)
    .join("");
  renderLists(data);
  renderForecast(data.forecast, data.now);
  const link = document.getElementById("report-link");
  if (data.report) {
    link.href = data.report.pdf_url;
    link.textContent = `Stability report ${data.report.day} (PDF)`;
    link.hidden = false;
  }
  const problems = data.fleet.stale + data.fleet.cycles_stopped;
  const status = document.getElementById("status");
  status.textContent = problems
    ? `Attention: ${data.fleet.stale} substation(s) with stale data, ${data.fleet.cycles_stopped} with the cycle stopped · updated ${clock(data.now)}`
    : `All substations reporting, cycles running · updated ${clock(data.now)}`;
  status.textContent += ` (${zone})`;
  status.className = problems ? "status bad" : "status";
  document.body.dataset.updated = data.now;
}

async function refresh() {
  try {
    const response = await fetch(window.DASHBOARD.url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
  } catch (error) {
    const status = document.getElementById("status");
    status.textContent = `Cannot refresh (${error.message}): the figures shown may be out of date.`;
    status.className = "status bad";
  }
}

render(JSON.parse(document.getElementById("initial").textContent));
setInterval(refresh, window.DASHBOARD.refreshMs);
