// The instructor's live view: rows follow the room's server-sent events; no build step.
"use strict";

const state = { rows: [], filter: "", show: "all" };
window.roomLatencies = []; // seconds from a change in the room to its row on screen

function money(d) {
  if (d === 0) return "$0";
  if (d >= 0.01) return "$" + d.toFixed(2);
  if (d < 0.000001) return "<$0.000001";
  return "$" + d.toFixed(6).replace(/0+$/, "");
}

function visible(row) {
  const q = state.filter.trim().toLowerCase();
  if (q && !(row.name.toLowerCase().includes(q) || row.username.includes(q))) return false;
  if (state.show === "stuck") return row.stuck;
  if (state.show === "running") return row.running > 0;
  if (state.show === "failed") return row.failed > 0;
  return true;
}

function cell(tr, index, build) {
  let td = tr.children[index];
  const fresh = document.createElement("td");
  build(fresh);
  if (!td) { tr.appendChild(fresh); return; }
  if (td.innerHTML !== fresh.innerHTML || td.className !== fresh.className) tr.replaceChild(fresh, td);
}

function text(td, value, cls) {
  td.textContent = String(value);
  if (cls) td.className = cls;
}

function renderRow(tr, row) {
  tr.className = row.stuck ? "stuck" : "";
  tr.dataset.username = row.username;
  cell(tr, 0, (td) => {
    const th = document.createElement("span");
    th.textContent = row.name;
    td.appendChild(th);
    if (row.instructor) td.insertAdjacentHTML("beforeend", '<span class="badge you">instructor</span>');
    if (row.stuck) {
      const b = document.createElement("span");
      b.className = "badge stuck";
      b.textContent = "stuck: " + row.streak_422 + " refused inputs in a row";
      td.appendChild(b);
    }
  });
  cell(tr, 1, (td) => text(td, row.predictions, "num"));
  cell(tr, 2, (td) => text(td, row.running, "num"));
  cell(tr, 3, (td) => text(td, row.failed, "num"));
  cell(tr, 4, (td) => text(td, row.last_error || "", "error"));
  cell(tr, 5, (td) => {
    if (row.latest && row.latest_image) {
      const img = document.createElement("img");
      img.className = "thumb";
      img.src = "thumb/" + encodeURIComponent(row.latest);
      img.alt = "Latest image from " + row.name + " (" + row.latest_model + ")";
      img.loading = "lazy";
      td.appendChild(img);
    } else if (row.latest_text) {
      td.className = "text";
      td.textContent = row.latest_text;
    }
  });
  cell(tr, 6, (td) => text(td, "~" + money(row.dollars), "num"));
}

function render(snapshot) {
  state.rows = snapshot.rows;
  const body = document.getElementById("rows");
  const existing = new Map([...body.children].map((tr) => [tr.dataset.username, tr]));
  let before = null;
  const shown = state.rows.filter(visible);
  for (let i = shown.length - 1; i >= 0; i--) {
    const row = shown[i];
    let tr = existing.get(row.username);
    existing.delete(row.username);
    if (!tr) tr = document.createElement("tr");
    renderRow(tr, row);
    if (tr.nextSibling !== before || tr.parentNode !== body) body.insertBefore(tr, before);
    before = tr;
  }
  for (const tr of existing.values()) tr.remove();
  const total = (key) => state.rows.reduce((sum, r) => sum + r[key], 0);
  const stuck = state.rows.filter((r) => r.stuck).length;
  document.getElementById("summary").textContent =
    (state.rows.length - 1) + " attendees, " + total("predictions") + " predictions, " +
    total("running") + " running, " + total("failed") + " failed, " + stuck + " stuck; " +
    "would cost ~" + money(total("dollars")) + " on Replicate (estimate). Showing " +
    shown.length + ".";
}

function connect() {
  const badge = document.getElementById("connection");
  const source = new EventSource("events");
  source.addEventListener("snapshot", (event) => {
    const snapshot = JSON.parse(event.data);
    render(snapshot);
    window.roomLatencies.push(Date.now() / 1000 - snapshot.changed_at);
    badge.textContent = "live";
    badge.className = "live on";
  });
  source.onerror = () => {
    badge.textContent = "reconnecting…";
    badge.className = "live off";
  };
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("filter").addEventListener("input", (e) => {
    state.filter = e.target.value;
    render({ rows: state.rows });
  });
  document.getElementById("show").addEventListener("change", (e) => {
    state.show = e.target.value;
    render({ rows: state.rows });
  });
  document.getElementById("cancel-all").addEventListener("click", async () => {
    const notice = document.getElementById("notice");
    if (!window.confirm("Cancel every prediction running in the room?")) return;
    const response = await fetch("cancel", { method: "POST", headers: { "X-Room-Action": "cancel" } });
    const body = await response.json();
    notice.textContent = response.ok
      ? "Canceled " + body.canceled + " running prediction" + (body.canceled === 1 ? "" : "s") + "."
      : "Could not cancel: " + (body.detail || response.status);
  });
  connect();
});
